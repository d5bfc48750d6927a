"""The served API over a scripted engine, on a real uvicorn server on 127.0.0.1: auth, limits, errors, files."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from api_fixtures import QUOTE, ScriptedEngine

from qa.config import Settings
from qa.server import create_server, running

KEY = "k3y-for-tests"
QUESTION = {"question": "Who met?"}


@pytest.fixture(scope="module")
def open_server():
    """No API key: loopback clients only (the tests are one)."""
    engine = ScriptedEngine(Settings(max_request_bytes=4096, max_upload_bytes=8192, max_file_bytes=2048))
    with running(create_server(engine, chat=False)) as url:
        yield engine, url


@pytest.fixture(scope="module")
def keyed_server():
    engine = ScriptedEngine(Settings(api_key=KEY))
    with running(create_server(engine, chat=False)) as url:
        yield engine, url


def assert_json_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"] and error["type"] and "Traceback" not in response.text
    return error


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                                     {"Authorization": f"Bearer {KEY}x"}])
@pytest.mark.parametrize("method, path", [("POST", "/api/ask"), ("GET", "/api/documents"), ("GET", "/healthz"),
                                          ("GET", "/v1/models"), ("POST", "/v1/chat/completions")])
def test_every_api_route_needs_the_key(keyed_server, headers, method, path):
    _, url = keyed_server
    response = httpx.request(method, url + path, json=QUESTION, headers=headers)
    assert_json_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_right_key_is_let_in(keyed_server):
    _, url = keyed_server
    response = httpx.post(f"{url}/api/ask", json=QUESTION, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json()["citations"][0]["quote"] == QUOTE


def test_the_openai_client_with_and_without_the_key(keyed_server):
    _, url = keyed_server
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
    models = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0).models.list()
    assert [model.id for model in models.data] == ["qa"]


def test_without_a_key_loopback_clients_are_served(open_server):
    _, url = open_server
    assert httpx.post(f"{url}/api/ask", json=QUESTION).status_code == 200
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "index": True, "chunks": 3,
                                                  "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
                                                  "answerer": "extractive"}


@pytest.mark.parametrize("body, status", [
    (b"{not json", 422),
    (b"[]", 422),
    (b'{"question": 5}', 422),
    (b'{"question": "Who?", "history": "not a list"}', 422),
    (b'{"question": "Who?", "surprise": 1}', 422),
    (b'{"question": "   "}', 400),
    (b'{"question": "Who?", "files": ["docs/none.txt"]}', 400),
])
def test_malformed_requests_get_a_4xx_json_error(open_server, body, status):
    _, url = open_server
    response = httpx.post(f"{url}/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, status)


def test_oversized_bodies_get_413_declared_or_streamed(open_server):
    engine, url = open_server
    asked = len(engine.asked)
    big = {"question": "Who?", "history": ["x" * 5000]}
    assert_json_error(httpx.post(f"{url}/api/ask", json=big), 413)

    def chunks():  # no Content-Length: the server counts
        for _ in range(10):
            yield b" " * 1000
        yield b'{"question": "Who?"}'

    assert_json_error(httpx.post(f"{url}/api/ask", content=chunks(), headers={"Content-Type": "application/json"}),
                      413)
    messages = [{"role": "user", "content": "y" * 5000}]
    assert_json_error(httpx.post(f"{url}/v1/chat/completions", json={"model": "qa", "messages": messages}), 413)
    assert len(engine.asked) == asked  # none of them reached the engine


def test_engine_errors_are_json_with_their_status_and_crashes_hide_their_details(open_server):
    _, url = open_server
    assert "index is empty" in assert_json_error(httpx.post(f"{url}/api/ask", json={"question": "empty index"}),
                                                 409)["message"]
    assert_json_error(httpx.post(f"{url}/api/ask", json={"question": "store down"}), 503)
    error = assert_json_error(httpx.post(f"{url}/api/ask", json={"question": "crash"}), 500)
    assert error["type"] == "server_error" and "secret" not in error["message"]
    assert_json_error(httpx.get(f"{url}/api/nothing-here"), 404)
    assert_json_error(httpx.get(f"{url}/v1/engines"), 404)


def test_a_store_that_is_down_makes_healthz_503(open_server):
    engine, url = open_server
    engine.store.down = True
    try:
        response = httpx.get(f"{url}/healthz")
        assert response.status_code == 503 and response.json()["index"] is False
    finally:
        engine.store.down = False


def test_ask_passes_history_and_files_through(open_server):
    engine, url = open_server
    body = {"question": "And when?", "history": ["Who met?"], "files": ["docs/minutes.txt"]}
    answer = httpx.post(f"{url}/api/ask", json=body).json()
    assert engine.asked[-1] == ("And when?", ["Who met?"], ["docs/minutes.txt"])
    assert answer["text"] == f"{QUOTE} [1]" and answer["refused"] is False
    assert answer["standalone_question"] == "And when?"
    assert set(answer["citations"][0]) >= {"source", "quote", "start", "end", "score", "answer_start", "answer_end"}


def test_chat_completion_history_is_the_earlier_user_turns(open_server):
    engine, url = open_server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(model="qa", messages=[
        {"role": "user", "content": "Who met?"}, {"role": "assistant", "content": "The board."},
        {"role": "user", "content": "And when?"}])
    assert engine.asked[-1][:2] == ("And when?", ["Who met?"])
    assert reply.model_extra["citations"][0]["quote"] == QUOTE
    refusal = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": "unknown"}])
    assert refusal.choices[0].message.content == "The documents don't say."
    assert refusal.model_extra["refused"] is True and refusal.model_extra["citations"]
    with pytest.raises(openai.BadRequestError, match="type a question"):
        client.chat.completions.create(model="qa", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="qa", messages=[])


def test_documents_upload_list_delete(open_server):
    _, url = open_server
    added = httpx.post(f"{url}/api/documents", files=[("files", ("notes.txt", b"Some notes.", "text/plain")),
                                                      ("files", ("scan.png", b"\x89PNG", "image/png"))])
    assert added.status_code == 201, added.text
    assert added.json()["added"] == ["notes.txt"] and "scan.png" in added.json()["rejected"][0]["reason"]
    names = [item["source"] for item in httpx.get(f"{url}/api/documents").json()]
    assert names == ["docs/minutes.txt", "docs/notes.txt"]
    assert httpx.delete(f"{url}/api/documents/docs/notes.txt").json()["report"]["removed"] == ["docs/notes.txt"]
    assert_json_error(httpx.delete(f"{url}/api/documents/docs/notes.txt"), 404)


def test_uploads_over_the_limits_are_refused(open_server):
    _, url = open_server
    too_big_file = httpx.post(f"{url}/api/documents", files={"files": ("big.txt", b"x" * 3000, "text/plain")})
    assert "larger than 2048 bytes" in assert_json_error(too_big_file, 400)["message"]
    too_big_request = httpx.post(f"{url}/api/documents", files={"files": ("huge.txt", b"x" * 9000, "text/plain")})
    assert_json_error(too_big_request, 413)
    assert_json_error(httpx.post(f"{url}/api/documents", files={"files": ("evil.exe", b"MZ", "x")}), 400)
    assert_json_error(httpx.post(f"{url}/api/documents"), 422)


def test_ingest_runs_in_the_background_and_reports_progress(open_server):
    _, url = open_server
    started = httpx.post(f"{url}/api/ingest")
    assert started.status_code == 202 and started.json()["state"] == "running"
    assert_json_error(httpx.post(f"{url}/api/ingest", json={"rebuild": False}), 409)
    deadline = time.monotonic() + 10
    while (status := httpx.get(f"{url}/api/ingest").json())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status["state"] == "done" and (status["done"], status["total"]) == (3, 3)
    assert status["report"]["unchanged"] == ["docs/minutes.txt"] and status["finished_at"] >= status["started_at"]


def test_openapi_documents_the_routes_and_the_answer(open_server):
    _, url = open_server
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/api/documents/{name}", "/api/ingest", "/healthz", "/v1/models",
            "/v1/chat/completions"} <= set(schema["paths"])
    assert {"answer_start", "answer_end", "quote"} <= set(schema["components"]["schemas"]["Citation"]["properties"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_the_chat_keeps_its_login_beside_the_api():
    engine = ScriptedEngine(Settings(auth="alice:s3cret", api_key=KEY))
    with running(create_server(engine)) as url:
        assert httpx.get(f"{url}/config").status_code == 401  # the chat: QA_AUTH
        assert httpx.get(f"{url}/").status_code == 200  # its login page
        assert httpx.get(f"{url}/healthz").status_code == 401  # the API: QA_API_KEY
        assert httpx.get(f"{url}/healthz", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert httpx.post(f"{url}/login", data={"username": "alice", "password": "s3cret"}).status_code == 200
