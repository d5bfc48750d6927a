"""Whose chats a browser sees, in headless Chromium: its own after the server restarts, and per login
never another's (not through the page, not through Gradio's API).

Each test keeps screenshots (desktop and phone width) of the states it checks under its tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import gradio as gr
import httpx
import pytest
from test_ui import ScriptedEngine
from ui_fixtures import REPO, free_port, needs_chromium, open_page, seeds_settings, serve_app, shots
from ui_fixtures import ask_in_page as ask

from qa.history import History
from qa.ui import create_app
from qa.ui_conversations import Conversations

pytestmark = [pytest.mark.slow, needs_chromium]

BOT = "#qa-chat [data-testid='bot']"
USER = "#qa-chat [data-testid='user']"
QUESTION = "Which battery suppliers did Xiaomi pick?"


def listed(page) -> list[str]:
    return page.locator("#qa-chats label").all_inner_texts()


class QAServer:
    """`python -m qa serve` in its own process on `port`, over the folders `env` names."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.process = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 180
        while True:
            assert self.process.poll() is None and time.monotonic() < deadline, "qa serve did not start"
            try:
                if httpx.get(f"{self.url}healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)

    def stop(self) -> str:
        """Stop the server (as Ctrl+C would) and return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.communicate(timeout=60)[0]


def test_chats_survive_a_server_restart(browser, tmp_path):
    settings = seeds_settings(tmp_path)
    env = {**os.environ, "QA_CORPUS_DIR": str(settings.corpus_dir), "QA_INDEX_DIR": str(settings.index_dir),
           "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, check=True, capture_output=True, timeout=600)
    port = free_port()  # the same port both times: the browser keeps its id per origin
    server = QAServer(env, port)
    try:
        page = open_page(browser, server.url)
        reply = ask(page, QUESTION)
        answer = reply.locator(".qa-answer > p").inner_text()
        assert "CATL" in answer
        shots(page, tmp_path, "p1-before-restart")
    finally:
        output = server.stop()
    assert "Traceback" not in output

    server = QAServer(env, port)  # a new process over the same folders
    try:
        page.reload()
        page.wait_for_selector(f"{BOT} .qa-answer")
        assert listed(page) == [QUESTION]
        assert page.locator(USER).all_inner_texts() == [QUESTION]
        assert page.locator(f"{BOT} .qa-answer > p").inner_text() == answer
        assert "seeds/001_52ba53fcb0081ea9.txt" in page.locator(f"{BOT} .qa-source-head").first.inner_text()
        shots(page, tmp_path, "p2-after-restart")
        stranger = open_page(browser, server.url)  # another browser has its own (empty) list
        assert QUESTION not in listed(stranger) and stranger.locator(USER).count() == 0
        stranger.context.close()
        page.context.close()
    finally:
        output = server.stop()
    assert "Traceback" not in output


@pytest.fixture
def logins(tmp_path):
    engine = ScriptedEngine(tmp_path, auth="alice:pw1,bob:pw2")
    demo = create_app(engine)
    url = serve_app(demo, engine.settings)
    yield engine, demo, url
    demo.close()


def log_in(browser, url: str, user: str, password: str):
    """A fresh browser context, logged in through the login form; the chat once it has loaded."""
    page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#qa-chat")
    page.wait_for_function("document.querySelector('#qa-files')?.innerText.includes('/')")
    page.wait_for_selector("#qa-chats label")  # the list of chats comes from its own load event
    return page


def call_handler(url: str, user: str, password: str, fn_index: int, data: list) -> dict:
    """Call one of the app's event handlers the way the page does (queue/join, then its event stream)."""
    session = uuid.uuid4().hex
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("login", data={"username": user, "password": password}).raise_for_status()
        client.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                   "event_data": None, "trigger_id": None}).raise_for_status()
        with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


def test_two_logins_never_see_each_others_chats(browser, logins, tmp_path):
    engine, demo, url = logins
    alice = log_in(browser, url, "alice", "pw1")
    assert "May 3 about Who met?" in ask(alice, "Who met?").inner_text()
    assert listed(alice) == ["Who met?"]
    shots(alice, tmp_path, "o1-alice")

    bob = log_in(browser, url, "bob", "pw2")
    assert listed(bob) == ["New chat"] and bob.locator(USER).count() == 0  # a first visit opens a new chat
    ask(bob, "Where?")
    assert listed(bob) == ["Where?"] and bob.locator(USER).all_inner_texts() == ["Where?"]
    shots(bob, tmp_path, "o2-bob")

    # Gradio's API runs any handler the page can, so bob tries to open alice's chat by its id.
    [chat] = History(engine.settings.history_folder).conversations("login:alice")
    opener = next(index for index, fn in demo.fns.items() if getattr(fn.fn, "__func__", None) is Conversations.open)
    reply = call_handler(url, "bob", "pw2", opener, ["", chat.id])
    assert "Who met" not in json.dumps(reply)
    assert not reply["success"] or reply["output"]["data"][1] != chat.id  # refused, or bob's own chat opened

    alice.reload()
    alice.wait_for_selector(f"{BOT} .qa-answer")
    assert listed(alice) == ["Who met?"] and alice.locator(USER).all_inner_texts() == ["Who met?"]
    bob.reload()
    bob.wait_for_selector(f"{BOT} .qa-answer")
    assert listed(bob) == ["Where?"]
    alice.context.close()
    bob.context.close()


def test_a_question_asked_before_the_page_finished_loading_keeps_its_chat(browser, tmp_path, monkeypatch):
    start = Conversations.start

    def slow_start(self, browser_id: str, conversation: str, request: gr.Request) -> tuple:
        time.sleep(2)  # a cold server: the page is up, its load event is not done yet
        return start(self, browser_id, conversation, request)

    monkeypatch.setattr(Conversations, "start", slow_start)
    engine = ScriptedEngine(tmp_path)
    demo = create_app(engine)
    url = serve_app(demo, engine.settings)
    try:
        page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        assert page.locator("#qa-chats label").count() == 0  # asked before the load event returned
        assert "May 3 about Who met?" in ask(page, "Who met?").inner_text()
        page.wait_for_selector("#qa-chats label")
        page.wait_for_timeout(2500)  # past the load event's answer
        assert listed(page) == ["Who met?"] and page.locator(USER).all_inner_texts() == ["Who met?"]
        ask(page, "Where?")  # the next question goes on in the same chat
        assert listed(page) == ["Who met?"] and page.locator(USER).all_inner_texts() == ["Who met?", "Where?"]
        shots(page, tmp_path, "r1-asked-early")
        page.reload()
        page.wait_for_selector(f"{BOT} .qa-answer")
        assert listed(page) == ["Who met?"] and page.locator(USER).all_inner_texts() == ["Who met?", "Where?"]
        page.context.close()
    finally:
        demo.close()
