"""The chat's handlers without a server: retry and edit over a real History and a scripted engine."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import SimpleNamespace

import gradio as gr
import pytest
from test_ui import ScriptedEngine

from qa import ui_render as render
from qa.history import DONE, History
from qa.ui_chat import Building, Chat
from qa.ui_conversations import Conversations

REQUEST = SimpleNamespace(username="alice", session_hash="s1")  # what the handlers read of a gr.Request


@pytest.fixture
def chat(tmp_path):
    engine = ScriptedEngine(tmp_path, max_question_chars=40)
    history = History(tmp_path / "history")
    return Chat(engine, history, Conversations(history), Building())


def collect(updates) -> list[tuple]:
    """Every update an (async generator) handler yields, as Gradio would consume them."""

    async def run() -> list[tuple]:
        return [update async for update in updates]

    return asyncio.run(run())


def ask(chat: Chat, question: str, conversation: str = "") -> list[tuple]:
    return collect(chat.respond(question, conversation, "", None, REQUEST))


def shown(chat: Chat, conversation: str) -> list[tuple[str, str]]:
    return [(turn.question, turn.status) for turn in chat.history.turns("login:alice", conversation)]


@pytest.mark.parametrize("question", ["Who met?", "a < b & \"c\"\nsecond line"])
def test_question_of_undoes_the_user_message_html(question):
    assert render.question_of(render.user_message(question)) == question
    assert render.question_of("typed by hand") == "typed by hand"


def test_retry_after_stop_answers_the_same_question_and_leaves_the_box_alone(chat):
    conversation = chat.conversations.current("login:alice", None)
    turn = chat.history.add_question("login:alice", conversation, "Who met?")
    chat.history.stop("login:alice", conversation)
    assert not chat.history.finish(turn, chat.engine.ask("Who met?"))  # the late answer is dropped
    updates = collect(chat.retry(conversation, "", None, REQUEST, SimpleNamespace(index=0, value="")))
    assert shown(chat, conversation) == [("Who met?", DONE)]
    assert updates[0][0] == gr.skip()  # the box may hold the next question being typed
    assert "qa-pending" in updates[0][3][-1]["content"] and "May 3 about Who met?" in updates[-1][3][-1]["content"]


def test_edit_replaces_that_question_and_drops_the_later_ones(chat):
    conversation = ask(chat, "Who met?")[0][2]
    ask(chat, "Where?", conversation)
    edited = SimpleNamespace(index=0, value=render.user_message("Who met in May?"))  # as the Edit box may send it
    updates = collect(chat.edit(conversation, "", None, REQUEST, edited))
    assert shown(chat, conversation) == [("Who met in May?", DONE)]
    assert chat.engine.asked[-1] == ("Who met in May?", [])  # asked afresh, without the dropped turns as history
    assert "about Who met in May?" in updates[-1][3][-1]["content"]


@pytest.mark.parametrize("value, note", [("   ", "empty question was not asked"), ("x" * 41, "the limit is 40")])
def test_an_empty_or_too_long_edit_drops_nothing(chat, value, note):
    conversation = ask(chat, "Who met?")[0][2]
    [update] = collect(chat.edit(conversation, "", None, REQUEST, SimpleNamespace(index=0, value=value)))
    assert shown(chat, conversation) == [("Who met?", DONE)]
    assert "Who met?" in update[3][0]["content"] and note in update[5]  # the chat is redrawn as it was


def test_retry_of_a_message_that_is_gone_redraws_the_chat(chat):
    conversation = ask(chat, "Who met?")[0][2]
    [update] = collect(chat.retry(conversation, "", None, REQUEST, SimpleNamespace(index=4, value="")))
    assert shown(chat, conversation) == [("Who met?", DONE)] and len(update[3]) == 2


def test_opening_another_logins_chat_by_its_id_opens_your_own(chat):
    alice_chat = ask(chat, "Who met?")[0][2]
    bob = SimpleNamespace(username="bob", session_hash="s2")
    choices, opened, messages, title = chat.conversations.open("", alice_chat, bob)
    assert opened != alice_chat and messages == [] and title == "New chat"
    assert choices["choices"] == [("New chat", opened)]
    assert chat.history.turns("login:alice", alice_chat)[0].question == "Who met?"


def test_progress_shows_only_the_newest_partial_and_each_once(chat, monkeypatch):
    """A partial holds all the text so far: older ones written between two polls are skipped, none is shown twice."""
    import threading
    import time

    from qa.answer import Partial
    from qa.ui_chat import STOP_POLL

    first, second, third = Partial("a", ""), Partial("a b", ""), Partial("a b c", "")

    def answer(*args):
        show = args[-1]
        show(first)
        show(second)
        time.sleep(STOP_POLL * 4)
        show(third)
        time.sleep(STOP_POLL * 4)

    monkeypatch.setattr(chat, "_answer", answer)
    assert collect(chat._wait_for_answer(threading.Event(), "unused")) == [second, third]


@pytest.mark.parametrize("load_first", [False, True])
def test_a_question_sent_before_the_page_knew_its_browser_stays_in_its_chat_list(chat, load_first):
    page = SimpleNamespace(username=None, session_hash="s9")  # a first visit: no browser id stored yet
    if load_first:  # the load event ran first, but the question left the page before its id came back
        browser_id, *_ = chat.conversations.start("", "", page)
    collect(chat.respond("Who met?", "", "", None, page))
    if not load_first:
        browser_id, *_ = chat.conversations.start("", "", page)
    later_page = SimpleNamespace(username=None, session_hash="s10")  # the next visit sends the stored id
    chats, opened, messages, _ = chat.conversations.open(browser_id, "", later_page)
    assert [title for title, _ in chats["choices"]] == ["Who met?"] and chats["value"] == opened
    assert render.question_of(messages[0]["content"]) == "Who met?"


def test_pages_without_a_stored_id_are_different_browsers(chat):
    first, *_ = chat.conversations.start("", "", SimpleNamespace(username=None, session_hash="s1"))
    second, *_ = chat.conversations.start("", "", SimpleNamespace(username=None, session_hash="s2"))
    assert first and second and first != second
    assert chat.conversations.owner(REQUEST, "") == "login:alice"  # a login owns its chats whatever the page


def test_a_load_and_a_question_that_both_find_no_chat_open_the_same_one(chat, monkeypatch):
    both_looked = threading.Barrier(2)
    conversations = chat.history.conversations

    def look(owner):
        found = conversations(owner)
        with contextlib.suppress(threading.BrokenBarrierError):  # broken: the other one waited its turn
            both_looked.wait(timeout=0.5)
        return found

    monkeypatch.setattr(chat.history, "conversations", look)
    opened = []
    threads = [threading.Thread(target=lambda: opened.append(chat.conversations.current("browser:b", None)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(opened)) == 1 and len(conversations("browser:b")) == 1
