"""`qa serve` for real: the app on uvicorn on 127.0.0.1 over an indexed copy of seeds/, driven by the openai
client (streaming and not), httpx, llama-index's OpenAILike and gradio_client. Every citation that comes back
must point at exactly its quote in the source text."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import openai
import pytest
from gradio_client import Client

from qa.config import Settings
from qa.documents import read_source_text
from qa.engine import Engine
from qa.server import create_server, running

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
QUESTION = "Which battery suppliers did Xiaomi pick?"
FOLLOW_UP = "When was that reported?"


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    """The whole service (chat at /, APIs) over a private indexed copy of seeds/."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(SEEDS, root / "seeds")
    engine = Engine(Settings(corpus_dir=root / "seeds", index_dir=root / "index"), embedder=embedder)
    engine.ingest()
    with running(create_server(engine)) as url:
        yield engine, url


def assert_spans_exact(engine: Engine, citations: list[dict]) -> None:
    assert citations
    for citation in citations:
        text = read_source_text(engine.settings.corpus_dir, citation["source"])
        assert text[citation["start"]:citation["end"]] == citation["quote"]
        if citation["answer_start"] is not None:
            assert citation["start"] <= citation["answer_start"] <= citation["answer_end"] <= citation["end"]


def test_json_api_answer_matches_the_engine(served):
    engine, url = served
    answer = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    direct = engine.ask(QUESTION)
    assert answer["text"] == direct.text and "CATL" in answer["text"] and answer["refused"] is False
    assert [c["quote"] for c in answer["citations"]] == [c.quote for c in direct.citations]
    assert_spans_exact(engine, answer["citations"])
    follow_up = httpx.post(f"{url}/api/ask", json={"question": FOLLOW_UP, "history": [QUESTION]}, timeout=60).json()
    assert follow_up["standalone_question"] != FOLLOW_UP
    assert_spans_exact(engine, follow_up["citations"])


def test_openai_client_gets_markers_sources_and_citations(served):
    engine, url = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}])
    content = reply.choices[0].message.content
    citations = reply.model_extra["citations"]
    assert "[1]" in content and "\n\nSources:\n- [1] " in content and "CATL" in content
    assert reply.model_extra["refused"] is False
    assert_spans_exact(engine, citations)
    assert all(f"[{c['number']}] {c['source']}, characters {c['start']}-{c['end']}" in content for c in citations)


def test_openai_streaming_gives_the_same_text_and_citations_in_the_last_chunk(served):
    engine, url = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "CATL and BYD."},
                {"role": "user", "content": FOLLOW_UP}]
    whole = client.chat.completions.create(model="qa", messages=messages)
    chunks = list(client.chat.completions.create(model="qa", messages=messages, stream=True))
    assert len(chunks) > 3
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == whole.model_extra["citations"]
    assert_spans_exact(engine, chunks[-1].model_extra["citations"])


def test_refusal_is_a_plain_message_with_the_closest_passages(served):
    engine, url = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)
    question = "What colour is the Eiffel Tower's lift cable?"
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": question}])
    assert reply.model_extra["refused"] is True
    assert reply.choices[0].message.content == engine.ask(question).text
    assert_spans_exact(engine, reply.model_extra["citations"])


def test_llama_index_openai_like_uses_qa_as_a_model(served):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    engine, url = served
    llm = OpenAILike(model="qa", api_base=f"{url}/v1", api_key="not-needed", is_chat_model=True,
                     context_window=4096, max_retries=0)
    response = llm.chat([ChatMessage(role="user", content=QUESTION)])
    assert "CATL" in response.message.content
    assert_spans_exact(engine, response.raw.model_extra["citations"])
    streamed = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    assert streamed[-1].message.content == response.message.content
    assert_spans_exact(engine, streamed[-1].raw.model_extra["citations"])
    assert "CATL" in llm.complete(QUESTION).text


def test_upload_then_ask_only_that_file_then_delete(served):
    engine, url = served
    note = b"The Skerryvore lighthouse keeper feeds the gulls every Tuesday at dawn."
    added = httpx.post(f"{url}/api/documents", files={"files": ("lighthouse.txt", note, "text/plain")}, timeout=120)
    assert added.status_code == 201, added.text
    assert "seeds/lighthouse.txt" in [item["source"] for item in httpx.get(f"{url}/api/documents").json()]
    body = {"question": "When does the lighthouse keeper feed the gulls?", "files": ["seeds/lighthouse.txt"]}
    answer = httpx.post(f"{url}/api/ask", json=body, timeout=60).json()
    assert "Tuesday" in answer["text"] and {c["source"] for c in answer["citations"]} == {"seeds/lighthouse.txt"}
    assert_spans_exact(engine, answer["citations"])
    assert httpx.delete(f"{url}/api/documents/seeds/lighthouse.txt", timeout=120).status_code == 200
    assert "seeds/lighthouse.txt" not in engine.indexed_files()


def test_healthz_counts_the_chunks(served):
    engine, url = served
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok" and health["chunks"] == engine.retriever.chunk_count > 0


def test_the_chat_answers_at_the_root_url(served):
    _, url = served
    client = Client(f"{url}/", verbose=False)
    try:
        messages = client.predict(QUESTION, "", api_name="/ask")[2]  # (box, chat list, messages, title, note)
    finally:
        client.close()
    assert "CATL" in messages[-1]["content"][0]["text"]
