"""Conversations and feedback in SQLite, on hand-built answers; the gold export."""

from __future__ import annotations

import json

from qa.cli import main
from qa.evaluation.gold import load_gold
from qa.history import DONE, STOPPED, History
from qa.schema import Answer, Citation

QUOTE = "Xiaomi picked CATL and BYD as battery suppliers."
CITED = Citation(1, "seeds/001.txt", QUOTE, 100, 100 + len(QUOTE), 0.8, answer_start=114, answer_end=118)
ANSWER = Answer(text=f"{QUOTE} [1]", citations=[CITED], question="Which suppliers?", standalone_question="Which suppliers?")


def test_each_owner_sees_only_their_own_chats(tmp_path):
    history = History(tmp_path)
    alice = history.create("login:alice")
    turn = history.add_question("login:alice", alice, "Which suppliers?")
    assert history.finish(turn, ANSWER)
    assert [c.title for c in history.conversations("login:alice")] == ["Which suppliers?"]
    assert history.conversations("login:bob") == [] and history.turns("login:bob", alice) == []
    history.delete("login:bob", alice)  # not bob's to delete
    reopened = History(tmp_path)  # a server restart
    [saved] = reopened.turns("login:alice", alice)
    assert saved.status == DONE and saved.answer.citations == [CITED]


def test_a_stopped_turn_keeps_no_late_answer(tmp_path):
    history = History(tmp_path)
    chat = history.create("me")
    turn = history.add_question("me", chat, "Which suppliers?")
    assert history.stop("me", chat) == 1
    assert not history.finish(turn, ANSWER)
    assert history.turns("me", chat)[0].status == STOPPED


def test_feedback_exports_gold_lines_qa_eval_reads(tmp_path, monkeypatch, capsys):
    history = History(tmp_path / "history")
    chat = history.create("me")
    first = history.add_question("me", chat, "Which suppliers?")
    history.finish(first, ANSWER)
    second = history.add_question("me", chat, "And the other one?")
    history.finish(second, ANSWER)
    assert history.rate("me", first, 1, "right") and history.rate("me", second, -1)
    assert not history.rate("someone else", first, 1)
    monkeypatch.setenv("QA_HISTORY_DIR", str(tmp_path / "history"))
    from qa.config import get_settings

    get_settings.cache_clear()
    out = tmp_path / "gold.jsonl"
    assert main(["feedback", "export", "-o", str(out)]) == 0
    get_settings.cache_clear()
    [item] = load_gold(out)
    assert item.question == "Which suppliers?" and item.answers == ("CATL",)
    assert item.evidence[0].source == "001.txt" and item.evidence[0].quote == QUOTE
    assert json.loads(out.read_text().splitlines()[0])["id"] == f"feedback-{first}"
