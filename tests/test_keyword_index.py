"""The keyword index on hand-built chunks: BM25 as bm25s scores it, filters, incremental sync."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np

from qa.keyword_index import KeywordIndex, quantized
from qa.retrieve import TermStatistics
from qa.terms import keywords

CHUNKS = {
    "a.txt": [("a-0", "The yuan closed at 7.2382 per dollar on Friday."),
              ("a-1", "Xiaomi picked CATL and BYD as battery suppliers.")],
    "b.txt": [("b-0", "Xiaomi will start mass production in December."),
              ("b-1", "The harbour handled 300,000 ships, the harbour master said.")],
}


def build(tmp_path) -> KeywordIndex:
    index = KeywordIndex(tmp_path, "qa-test")
    for source, chunks in CHUNKS.items():
        index.replace_file(source, f"hash-{source}", chunks)
    return index


def bm25(term_chunks: dict[str, str], query: str, chunk_id: str) -> float:
    """bm25s's Lucene BM25 (k1=1.5, b=0.75), written out for four chunks."""
    documents = {key: keywords(text) for key, text in term_chunks.items()}
    average = sum(map(len, documents.values())) / len(documents)
    score = 0.0
    for term in keywords(query):
        df = sum(term in words for words in documents.values())
        tf = documents[chunk_id].count(term)
        idf = math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
        score += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(documents[chunk_id]) / average))
    return score


def test_scores_are_lucene_bm25_and_figures_stay_whole(tmp_path):
    index = build(tmp_path)
    every = {chunk_id: text for chunks in CHUNKS.values() for chunk_id, text in chunks}
    hits = index.search("When did the yuan reach 7.2382?", 3)
    assert hits[0][0] == "a-0"
    assert math.isclose(hits[0][1], bm25(every, "When did the yuan reach 7.2382?", "a-0"), rel_tol=1e-9)
    harbour = index.search("How many ships did the harbour handle?", 3)
    assert harbour[0][0] == "b-1" and math.isclose(harbour[0][1], bm25(every, "harbour ships handle", "b-1"))
    assert index.search("the of and", 3) == []  # stopwords only: nothing to look up


def test_a_source_filter_scores_only_those_files(tmp_path):
    index = build(tmp_path)
    assert {chunk_id for chunk_id, _ in index.search("Xiaomi", 5)} == {"a-1", "b-0"}
    assert [chunk_id for chunk_id, _ in index.search("Xiaomi", 5, sources=["b.txt"])] == ["b-0"]
    assert index.search("Xiaomi", 5, sources=[]) == []


def test_a_write_by_another_connection_or_this_one_is_scored_at_the_next_search(tmp_path):
    """Chunk lengths are held in memory between searches; another process's ingest must still count."""
    index = build(tmp_path)
    assert index.search("Xiaomi", 5)
    every = {chunk_id: text for chunks in CHUNKS.values() for chunk_id, text in chunks}
    long_chunk = "Xiaomi Xiaomi said the harbour " + "word " * 40
    KeywordIndex(tmp_path, "qa-test").replace_file("c.txt", "hash-c", [("c-0", long_chunk)])  # another process
    hits = dict(index.search("Xiaomi", 5))
    assert hits.keys() == {"a-1", "b-0", "c-0"}
    for chunk_id, score in hits.items():
        assert math.isclose(score, bm25({**every, "c-0": long_chunk}, "Xiaomi", chunk_id), rel_tol=1e-9)
    index.remove_file("c.txt")
    index.replace_file("d.txt", "hash-d", [("d-0", "Xiaomi harbour")])  # this connection, a reused rowid
    hits = dict(index.search("Xiaomi", 5))
    assert hits.keys() == {"a-1", "b-0", "d-0"}
    assert math.isclose(hits["d-0"], bm25({**every, "d-0": "Xiaomi harbour"}, "Xiaomi", "d-0"), rel_tol=1e-9)


def test_equal_scores_rank_the_chunk_written_first_first(tmp_path):
    index = KeywordIndex(tmp_path, "qa-test")
    index.replace_file("z.txt", "hash-z", [("z-0", "battery suppliers")])
    index.replace_file("a.txt", "hash-a", [("a-0", "battery suppliers"), ("a-1", "no match here")])
    assert [chunk_id for chunk_id, _ in index.search("battery", 5)] == ["z-0", "a-0"]
    assert [chunk_id for chunk_id, _ in index.search("battery", 1)] == ["z-0"]


def test_idf_matches_the_in_memory_statistics(tmp_path):
    from llama_index.core.schema import TextNode

    index = build(tmp_path)
    nodes = [TextNode(id_=chunk_id, text=text) for chunks in CHUNKS.values() for chunk_id, text in chunks]
    in_memory, stored = TermStatistics(nodes), index.statistics()
    for term in ("xiaomi", "harbour", "7.2382", "absent"):
        assert math.isclose(stored.idf(term), in_memory.idf(term))


def test_sync_rereads_only_what_changed_and_drops_what_went(tmp_path):
    index = build(tmp_path)
    read: list[str] = []

    def reader(source, content_hash):
        read.append(source)
        return [("c-0", "Copper prices rose 4 percent.")]

    changed = index.sync({"a.txt": "hash-a.txt", "c.txt": "hash-c.txt"}, reader)
    assert read == ["c.txt"] and changed == 2  # b.txt dropped, c.txt read, a.txt untouched
    assert index.files() == {"a.txt": "hash-a.txt", "c.txt": "hash-c.txt"}
    assert index.chunk_count() == 3 and index.search("harbour", 3) == []
    assert index.search("copper", 3)[0][0] == "c-0"
    again = KeywordIndex(tmp_path, "qa-test")  # another process opening the same file
    assert again.chunk_count() == 3 and again.sync(index.files(), reader) == 0


def test_sentence_vectors_are_kept_as_int8_within_a_cosine_of_0_002(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = KeywordIndex(tmp_path, "k")
    index.put_sentences([("c1", "a.txt", [(0, 5)] * 50, vectors), ("empty", "a.txt", [], np.zeros((0, 384)))])
    spans, stored = index.sentences(["c1"])["c1"]
    assert spans == [(0, 5)] * 50 and stored.dtype == np.float32
    assert np.abs(stored @ vectors.T - vectors @ vectors.T).max() < 0.002
    assert index.sentences(["empty"])["empty"][0] == []
    scales, codes = quantized(vectors)
    assert len(scales) + len(codes) == 50 * (4 + 384)  # float16 took 50 * 768


def test_float16_sentence_vectors_of_an_older_index_are_converted_once(tmp_path):
    vectors = np.eye(3, 8, dtype=np.float32)
    with sqlite3.connect(tmp_path / "k.sqlite3") as db:  # how the cache was written before int8
        db.execute("CREATE TABLE sentences(chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, spans TEXT NOT NULL, "
                   "vectors BLOB NOT NULL)")
        db.execute("INSERT INTO sentences VALUES ('c1', 'a.txt', ?, ?)",
                   (json.dumps([[0, 1], [2, 3], [4, 5]]), vectors.astype(np.float16).tobytes()))
    index = KeywordIndex(tmp_path, "k")
    spans, stored = index.sentences(["c1"])["c1"]
    assert spans == [(0, 1), (2, 3), (4, 5)] and np.allclose(stored, vectors, atol=0.01)
    with sqlite3.connect(tmp_path / "k.sqlite3") as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sentences'").fetchone()
    index.close()
    assert KeywordIndex(tmp_path, "k").sentences(["c1"])["c1"][0] == spans  # opened again: nothing left to convert
