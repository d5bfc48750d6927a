"""The API's rules one by one: key comparison, loopback check, body limits, validation, errors, SSE framing."""

from __future__ import annotations

import json

import pytest
from api_fixtures import CITATION, QUOTE, ScriptedEngine
from fastapi.testclient import TestClient

from qa.config import Settings
from qa.http_common import (
    body_limits,
    is_loopback,
    key_matches,
    qa_error_status,
    validation_message,
)
from qa.openai_api import (
    ChatMessage,
    completion,
    conversation,
    pieces,
    reply_text,
    sse_events,
)
from qa.schema import (
    Answer,
    EmptyIndex,
    IndexMismatch,
    InvalidQuestion,
    QAError,
    StoreUnavailable,
    UnknownDocument,
)
from qa.server import create_server, startup_notes

ANSWER = Answer(text=f"{QUOTE} [1]", citations=[CITATION], question="When?")
REFUSAL = Answer(text="The documents don't say.", citations=[CITATION], refused=True)


def test_keys_compare_whole_and_exact():
    assert key_matches("s3cret-key", "s3cret-key")
    assert not key_matches("s3cret-ke", "s3cret-key")
    assert not key_matches("s3cret-keyX", "s3cret-key")
    assert not key_matches("", "s3cret-key")
    assert key_matches("clé-ü", "clé-ü") and not key_matches("cle-u", "clé-ü")


@pytest.mark.parametrize("host, local", [("127.0.0.1", True), ("127.8.0.2", True), ("::1", True),
                                         ("10.0.0.5", False), ("192.168.1.2", False), ("testclient", False),
                                         (None, False)])
def test_only_loopback_addresses_count_as_this_machine(host, local):
    assert is_loopback(host) is local


def test_uploads_and_other_api_bodies_have_their_own_limits():
    limit_of = body_limits(Settings(max_request_bytes=2000, max_upload_bytes=9000))
    assert limit_of("POST", "/api/ask") == 2000
    assert limit_of("POST", "/v1/chat/completions") == 2000
    assert limit_of("POST", "/api/documents") == 9000
    assert limit_of("POST", "/gradio_api/upload") is None  # the chat's routes keep Gradio's own limits


@pytest.mark.parametrize("error, status", [
    (InvalidQuestion("x"), 400), (QAError("x"), 400), (UnknownDocument("x"), 404), (EmptyIndex("x"), 409),
    (IndexMismatch("x"), 409), (StoreUnavailable("x"), 503),
])
def test_qa_errors_map_to_statuses(error, status):
    assert qa_error_status(error)[0] == status


def test_validation_messages_name_the_field_not_the_content():
    message = validation_message([{"loc": ("body", "question"), "msg": "Input should be a valid string",
                                   "input": "SECRET" * 100}])
    assert message == "Invalid request: question: Input should be a valid string"


def test_the_last_user_message_is_the_question_and_earlier_user_turns_the_history():
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Who met?"),
                ChatMessage(role="assistant", content="The board [1]"),
                ChatMessage(role="user", content=[{"type": "text", "text": "When?"}, {"type": "image_url"}])]
    assert conversation(messages) == ("When?", ["Who met?"])


def test_a_conversation_must_end_with_the_user():
    from qa.http_common import ApiError

    with pytest.raises(ApiError, match="last message"):
        conversation([ChatMessage(role="user", content="Who?"), ChatMessage(role="assistant", content="x")])


def test_reply_text_lists_sources_and_a_refusal_stays_plain():
    text = reply_text(ANSWER)
    assert text.startswith(f"{QUOTE} [1]\n\nSources:\n")
    assert f'- [1] docs/minutes.txt, characters {CITATION.start}-{CITATION.end}: "{QUOTE}"' in text
    assert reply_text(REFUSAL) == REFUSAL.text


def test_completion_carries_citations_with_spans_and_the_refusal_flag():
    body = completion(REFUSAL, "chatcmpl-1", 7)
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["refused"] is True
    assert body["citations"][0] == {"number": 1, "source": "docs/minutes.txt", "quote": QUOTE, "start": 12,
                                    "end": 12 + len(QUOTE), "score": 0.8, "context": "", "context_start": 0,
                                    "answer_start": 28, "answer_end": 34, "page": None}


@pytest.mark.parametrize("text", ["", "one", "a b c d e f g h i j k l m n o p q", "x  y\n\nz ", "[1]\n- a"])
def test_pieces_join_back_to_the_text(text):
    assert "".join(pieces(text, words=3)) == text


def test_sse_events_are_framed_chunks_ending_with_citations_and_done():
    events = list(sse_events([ANSWER], "chatcmpl-1", 7))
    assert all(event.startswith("data: ") and event.endswith("\n\n") and "\n\n" not in event[:-2]
               for event in events)
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(event[len("data: "):]) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-1"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == reply_text(ANSWER) and len(chunks) > 3
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks].count("stop") == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"][0]["quote"] == QUOTE and chunks[-1]["refused"] is False
    assert all("citations" not in chunk for chunk in chunks[:-1])


def test_a_client_from_another_machine_is_refused_without_a_key():
    app = create_server(ScriptedEngine(), chat=False)
    with TestClient(app) as client:  # its client address is "testclient", not loopback
        response = client.post("/api/ask", json={"question": "Who met?"})
        assert response.status_code == 403
        assert "QA_API_KEY" in response.json()["error"]["message"]
        assert client.get("/healthz").status_code == 403
        assert client.get("/v1/models").status_code == 403
        assert client.get("/docs").status_code == 200  # the documentation is not the API


def test_a_key_opens_the_api_to_other_machines():
    app = create_server(ScriptedEngine(), Settings(api_key="k3y"), chat=False)
    with TestClient(app) as client:
        assert client.get("/v1/models", headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_cors_is_off_unless_origins_are_named():
    headers = {"Origin": "https://portal.example", "Access-Control-Request-Method": "POST"}
    closed = create_server(ScriptedEngine(), Settings(api_key="k"), chat=False)
    with TestClient(closed) as client:
        assert "access-control-allow-origin" not in client.options("/api/ask", headers=headers).headers
    opened = create_server(ScriptedEngine(), Settings(api_key="k", cors_origins=["https://portal.example"]),
                           chat=False)
    with TestClient(opened) as client:
        response = client.options("/api/ask", headers=headers)
        assert response.headers["access-control-allow-origin"] == "https://portal.example"


def test_start_notes_say_who_may_use_the_api():
    assert "only clients on this machine" in " ".join(startup_notes(Settings()))
    remote = " ".join(startup_notes(Settings(host="0.0.0.0")))
    assert "WARNING" in remote and "403" in remote and "QA_AUTH" in remote
    assert "Bearer" in " ".join(startup_notes(Settings(host="0.0.0.0", api_key="k", auth="a:b")))
