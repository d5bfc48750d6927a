"""Client/server mode against a real `chroma run` on 127.0.0.1, and a clear error when it is down."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.schema import StoreUnavailable

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process, self.port = process, port


def start_chroma(tmp_path: Path, port: int | None = None) -> Server:
    """`chroma run` on 127.0.0.1 (`port`: again on the port, and so the data folder, of a stopped one)."""
    port = port or free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = tmp_path / f"chroma-{port}.log"
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / f"server-data-{port}"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={"ANONYMIZED_TELEMETRY": "False", "PATH": ""},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return Server(process, port)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    stop(process)
    pytest.fail(f"chroma run did not start: {log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def chroma_server(tmp_path: Path):
    server = start_chroma(tmp_path)
    yield server.port
    stop(server.process)


def test_ingest_and_ask_through_a_chroma_server(corpus, make_engine, chroma_server, tmp_path):
    engine = make_engine(chroma_host="127.0.0.1", chroma_port=chroma_server)
    report = engine.ingest()
    assert len(report.added) == 5
    # The server holds the index; this machine keeps only a cache (the keyword index) and the ingest lock.
    assert not (tmp_path / "index" / "chroma.sqlite3").exists()
    assert {p.name for p in (tmp_path / "index").iterdir()} == {"server-cache"}
    answer = engine.ask("Which battery suppliers did Xiaomi pick?")
    assert "CATL" in answer.text
    # A second client (another process would do the same) sees the same index, incrementally.
    again = make_engine(chroma_host="127.0.0.1", chroma_port=chroma_server).ingest()
    assert again.chunks_embedded == 0 and len(again.unchanged) == 5


def test_a_server_that_stops_mid_session_gives_a_clear_error(corpus, make_engine, tmp_path):
    server = start_chroma(tmp_path)
    try:
        engine = make_engine(chroma_host="127.0.0.1", chroma_port=server.port)
        engine.ingest()
    finally:
        stop(server.process)
    with pytest.raises(StoreUnavailable, match=f"Chroma server at 127.0.0.1:{server.port} failed"):
        engine.ask("Which battery suppliers did Xiaomi pick?")


def test_a_server_restarted_mid_session_serves_everything_again_without_a_new_engine(corpus, make_engine, tmp_path):
    server = start_chroma(tmp_path)
    try:
        engine = make_engine(chroma_host="127.0.0.1", chroma_port=server.port)
        engine.ingest()
        before = {source: record.chunks for source, record in engine.indexed_files().items()}
        first = engine.ask("Which battery suppliers did Xiaomi pick?")
    finally:
        stop(server.process)
    with pytest.raises(StoreUnavailable, match="failed"):
        engine.ask("Which battery suppliers did Xiaomi pick?")
    server = start_chroma(tmp_path, server.port)
    try:
        again = engine.ask("Which battery suppliers did Xiaomi pick?")
        assert again.text == first.text and not again.refused
        assert {source: record.chunks for source, record in engine.indexed_files().items()} == before
        report = engine.ingest()  # nothing lost, nothing written twice
        assert not report.added and not report.updated and not report.removed
        assert engine.store.chunk_count() == sum(before.values())
    finally:
        stop(server.process)


def test_a_server_that_is_down_gives_a_clear_error(corpus, make_engine):
    port = free_port()
    with pytest.raises(StoreUnavailable, match=f"Chroma server at 127.0.0.1:{port}"):
        make_engine(chroma_host="127.0.0.1", chroma_port=port)
