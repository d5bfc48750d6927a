"""An index past Chroma's 32,766-record limit on one read ("too many SQL variables"): ingest, re-ingest,
list, ask and delete all keep working. Real Chroma; a word-hash embedder keeps 33k chunks quick."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cheap_embedding import HashEmbedding

from qa.config import Settings
from qa.engine import Engine

pytestmark = pytest.mark.slow
FILES, SENTENCES = 335, 100  # one sentence per 32-token chunk: 33,500 chunks


def sentence(file: int, line: int) -> str:
    return (f"Ledger {file} entry {line} records the vessel Aurora{file}x{line} arriving at the northern harbour "
            f"with {line + 3} tonnes of grain and {file % 17} crates of tools.")


def test_more_chunks_than_chroma_reads_at_once(tmp_path: Path):
    corpus = tmp_path / "ledgers"
    corpus.mkdir()
    for file in range(FILES):
        (corpus / f"ledger_{file:03d}.txt").write_text("\n".join(sentence(file, line) for line in range(SENTENCES)))
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_size=32, chunk_overlap=0)
    engine = Engine(settings, embedder=HashEmbedding())
    report = engine.ingest()
    assert len(report.added) == FILES and report.chunks_embedded > 32_766
    assert engine.store.chunk_count() == report.chunks_embedded == engine.retriever.chunk_count
    files = engine.indexed_files()
    assert len(files) == FILES and sum(f.chunks for f in files.values()) == report.chunks_embedded

    started = time.monotonic()
    again = Engine(settings, embedder=HashEmbedding())  # a new process would open it the same way
    assert again.ingest().chunks_embedded == 0
    assert time.monotonic() - started < 120
    (corpus / "ledger_new.txt").write_text(sentence(999, 1))
    report = again.ingest()
    assert report.added == ["ledgers/ledger_new.txt"] and report.chunks_embedded == 1
    answer = again.ask("Which vessel is Aurora999x1?")
    assert any(p.source == "ledgers/ledger_new.txt" for p in answer.passages)
    again.delete_document("ledgers/ledger_000.txt")
    assert "ledgers/ledger_000.txt" not in again.indexed_files()
    assert len(again.store.all_chunks()) == again.store.chunk_count() == again.retriever.chunk_count
