"""The generative answerer against a scripted OpenAI-compatible server on 127.0.0.1.

No generative model here answers reliably (see README), so the server replies with scripted
completions; what is under test is qa's side: the request, the citation check, the fallbacks.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.answer import REFUSAL_TEXT
from qa.generate import GeneratorUnavailable, supported


class ScriptedLLM(BaseHTTPRequestHandler):
    replies: list[str] = []
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ScriptedLLM.requests.append({"path": self.path, "body": body})
        passages = body["messages"][-1]["content"]
        reply = ScriptedLLM.replies.pop(0)
        # Reply templates may name a passage by a phrase it contains: {CATL} -> its number.
        for line in passages.splitlines():
            if line.startswith("["):
                number, text = line[1:].split("] ", 1)
                for phrase in ("CATL", "1.38 billion", "1.54 billion"):
                    if phrase in text:
                        reply = reply.replace("{" + phrase + "}", number)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ScriptedLLM.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def generative(corpus, make_engine, llm_server):
    engine = make_engine(answerer="openai", llm_base_url=llm_server, llm_model="scripted")
    engine.ingest()
    return engine


def test_a_supported_answer_keeps_its_citations_renumbered(generative):
    ScriptedLLM.replies = ["Xiaomi chose CATL and BYD's FinDreams Battery as battery suppliers [{CATL}]."]
    answer = generative.ask("Which battery suppliers did Xiaomi pick?")
    assert not answer.refused
    assert answer.text == "Xiaomi chose CATL and BYD's FinDreams Battery as battery suppliers [1]."
    assert len(answer.citations) == 1 and "CATL" in answer.citations[0].quote
    request = ScriptedLLM.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "scripted"
    assert "Which battery suppliers did Xiaomi pick?" in request["body"]["messages"][-1]["content"]


def test_invented_claims_and_uncited_sentences_are_dropped(generative):
    ScriptedLLM.replies = [
        "The suppliers are CATL and BYD's FinDreams Battery [{CATL}]. The battery holds 101 kWh [{CATL}]. "
        "It will be the best car ever made."
    ]
    answer = generative.ask("Which battery suppliers did Xiaomi pick?")
    assert answer.text == "The suppliers are CATL and BYD's FinDreams Battery [1]."


def test_disagreeing_figures_each_keep_their_source(generative):
    ScriptedLLM.replies = [
        "One report values the initial RMB 10 billion investment at $1.54 billion [{1.54 billion}], "
        "another at $1.38 billion [{1.38 billion}]."
    ]
    answer = generative.ask("How much is Xiaomi's RMB 10 billion initial car investment worth in US dollars?")
    assert "[1]" in answer.text and "[2]" in answer.text
    assert [f for f in ("1.54 billion", "1.38 billion") if f in answer.citations[0].quote] == ["1.54 billion"]
    assert "1.38 billion" in answer.citations[1].quote


def test_a_reply_with_nothing_supported_is_a_refusal(generative):
    ScriptedLLM.replies = ["NOT IN DOCUMENTS"]
    answer = generative.ask("Which battery suppliers did Xiaomi pick?")
    assert answer.refused and answer.text == REFUSAL_TEXT and answer.citations


def test_weak_evidence_is_refused_without_asking_the_model(generative):
    answer = generative.ask("What is the top speed of Xiaomi's electric sedan?")
    assert answer.refused and ScriptedLLM.requests == []


def test_a_server_that_is_down_gives_a_clear_error(corpus, make_engine):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(answerer="openai", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_timeout=5)
    engine.ingest()
    with pytest.raises(GeneratorUnavailable, match=f"127.0.0.1:{port}/v1/chat/completions did not answer"):
        engine.ask("Which battery suppliers did Xiaomi pick?")


def test_support_needs_the_figures_and_most_words():
    evidence = ["Xiaomi will build a factory with an annual production capacity of 300,000 units."]
    assert supported("Xiaomi's factory will make 300,000 units a year [1].", evidence)
    assert not supported("Xiaomi's factory will make 500,000 units a year [1].", evidence)
    assert not supported("Tesla sells rockets on Mars [1].", evidence)
