"""A damaged index is a clear message naming `qa ingest --rebuild`, never a traceback or a crash,
and `qa ingest --rebuild` recovers from it, also under an engine that keeps running.

The index has over 1,000 chunks: below that Chroma has not saved its vector graph to disk yet,
and the graph's files are what crashed chromadb (SIGSEGV, exit code 139) when damaged.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.config import Settings
from qa.embedding import MiniLMEmbedding
from qa.engine import Engine
from qa.schema import IndexCorrupt

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUESTION = "Who is the lighthouse keeper of Port Quillon?"
ANSWER = "Miriam Holtzfeld"
REBUILD = "qa ingest --rebuild"


def write_corpus(folder: Path, villages: int) -> None:
    """Generated village reports (about four 32-token chunks each) and one file that answers QUESTION."""
    folder.mkdir(parents=True)
    rng = random.Random(7)
    for number in range(villages):
        town = f"{rng.choice(['Alder', 'Birch', 'Cedar', 'Dunmore', 'Elmstead', 'Fernhill'])} {number}"
        (folder / f"village_{number:04d}.txt").write_text(
            f"The village of {town} held its annual market on day {rng.randint(1, 28)} of the harvest month. "
            f"Farmers there grew {rng.choice(['barley', 'rye', 'oats', 'flax'])} on {rng.randint(10, 900)} hectares. "
            f"The mill of {town} ground {rng.randint(100, 9000)} sacks of flour that season. "
            f"A new bridge over the river was finished after {rng.randint(2, 30)} months of work. "
            f"The school of {town} counted {rng.randint(20, 400)} pupils and {rng.randint(2, 20)} teachers. "
            f"Rainfall in {town} reached {rng.randint(300, 1500)} millimetres over the year.\n")
    (folder / "lighthouse.txt").write_text(
        f"The lighthouse keeper of Port Quillon is {ANSWER}. She has kept the light burning since 1987.\n")


def settings(root: Path, corpus: str = "corpus") -> Settings:
    return Settings(corpus_dir=root / corpus, index_dir=root / "index", chunk_size=32, chunk_overlap=0)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedding) -> Path:
    root = tmp_path_factory.mktemp("corruption")
    write_corpus(root / "corpus", 290)
    write_corpus(root / "small", 3)  # a quick rebuild: the point is recovering, not re-embedding
    engine = Engine(settings(root), embedder=embedder)
    engine.ingest()
    assert engine.retriever.chunk_count >= 1000
    engine.store.close()
    return root


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built index and its corpora."""
    for name in ("corpus", "small", "index"):
        shutil.copytree(built / name, tmp_path / name)
    return tmp_path


def run_qa(root: Path, *args: str, corpus: str = "corpus") -> subprocess.CompletedProcess:
    env = {**os.environ, "QA_CORPUS_DIR": str(root / corpus), "QA_INDEX_DIR": str(root / "index"),
           "QA_CHUNK_SIZE": "32", "QA_CHUNK_OVERLAP": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=root, env=env, input="", capture_output=True,
                          text=True, timeout=600)


def graph_folder(root: Path) -> Path:
    """The chunks' vector graph: the largest of the saved ones (the files manifest and state have their own)."""
    graphs = [path for path in (root / "index").iterdir() if (path / "data_level0.bin").exists()]
    return max(graphs, key=lambda path: (path / "data_level0.bin").stat().st_size)


def garble(path: Path, start: int = 0, share: float = 0.5) -> None:
    rng = random.Random(3)
    data = bytearray(path.read_bytes())
    for offset in range(start, len(data)):
        if rng.random() < share:
            data[offset] = rng.randrange(256)
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated sqlite": lambda root: os.truncate(root / "index" / "chroma.sqlite3",
                                                 (root / "index" / "chroma.sqlite3").stat().st_size // 2),
    "garbled sqlite": lambda root: garble(root / "index" / "chroma.sqlite3", start=4096, share=0.05),
    "garbled data_level0.bin": lambda root: garble(graph_folder(root) / "data_level0.bin"),
    "zeroed data_level0.bin": lambda root: (graph_folder(root) / "data_level0.bin").write_bytes(
        bytes((graph_folder(root) / "data_level0.bin").stat().st_size)),
    "deleted segment folder": lambda root: shutil.rmtree(graph_folder(root)),
}


