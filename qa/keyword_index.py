"""The keyword index: BM25 over chunks in SQLite, on disk beside the vectors, one file per build.

It is derived from the store, never the other way round: it records which version of each
source it holds, and `sync` brings it in line with the store's manifest by re-reading only
the sources that changed. An ingest updates it as it writes; another process (or a client of
a shared Chroma server, which keeps its own copy) syncs when the store's generation moves.
Opening it reads nothing; a question reads the postings of its own words.

It also caches each chunk's sentence vectors (written while ingesting, or computed the first
time a question retrieves the chunk), read only for retrieved chunks. They are int8 with one
scale per vector: half of float16's bytes, a cosine off by about 0.001, and on API pages a
dozen short sentences per chunk made these vectors the bulk of the index.

Postings are plain tables rather than FTS5: FTS5's bm25() cannot be tuned from Python and
floors the idf of words in more than half the chunks at zero, which on a small corpus drops
the question's main name. Scores are bm25s's Lucene BM25 (k1=1.5, b=0.75), what llama-index's
BM25Retriever computed before, over qa's own words (`keywords`: stemmed, stopwords out,
figures like `7.2382` whole).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

import numpy as np

from qa.terms import keywords

K1, B = 1.5, 0.75
_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS files(source TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
                                  length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE TABLE IF NOT EXISTS terms(id INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL, df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings(term INTEGER NOT NULL, chunk INTEGER NOT NULL, tf INTEGER NOT NULL,
                                    PRIMARY KEY (term, chunk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_by_chunk ON postings(chunk);
CREATE TABLE IF NOT EXISTS totals(id INTEGER PRIMARY KEY CHECK (id = 0), chunks INTEGER NOT NULL,
                                  length INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS sentence_vectors(chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, spans TEXT NOT NULL,
                                            scales BLOB NOT NULL, codes BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS sentence_vectors_by_source ON sentence_vectors(source);
"""

# (chunk id, chunk text) of one version of one source, read from the store when syncing.
ChunkReader = Callable[[str, str], Iterable[tuple[str, str]]]


