"""What the index check (qa/integrity.py) adds to opening an index; prints numbers, asserts nothing.

    python benchmarks/integrity.py [--chunks 20000] [--rounds 5]

Builds a qa-shaped Chroma index in a temporary folder with random 384-dimension vectors (chunks
of four per file, recorded as qa's writer records them), then times, warm: the whole check, its
SQLite part (header, PRAGMA quick_check, record ids), opening the store with chromadb and
counting its chunks, and listing the indexed files as a start does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode

from qa.config import Settings
from qa.integrity import check_index, read_segments
from qa.store import ChromaStore, index_signature

DIMENSION = 384


def build(folder: Path, chunks: int) -> Settings:
    settings = Settings(index_dir=folder, corpus_dir=folder / "corpus")
    store = ChromaStore(settings, index_signature(settings, "bench", DIMENSION))
    writer = store.writer()
    rng = np.random.default_rng(0)
    step = 2000
    for first in range(0, chunks, step):
        names = [f"c{n:07d}" for n in range(first, min(first + step, chunks))]
        nodes = [TextNode(id_=name, text="word " * 30, start_char_idx=0, end_char_idx=150,
                          metadata={"source": f"file{int(name[1:]) // 4}.txt", "content_hash": "h"}) for name in names]
        writer.add_chunks(nodes, rng.normal(size=(len(names), DIMENSION)).astype(np.float32))
        writer.finish_files(sorted({(node.metadata["source"], "h", 4) for node in nodes}))
    writer.commit()
    store.close()
    return settings


def timed(function, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        start = time.perf_counter()
        settings = build(folder, args.chunks)
        print(f"built {args.chunks} chunks in {time.perf_counter() - start:.1f} s")
        sqlite_mb = (folder / "chroma.sqlite3").stat().st_size / 1e6
        graph_mb = sum(path.stat().st_size for path in folder.glob("*-*/*")) / 1e6
        print(f"chroma.sqlite3 {sqlite_mb:.1f} MB, vector graph files {graph_mb:.1f} MB")
        check = timed(lambda: check_index(folder, retry_after=0), args.rounds)
        sqlite_part = timed(lambda: read_segments(folder / "chroma.sqlite3"), args.rounds)
        signature = index_signature(settings, "bench", DIMENSION)

        def open_store() -> None:
            store = ChromaStore(settings, signature)
            store.chunk_count()
            store.close()

        opened = timed(open_store, args.rounds)
        store = ChromaStore(settings, signature)
        listed = timed(store.indexed_files, 1)  # the file list, read at start and on the files page
        store.close()
        print(f"check_index: {check:.0f} ms (SQLite header, quick_check and ids: {sqlite_part:.0f} ms; "
              f"graph files: {check - sqlite_part:.0f} ms)")
        print(f"opening the store and counting, check included: {opened:.0f} ms")
        print(f"listing the indexed files (metadata only): {listed:.0f} ms")


if __name__ == "__main__":
    main()