def assert_clear_message(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])  # 139 was the crash
    assert "Traceback" not in result.stderr
    assert REBUILD in result.stderr and "damaged" in result.stderr


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_says_to_rebuild_and_the_rebuild_recovers(root: Path, damage: str) -> None:
    DAMAGE[damage](root)
    assert_clear_message(run_qa(root, "ask", QUESTION))
    if damage == "garbled data_level0.bin":  # the one that crashed every command, the chat's start too
        assert_clear_message(run_qa(root, "ingest"))
        assert_clear_message(run_qa(root, "chat"))
        rebuilt = run_qa(root, "ingest", "--rebuild")  # the whole corpus, as a user would
    else:
        rebuilt = run_qa(root, "ingest", "--rebuild", corpus="small")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "Traceback" not in rebuilt.stderr
    assert "Moved the damaged index to" in rebuilt.stderr
    (moved,) = (root / "index").glob("broken-*")
    assert (moved / "chroma.sqlite3").exists()
    answer = run_qa(root, "ask", QUESTION)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert ANSWER in answer.stdout


def test_an_index_deleted_under_a_running_engine_recovers_after_another_process_rebuilds(
        root: Path, embedder: MiniLMEmbedding) -> None:
    engine = Engine(settings(root, "small"), embedder=embedder)
    assert ANSWER in engine.ask(QUESTION).text
    shutil.rmtree(root / "index")
    with pytest.raises(IndexCorrupt, match=f"deleted or moved while qa was running.*{REBUILD}"):
        engine.ask(QUESTION)
    (root / "small" / "windmill.txt").write_text("The windmill of Port Quillon was repaired by Tobias Wrenfield.\n")
    rebuilt = run_qa(root, "ingest", "--rebuild", corpus="small")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    # The same engine, no restart: it reads the new index, with the file only the rebuild saw.
    assert "Tobias Wrenfield" in engine.ask("Who repaired the windmill of Port Quillon?").text
    assert ANSWER in engine.ask(QUESTION).text
    assert engine.retriever.chunk_count < 100  # the small corpus, not the deleted index still in memory


def test_a_rebuild_in_the_running_engine_moves_a_damaged_index_aside(root: Path, embedder: MiniLMEmbedding) -> None:
    engine = Engine(settings(root, "small"), embedder=embedder)
    DAMAGE["garbled data_level0.bin"](root)
    engine.ingest(rebuild=True)  # the chat's Re-index, starting over
    assert len(list((root / "index").glob("broken-*"))) == 1
    assert ANSWER in engine.ask(QUESTION).text
    assert engine.retriever.chunk_count < 100
    engine.store.close()
    fresh = run_qa(root, "ask", QUESTION)  # and a new process opens it cleanly
    assert fresh.returncode == 0 and ANSWER in fresh.stdout


def test_damage_under_a_running_engine_is_named_and_another_process_rebuild_recovers(
        root: Path, embedder: MiniLMEmbedding) -> None:
    engine = Engine(settings(root, "small"), embedder=embedder)
    assert ANSWER in engine.ask(QUESTION).text
    DAMAGE["garbled sqlite"](root)  # in place: the engine's open file
    with pytest.raises(IndexCorrupt, match=f"damaged.*{REBUILD}"):
        engine.ask(QUESTION)
    rebuilt = run_qa(root, "ingest", "--rebuild", corpus="small")
    assert rebuilt.returncode == 0 and "Moved the damaged index to" in rebuilt.stderr, rebuilt.stderr[-2000:]
    assert ANSWER in engine.ask(QUESTION).text
    assert engine.retriever.chunk_count < 100
