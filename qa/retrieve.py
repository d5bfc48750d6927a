"""Hybrid retrieval: embedding similarity and BM25 keyword search, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds exact names and figures ("Xiaohongshu", "7.2382")
that small embedding models blur. llama-index's QueryFusionRetriever fuses too, but it
replaces each node's score with the fusion score; the answerer needs the dense cosine,
which is comparable across questions, so this retriever keeps both.

Before each question the retriever asks the store whether another process changed the index
(one small read); if so it reopens the live build and brings its keyword index in line.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Collection, Sequence

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from qa.embedding import MiniLMEmbedding
from qa.keyword_index import KeywordIndex
from qa.keyword_index import TermStatistics as IndexTermStatistics
from qa.schema import Passage
from qa.sentences import sentence_spans
from qa.store import ChromaStore
from qa.store_records import SentenceRecord, local_folder
from qa.terms import TOKEN_PATTERN, keywords, stemmer

__all__ = ["TOKEN_PATTERN", "HybridRetriever", "TermStatistics", "keywords", "passage_of"]
_stemmer = stemmer  # the name qa.training uses
RRF_K = 60  # the constant of Cormack et al. (2009); rank 1 and rank 5 stay within 7% of each other


def passage_of(hit: NodeWithScore) -> Passage:
    """The typed result for a retrieved chunk."""
    node = hit.node
    return Passage(source=node.metadata["source"], start=node.start_char_idx or 0, end=node.end_char_idx or 0,
                   text=node.get_content(), score=round(hit.score or 0.0, 4), chunk_id=node.node_id)


def keyword_index_for(store: ChromaStore, build: str) -> KeywordIndex:
    """The keyword index of a build, beside the store (or in this machine's cache of a server)."""
    return KeywordIndex(local_folder(store.settings) / "keywords", f"{store.prefix}-{build}")


class TermStatistics:
    """Inverse document frequencies over the chunks, for weighting question words."""

    def __init__(self, chunks: list[TextNode]) -> None:
        self.documents = max(len(chunks), 1)
        self.frequency = Counter(term for chunk in chunks for term in set(keywords(chunk.text)))

    def idf(self, term: str) -> float:
        return math.log(1 + (self.documents - self.frequency.get(term, 0) + 0.5) / (self.frequency.get(term, 0) + 0.5))


class HybridRetriever(BaseRetriever):
    """Top chunks for a question; node.score is the fused score, metadata keeps the parts."""

    def __init__(self, store: ChromaStore, embedder: MiniLMEmbedding, dense_top_k: int, keyword_top_k: int,
                 top_k: int) -> None:
        super().__init__()
        self.store = store
        self.embedder = embedder
        self.dense_top_k = dense_top_k
        self.keyword_top_k = keyword_top_k
        self.top_k = top_k
        self._refresh_lock = threading.Lock()
        self._keywords: KeywordIndex | None = None
        self.refresh()

    def refresh(self, sync: bool = False) -> None:
        """Follow the store: reopen after another process's ingest, rebuild or delete, and bring the
        keyword index in line (`sync`: whether or not the store says it changed)."""
        with self._refresh_lock:
            changed = self.store.refresh() or sync
            build = self.store.build
            if build is None:
                self._keywords = None
                return
            index = self._keywords
            if index is None or index.path.stem != f"{self.store.prefix}-{build}":
                index, changed = keyword_index_for(self.store, build), True
                _forget_other_builds(index, self.store.prefix, self.store.building)
            if changed or self._keywords is None:
                manifest = {source: record.content_hash for source, record in self.store.indexed_files().items()}
                index.sync(manifest, lambda source, content_hash: [
                    (node.id_, node.text) for node in self.store.chunks_of(source, content_hash)])
            self._keywords = index

    @property
    def keyword_index(self) -> KeywordIndex | None:
        self.refresh()
        return self._keywords

    @property
    def chunk_count(self) -> int:
        index = self.keyword_index
        return 0 if index is None else index.chunk_count()

    @property
    def term_statistics(self) -> IndexTermStatistics | TermStatistics:
        index = self._keywords
        return TermStatistics([]) if index is None else index.statistics()

    def sentences_of(self, hits: Sequence[NodeWithScore]) -> list[SentenceRecord]:
        """The sentences of the retrieved chunks with their vectors, in document order.

        Vectors come from the keyword index's cache (written while ingesting); a chunk not cached
        there (ingested by another machine, or resumed after a crash) gets one pass of the model
        over its text, pooled as ingestion does, and is cached for next time.
        """
        nodes = list({hit.node.node_id: hit.node for hit in hits}.values())
        index = self._keywords
        cached = index.sentences([node.node_id for node in nodes]) if index is not None else {}
        missing = [node for node in nodes if node.node_id not in cached]
        if missing:
            texts = [node.get_content() for node in missing]
            spans = [sentence_spans(text) for text in texts]
            _, vectors = self.embedder.embed_chunks(texts, spans)
            fresh = {node.node_id: ([(span.start, span.end) for span in node_spans], node_vectors)
                     for node, node_spans, node_vectors in zip(missing, spans, vectors)}
            cached.update(fresh)
            if index is not None:
                index.put_sentences((node.node_id, node.metadata["source"], *fresh[node.node_id]) for node in missing)
        records = []
        for node in nodes:
            offset, text = node.start_char_idx or 0, node.get_content()
            spans, vectors = cached[node.node_id]
            records += [SentenceRecord(node.node_id, node.metadata["source"], offset + start, offset + end,
                                       text[start:end], vector) for (start, end), vector in zip(spans, vectors)]
        return sorted(records, key=lambda record: (record.source, record.start, record.chunk_id))

    def restricted_to(self, sources: Collection[str] | None) -> BaseRetriever:
        """This retriever, or a view of it that only finds chunks of `sources` (names as in the store)."""
        return self if sources is None else _SourceFilter(self, frozenset(sources))

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.search(query_bundle)

    def search(self, query_bundle: QueryBundle, sources: frozenset[str] | None = None) -> list[NodeWithScore]:
        """The fused top chunks, from all sources or from `sources` only."""
        index = self.keyword_index
        if index is None or index.chunk_count() == 0:
            return []
        if query_bundle.embedding is None:
            query_bundle.embedding = self.embedder.get_query_embedding(query_bundle.query_str)
        dense = self.store.nearest_chunks(query_bundle.embedding, self.dense_top_k, sources)
        sparse = index.search(query_bundle.query_str, self.keyword_top_k, sources)
        known = {node.id_ for node, _ in dense}
        fetched = self.store.chunks_by_id([chunk_id for chunk_id, _ in sparse if chunk_id not in known])
        fused: dict[str, float] = {}
        nodes: dict[str, TextNode] = {}
        scores: dict[str, dict[str, float]] = {}
        for rank, (node, similarity) in enumerate(dense):
            fused[node.id_] = fused.get(node.id_, 0.0) + 1.0 / (RRF_K + rank + 1)
            nodes[node.id_] = node
            scores.setdefault(node.id_, {})["dense_score"] = similarity
        for rank, (chunk_id, score) in enumerate(sparse):
            if chunk_id not in nodes and chunk_id not in fetched:
                continue  # removed from the store since the keyword index was read
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            nodes.setdefault(chunk_id, fetched.get(chunk_id))  # type: ignore[arg-type]
            scores.setdefault(chunk_id, {})["keyword_score"] = score
        ranked = sorted(fused, key=lambda node_id: -fused[node_id])[: self.top_k]
        return [
            NodeWithScore(
                node=nodes[node_id].model_copy(update={"metadata": {**nodes[node_id].metadata, **scores[node_id]}}),
                score=fused[node_id],
            )
            for node_id in ranked
        ]


def _forget_other_builds(index: KeywordIndex, prefix: str, building: str | None) -> None:
    """Delete keyword files of builds a rebuild replaced (a process still reading one keeps it open),
    not the one a rebuild is writing."""
    build_file = re.compile(rf"{re.escape(prefix)}-([0-9a-f]{{12}})\.sqlite3(-wal|-shm)?")
    for path in index.path.parent.iterdir():
        found = build_file.fullmatch(path.name)
        if found and not path.name.startswith(index.path.name) and found.group(1) != building:
            path.unlink(missing_ok=True)


class _SourceFilter(BaseRetriever):
    """A HybridRetriever limited to some source files."""

    def __init__(self, retriever: HybridRetriever, sources: frozenset[str]) -> None:
        super().__init__()
        self.retriever = retriever
        self.sources = sources

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.retriever.search(query_bundle, self.sources)
