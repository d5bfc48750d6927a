"""qa inside llama-index: the query engine's Response carries the answer and the cited spans; the retriever's chunks."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.retrievers import BaseRetriever

from qa.documents import read_source_text
from qa.llama import as_query_engine, as_retriever

QUESTION = "Which battery suppliers did Xiaomi pick?"
BATTERY_FILE = "seeds/001_52ba53fcb0081ea9.txt"


def test_query_engine_response_carries_the_cited_spans(seeds_engine):
    query_engine = as_query_engine(seeds_engine)
    assert isinstance(query_engine, BaseQueryEngine)
    response = query_engine.query(QUESTION)
    answer = seeds_engine.ask(QUESTION)
    assert response.response == answer.text and "CATL" in response.response
    assert response.metadata["refused"] is False
    assert len(response.source_nodes) == len(answer.citations) > 0
    for hit, citation in zip(response.source_nodes, answer.citations):
        node = hit.node
        text = read_source_text(seeds_engine.settings.corpus_dir, node.metadata["source"])
        assert node.text == text[node.start_char_idx:node.end_char_idx] == citation.quote
        assert hit.score == citation.score and node.metadata["citation"] == citation.number


def test_query_engine_refusals_and_async(seeds_engine):
    response = asyncio.run(as_query_engine(seeds_engine).aquery("What colour is the Eiffel Tower's lift cable?"))
    assert response.metadata["refused"] is True


def test_query_engine_and_retriever_limited_to_files(seeds_engine):
    others = sorted(set(seeds_engine.indexed_files()) - {BATTERY_FILE})
    response = as_query_engine(seeds_engine, sources=others).query(QUESTION)
    assert all(hit.node.metadata["source"] in others for hit in response.source_nodes)
    hits = as_retriever(seeds_engine, sources=[BATTERY_FILE]).retrieve(QUESTION)
    assert hits and {hit.node.metadata["source"] for hit in hits} == {BATTERY_FILE}


def test_retriever_returns_chunks_with_their_spans(seeds_engine):
    retriever = as_retriever(seeds_engine)
    assert isinstance(retriever, BaseRetriever)
    hits = retriever.retrieve(QUESTION)
    assert len(hits) == seeds_engine.settings.top_k
    for hit in hits:
        text = read_source_text(seeds_engine.settings.corpus_dir, hit.node.metadata["source"])
        assert hit.node.get_content() == text[hit.node.start_char_idx:hit.node.end_char_idx]


def test_import_qa_stays_light():
    script = ("import sys, qa; heavy = ('fastapi', 'uvicorn', 'gradio', 'openai', 'qa.server', 'qa.llama'); "
              "print([m for m in heavy if m in sys.modules]); qa.as_query_engine; print('qa.llama' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["[]", "True"]
