"""Hybrid retrieval: embedding similarity and BM25 keyword search, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds exact names and figures ("Xiaohongshu", "7.2382")
that small embedding models blur. llama-index's QueryFusionRetriever fuses too, but it
replaces each node's score with the fusion score; the answerer needs the dense cosine,
which is comparable across questions, so this retriever keeps both.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import Stemmer
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from qa.embedding import MiniLMEmbedding
from qa.schema import Passage
from qa.store import ChromaStore

logging.getLogger("bm25s").setLevel(logging.WARNING)

# Figures stay one token ("7.2382", "300,000"); other words need two characters, as in bm25s.
TOKEN_PATTERN = r"(?u)\d+(?:[.,]\d+)+|\b\w\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)
RRF_K = 60  # the constant of Cormack et al. (2009); rank 1 and rank 5 stay within 7% of each other


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # nltk's English list as llama-index-core bundles it, read directly: going through nltk's
    # data loader costs more than a second of every cold start.
    import llama_index.core

    bundled = Path(llama_index.core.__file__).parent / "_static" / "nltk_cache" / "corpora" / "stopwords" / "english"
    return frozenset(bundled.read_text(encoding="utf-8").split())


def keywords(text: str) -> list[str]:
    """Lower-cased, stemmed content words, as BM25 sees them."""
    words = [word for word in _TOKEN.findall(text.lower()) if word not in _stopwords()]
    return _stemmer().stemWords(words)


def passage_of(hit: NodeWithScore) -> Passage:
    """The typed result for a retrieved chunk."""
    node = hit.node
    return Passage(source=node.metadata["source"], start=node.start_char_idx or 0, end=node.end_char_idx or 0,
                   text=node.get_content(), score=round(hit.score or 0.0, 4), chunk_id=node.node_id)


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
        self.refresh()

    def refresh(self) -> None:
        """Reload the keyword index after the store changed; questions asked meanwhile see the old one whole."""
        chunks = self.store.all_chunks()
        self._keyword_index = (len(chunks), TermStatistics(chunks), self._bm25(chunks), chunks)

    def _bm25(self, chunks: list[TextNode]) -> BM25Retriever | None:
        if not chunks:
            return None
        return BM25Retriever.from_defaults(nodes=chunks, similarity_top_k=min(self.keyword_top_k, len(chunks)),
                                           stemmer=_stemmer(), language="en", token_pattern=TOKEN_PATTERN)

    @property
    def chunk_count(self) -> int:
        return self._keyword_index[0]

    @property
    def term_statistics(self) -> TermStatistics:
        return self._keyword_index[1]

    def retrieve(self, str_or_query_bundle: str | QueryBundle,
                 sources: Sequence[str] | None = None) -> list[NodeWithScore]:
        """Top chunks for a question; with `sources`, only chunks of those files."""
        if sources is None:
            return super().retrieve(str_or_query_bundle)
        query_bundle = (QueryBundle(str_or_query_bundle) if isinstance(str_or_query_bundle, str)
                        else str_or_query_bundle)
        return self._search(query_bundle, sources)

    def _keyword_search(self, sources: Sequence[str] | None) -> BM25Retriever | None:
        """The BM25 index over all chunks, or one built for the chunks of `sources` (small, built per question)."""
        if sources is None:
            return self._keyword_index[2]
        wanted = set(sources)
        return self._bm25([chunk for chunk in self._keyword_index[3] if chunk.metadata["source"] in wanted])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._search(query_bundle, None)

    def _search(self, query_bundle: QueryBundle, sources: Sequence[str] | None) -> list[NodeWithScore]:
        if self._keyword_index[0] == 0:
            return []
        if query_bundle.embedding is None:
            query_bundle.embedding = self.embedder.get_query_embedding(query_bundle.query_str)
        dense = self.store.nearest_chunks(query_bundle.embedding, self.dense_top_k, sources)
        bm25 = self._keyword_search(sources)
        sparse = bm25.retrieve(query_bundle.query_str) if bm25 and keywords(query_bundle.query_str) else []
        fused: dict[str, float] = {}
        nodes: dict[str, TextNode] = {}
        scores: dict[str, dict[str, float]] = {}
        for rank, (node, similarity) in enumerate(dense):
            fused[node.id_] = fused.get(node.id_, 0.0) + 1.0 / (RRF_K + rank + 1)
            nodes[node.id_] = node
            scores.setdefault(node.id_, {})["dense_score"] = similarity
        for rank, hit in enumerate(sparse):
            if hit.score is None or hit.score <= 0:
                continue
            fused[hit.node.node_id] = fused.get(hit.node.node_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            nodes.setdefault(hit.node.node_id, hit.node)  # type: ignore[arg-type]
            scores.setdefault(hit.node.node_id, {})["keyword_score"] = float(hit.score)
        ranked = sorted(fused, key=lambda node_id: -fused[node_id])[: self.top_k]
        # Copies: the BM25 index holds the originals and must not collect per-query scores.
        return [
            NodeWithScore(
                node=nodes[node_id].model_copy(update={"metadata": {**nodes[node_id].metadata, **scores[node_id]}}),
                score=fused[node_id],
            )
            for node_id in ranked
        ]