class KeywordIndex:
    """BM25 keyword search over one build's chunks; safe across threads and processes (SQLite WAL)."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{name}.sqlite3"
        self._local = threading.local()
        with self._connection() as db:
            db.executescript(_SCHEMA)
        self._convert_float16_sentences()

    def _convert_float16_sentences(self) -> None:
        """Indexes written before int8 keep float16 vectors in `sentences`: converted once, in place."""
        with self._transaction() as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sentences'").fetchone():
                return
            for chunk_id, source, spans, vectors in db.execute("SELECT * FROM sentences").fetchall():
                count = len(json.loads(spans))
                rows = np.frombuffer(vectors, dtype=np.float16).reshape(count, -1) if count else np.zeros((0, 0))
                db.execute("INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?, ?, ?)",
                           (chunk_id, source, spans, *quantized(rows)))
            db.execute("DROP TABLE sentences")

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writes ------------------------------------------------------------------------------
    def replace_file(self, source: str, content_hash: str, chunks: Iterable[tuple[str, str]]) -> None:
        """Make `source` hold exactly these chunks of version `content_hash`, in one transaction."""
        with self._transaction() as db:
            self._delete(db, source)
            postings: list[tuple[str, int, int]] = []
            frequencies: Counter[str] = Counter()
            total = total_length = 0
            for chunk_id, text in chunks:
                counts = Counter(keywords(text))
                length = sum(counts.values())
                rowid = db.execute("INSERT INTO chunks(chunk_id, source, length) VALUES (?, ?, ?)",
                                   (chunk_id, source, length)).lastrowid
                postings += [(term, rowid, tf) for term, tf in counts.items()]
                frequencies.update(counts.keys())
                total += 1
                total_length += length
            db.execute("UPDATE totals SET length = length + ?", (total_length,))
            db.executemany("INSERT INTO terms(term, df) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
                           frequencies.items())
            db.executemany("INSERT INTO postings VALUES ((SELECT id FROM terms WHERE term = ?), ?, ?)", postings)
            db.execute("UPDATE totals SET chunks = chunks + ?", (total,))
            # Sentence vectors written while embedding stay if their chunk is still the file's.
            db.execute("DELETE FROM sentence_vectors WHERE source = ? AND chunk_id NOT IN "
                       "(SELECT chunk_id FROM chunks WHERE source = ?)", (source, source))
            db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (source, content_hash))

    def remove_file(self, source: str) -> None:
        with self._transaction() as db:
            self._delete(db, source)
            db.execute("DELETE FROM sentence_vectors WHERE source = ?", (source,))

    def put_sentences(self, rows: Iterable[tuple[str, str, list[tuple[int, int]], np.ndarray]]) -> None:
        """Cache sentence vectors: (chunk id, source, spans relative to the chunk, vectors)."""
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?, ?, ?)", [
                (chunk_id, source, json.dumps(spans), *quantized(vectors)) for chunk_id, source, spans, vectors in rows])

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """Cached spans and vectors of these chunks (the ones not cached are missing)."""
        if not chunk_ids:
            return {}
        rows = self._connection().execute(
            f"SELECT chunk_id, spans, scales, codes FROM sentence_vectors WHERE chunk_id IN "
            f"({', '.join('?' * len(chunk_ids))})", list(chunk_ids)).fetchall()
        return {chunk_id: ([tuple(span) for span in json.loads(spans)], dequantized(scales, codes))
                for chunk_id, spans, scales, codes in rows}

    def _transaction(self):
        return _Transaction(self._connection())

    @staticmethod
    def _delete(db: sqlite3.Connection, source: str) -> None:
        rows = db.execute("SELECT rowid, length FROM chunks WHERE source = ?", (source,)).fetchall()
        for rowid, _ in rows:
            db.execute("UPDATE terms SET df = df - 1 WHERE id IN (SELECT term FROM postings WHERE chunk = ?)", (rowid,))
            db.execute("DELETE FROM postings WHERE chunk = ?", (rowid,))
        db.execute("UPDATE totals SET chunks = chunks - ?, length = length - ?",
                   (len(rows), sum(length for _, length in rows)))
        db.execute("DELETE FROM chunks WHERE source = ?", (source,))
        db.execute("DELETE FROM files WHERE source = ?", (source,))

    def sync(self, manifest: dict[str, str], read_chunks: ChunkReader) -> int:
        """Bring the index in line with the store's manifest (source -> complete content hash);
        returns how many sources were re-read."""
        held = self.files()
        stale = [source for source in held if source not in manifest]
        for source in stale:
            self.remove_file(source)
        changed = [source for source, content_hash in manifest.items() if held.get(source) != content_hash]
        for source in changed:
            self.replace_file(source, manifest[source], read_chunks(source, manifest[source]))
        return len(stale) + len(changed)

    # -- reads -------------------------------------------------------------------------------
    def files(self) -> dict[str, str]:
        return dict(self._connection().execute("SELECT source, content_hash FROM files").fetchall())

    def chunk_count(self) -> int:
        return int(self._connection().execute("SELECT chunks FROM totals").fetchone()[0])

    def search(self, query: str, k: int, sources: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The k chunks with the best BM25 score for the question's words: (chunk id, score > 0).

        Each word's postings are read with its index and scored in numpy against the chunk lengths
        held in memory: at 100k chunks a common word has ~20k postings, and summing them through an
        SQL join took 11 ms a question (p95 34 ms); this takes 7 ms (p95 23 ms), same rankings.
        """
        weights = Counter(keywords(query))
        if not weights or (sources is not None and not sources):
            return []
        db = self._connection()
        db.execute("BEGIN")  # one snapshot: another process's ingest may commit between these reads
        try:
            return self._search(db, weights, k, sources)
        finally:
            db.execute("COMMIT")

    def _search(self, db: sqlite3.Connection, weights: Counter[str], k: int,
                sources: Collection[str] | None) -> list[tuple[str, float]]:
        chunks, length = db.execute("SELECT chunks, length FROM totals").fetchone()
        if not chunks:
            return []
        found = db.execute(f"SELECT id, term, df FROM terms WHERE term IN ({', '.join('?' * len(weights))}) AND df > 0",
                           list(weights)).fetchall()
        if not found:
            return []
        norms = self._length_norms(db, max(length / chunks, 1e-9))
        scores = np.zeros(len(norms))
        for term_id, term, df in found:
            postings = np.array(db.execute("SELECT chunk, tf FROM postings WHERE term = ?", (term_id,)).fetchall(),
                                dtype=np.int64).reshape(-1, 2)
            rows, tf = postings[:, 0], postings[:, 1].astype(np.float64)
            scores[rows] += _idf(df, chunks) * weights[term] * tf / (tf + norms[rows])
        if sources is not None:
            allowed = [row for (row,) in db.execute(
                f"SELECT rowid FROM chunks WHERE source IN ({', '.join('?' * len(sources))})", list(sources))]
            kept = np.zeros(len(scores), dtype=bool)
            kept[allowed] = True
            scores[~kept] = 0.0
        hits = np.flatnonzero(scores > 0)
        best = hits[np.lexsort((hits, -scores[hits]))][:k]  # ties: the chunk written first
        ids = dict(db.execute(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({', '.join('?' * len(best))})",
                              [int(row) for row in best]).fetchall())
        return [(ids[int(row)], float(scores[row])) for row in best]

    def _length_norms(self, db: sqlite3.Connection, average_length: float) -> np.ndarray:
        """BM25's length normalisation per chunk by rowid, k1·(1 − b + b·length/average), read and computed
        again once the file changed: `PRAGMA data_version` moves when another connection (thread or
        process) commits, `total_changes` when this one writes. Both belong to this thread's connection."""
        version = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes)
        cached = getattr(self._local, "norms", None)
        if cached is None or cached[0] != version:
            rows = np.array(db.execute("SELECT rowid, length FROM chunks").fetchall(), dtype=np.int64).reshape(-1, 2)
            lengths = np.zeros(int(rows[:, 0].max(initial=0)) + 1)
            lengths[rows[:, 0]] = rows[:, 1]
            cached = self._local.norms = (version, K1 * (1 - B + B * lengths / average_length))
        return cached[1]

    def statistics(self) -> TermStatistics:
        return TermStatistics(self)

    def document_frequency(self, term: str) -> int:
        row = self._connection().execute("SELECT df FROM terms WHERE term = ?", (term,)).fetchone()
        return int(row[0]) if row else 0


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def quantized(vectors: np.ndarray) -> tuple[bytes, bytes]:
    """Each row as int8 codes times one float32 scale (its largest magnitude over 127)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if not len(vectors):
        return b"", b""
    scales = np.abs(vectors).max(axis=1, initial=0.0) / 127
    safe = np.where(scales > 0, scales, 1.0)[:, None]
    return scales.astype("<f4").tobytes(), np.rint(vectors / safe).astype(np.int8).tobytes()


def dequantized(scales: bytes, codes: bytes) -> np.ndarray:
    factors = np.frombuffer(scales, dtype="<f4")
    if not len(factors):
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(codes, dtype=np.int8).reshape(len(factors), -1).astype(np.float32) * factors[:, None]


def _idf(df: int, documents: int) -> float:
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


class TermStatistics:
    """Inverse document frequencies over the indexed chunks, looked up per word when asked."""

    def __init__(self, index: KeywordIndex) -> None:
        self.index = index
        self.documents = max(index.chunk_count(), 1)
        self._idf: dict[str, float] = {}

    def idf(self, term: str) -> float:
        if term not in self._idf:
            self._idf[term] = _idf(self.index.document_frequency(term), self.documents)
        return self._idf[term]
