"""Several processes on one index (a tmp folder, or a real `chroma run` on 127.0.0.1): a running engine
sees another process's ingest, rebuild and delete at its next question, and keeps answering while
another process ingests; two ingests never interleave; an index of an older layout says to rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import pytest
from test_server_mode import start_chroma, stop

from qa.ingest import IngestBusy, ingest_lock
from qa.schema import IndexMismatch, QAError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = "# Lighthouse\n\nThe Skerry lighthouse was built in 1844 by the engineer Alan Stevenson.\n"


def qa_command(settings, *args: str, wait: bool = True):
    """`qa ...` in another process, with the engine's settings."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_CORPUS_DIR": str(settings.corpus_dir),
           "QA_INDEX_DIR": str(settings.index_dir)}
    if settings.chroma_host:
        env |= {"QA_CHROMA_HOST": settings.chroma_host, "QA_CHROMA_PORT": str(settings.chroma_port)}
    command = [sys.executable, "-m", "qa", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(params=["folder", "server"])
def shared(request, tmp_path, corpus, make_engine):
    """An engine that has indexed the seeds, on a folder or on a Chroma server."""
    if request.param == "folder":
        yield make_engine()
        return
    server = start_chroma(tmp_path)
    try:
        yield make_engine(chroma_host="127.0.0.1", chroma_port=server.port)
    finally:
        stop(server.process)


def test_another_process_ingest_rebuild_and_delete_are_seen_at_the_next_question(shared, corpus):
    engine = shared
    engine.ingest()
    assert "CATL" in engine.ask("Which battery suppliers did Xiaomi pick?").text
    (corpus / "lighthouse.md").write_text(LIGHTHOUSE)
    done = qa_command(engine.settings, "ingest")
    assert done.returncode == 0, done.stdout + done.stderr
    answer = engine.ask("When was the Skerry lighthouse built?")
    assert "1844" in answer.text and answer.citations[0].source == "seeds/lighthouse.md"
    assert "seeds/lighthouse.md" in engine.indexed_files()

    build = engine.store.build
    done = qa_command(engine.settings, "ingest", "--rebuild")
    assert done.returncode == 0, done.stdout + done.stderr
    answer = engine.ask("Which battery suppliers did Xiaomi pick?")  # the old build's collections are gone
    assert "CATL" in answer.text and engine.store.build != build
    assert "1844" in engine.ask("When was the Skerry lighthouse built?").text

    (corpus / "lighthouse.md").unlink()
    done = qa_command(engine.settings, "ingest")
    assert done.returncode == 0, done.stdout + done.stderr
    answer = engine.ask("When was the Skerry lighthouse built?")
    assert all(c.source != "seeds/lighthouse.md" for c in answer.citations)
    assert "seeds/lighthouse.md" not in engine.indexed_files()


def test_answers_stay_right_while_another_process_ingests(shared, corpus):
    engine = shared
    engine.ingest()
    for number in range(40):  # enough new text to keep the other process writing for a while
        (corpus / f"extra_{number:02d}.txt").write_text(
            " ".join(f"Report {number} line {line}: the harbour of Port {number} handled {line * 7} ships."
                     for line in range(40)))
    other = qa_command(engine.settings, "ingest", wait=False)
    asked = 0
    while other.poll() is None or asked < 3:
        answer = engine.ask("Which battery suppliers did Xiaomi pick?")
        assert "CATL" in answer.text, answer.text
        asked += 1
    assert other.wait() == 0, other.stdout.read()
    assert "seeds/extra_39.txt" in engine.indexed_files() and asked >= 3


def test_a_second_ingest_at_once_is_refused_with_a_message(corpus, make_engine):
    engine = make_engine()
    engine.ingest()
    with ingest_lock(engine.store):
        with pytest.raises(IngestBusy, match="Another ingestion"):
            engine.ingest()
        done = qa_command(engine.settings, "ingest")
        assert done.returncode == 2 and "Another ingestion" in done.stdout + done.stderr
    assert engine.ingest().chunks_embedded == 0  # free again once the first is done


def test_ingesting_another_folder_does_not_drop_the_corpus(tmp_path, corpus, make_engine):
    engine = make_engine()
    engine.ingest()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "lighthouse.md").write_text(LIGHTHOUSE)
    with pytest.raises(QAError, match="--rebuild"):
        engine.ingest(other)
    assert len(engine.indexed_files()) == 5
    engine.ingest(other, rebuild=True)  # said explicitly: the index now holds that folder
    assert set(engine.indexed_files()) == {"notes/lighthouse.md"}


def test_an_index_of_the_older_layout_says_to_rebuild(corpus, make_engine, tmp_path):
    client = chromadb.PersistentClient(path=str(tmp_path / "index"),
                                       settings=chromadb.config.Settings(anonymized_telemetry=False))
    client.create_collection("qa-chunks", metadata={"layout_version": 3}, embedding_function=None)
    client.close()
    with pytest.raises(IndexMismatch, match="qa ingest --rebuild"):
        make_engine()
    engine = make_engine(rebuilding=True)
    engine.ingest(rebuild=True)
    assert "CATL" in make_engine().ask("Which battery suppliers did Xiaomi pick?").text


def test_a_chat_started_on_an_empty_index_sees_the_first_ingest(corpus, make_engine):
    engine = make_engine()
    with pytest.raises(QAError, match="empty"):
        engine.ask("Which battery suppliers did Xiaomi pick?")
    started = time.monotonic()
    done = qa_command(engine.settings, "ingest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CATL" in engine.ask("Which battery suppliers did Xiaomi pick?").text
    assert time.monotonic() - started < 300
