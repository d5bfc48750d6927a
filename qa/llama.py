"""qa inside llama-index pipelines and agents: a query engine and a retriever over the same Engine.

    import qa
    response = qa.as_query_engine().query("Which battery suppliers did Xiaomi pick?")
    response.response        # the answer, with [n] markers
    response.source_nodes    # the cited spans: node.text == document text[start_char_idx:end_char_idx]
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import asdict

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from qa.engine import Engine
from qa.schema import Answer, Citation


def citation_node(citation: Citation) -> NodeWithScore:
    """A cited span as a llama-index node: its text is the quote, its char indices the span in the source."""
    node = TextNode(
        id_=f"{citation.source}:{citation.start}-{citation.end}", text=citation.quote,
        start_char_idx=citation.start, end_char_idx=citation.end,
        metadata={"source": citation.source, "citation": citation.number, "answer_start": citation.answer_start,
                  "answer_end": citation.answer_end, "page": citation.page},
    )
    return NodeWithScore(node=node, score=citation.score)


def to_response(answer: Answer) -> Response:
    """llama-index's Response for an Answer; `metadata` keeps the rest (refused, standalone question, citations)."""
    metadata = {"refused": answer.refused, "question": answer.question,
                "standalone_question": answer.standalone_question,
                "citations": [asdict(citation) for citation in answer.citations]}
    return Response(response=answer.text, source_nodes=[citation_node(c) for c in answer.citations],
                    metadata=metadata)


class QAQueryEngine(BaseQueryEngine):
    """Answers with qa's engine; a refusal is a Response whose metadata says `refused: True`."""

    def __init__(self, engine: Engine, sources: Collection[str] | None = None) -> None:
        super().__init__(callback_manager=None)
        self.engine = engine
        self.sources = sources

    def _query(self, query_bundle: QueryBundle) -> Response:
        return to_response(self.engine.ask(query_bundle.query_str, sources=self.sources))

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}


def _engine(engine: Engine | None) -> Engine:
    from qa.api import get_engine

    return engine or get_engine()


def as_query_engine(engine: Engine | None = None, sources: Collection[str] | None = None) -> QAQueryEngine:
    """A llama-index query engine over `engine` (the process engine by default), optionally limited to `sources`."""
    return QAQueryEngine(_engine(engine), sources)


def as_retriever(engine: Engine | None = None, sources: Collection[str] | None = None) -> BaseRetriever:
    """The engine's hybrid retriever (dense + BM25), as a llama-index retriever of whole chunks with their spans."""
    return _engine(engine).retriever.restricted_to(sources)
