"""Ten chats at once through Gradio's client, each with its own question, each getting its own answer."""

from __future__ import annotations

import html
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client
from ui_fixtures import app_url, ui_engine  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

# Question -> words its answer must contain (from eval/seeds_gold.jsonl).
QUESTIONS = {
    "Which BAIC electric vehicle brand might end up building Xiaomi's cars?": "BluePark",
    "In which part of Beijing will Xiaomi's auto headquarters and factory be built?": "Yizhuang",
    "Which BAIC production site might Xiaomi take over, according to Cailian?": "Qingdao",
    "Which analyst estimated how many units of Xiaomi's first EV would ship?": "Ming-Chi Kuo",
    "On which social media platform were spy photos of Xiaomi's EV posted?": "Xiaohongshu",
    "What is the name of the autonomous driving technology Xiaomi developed in-house?": "Pilot Technology",
    "Which battery suppliers did Xiaomi pick?": "CATL",
    "On what date did Reuters report that the NDRC had approved Xiaomi's EV production?": "August 23",
    "In what year was BAIC Group founded?": "1958",
    "When did Xiaomi hold its closed-door partner meeting?": "November 8",
}


def chat_once(url: str, question: str) -> tuple[str, list[dict], float]:
    """One session: its own client, one question; returns the conversation and the seconds it took."""
    client = Client(url, verbose=False)
    started = time.perf_counter()
    _, messages = client.submit(question, [], api_name="/ask").result(timeout=120)
    return question, messages, time.perf_counter() - started


def test_ten_concurrent_sessions_each_get_their_own_answer(app_url):
    sequential = [chat_once(app_url, question)[2] for question in QUESTIONS]  # also warms up
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
        results = list(pool.map(lambda question: chat_once(app_url, question), QUESTIONS))
    wall = time.perf_counter() - started

    latencies = [seconds for _, _, seconds in results]
    print(f"\n{len(results)} concurrent sessions: wall {wall:.2f} s;"
          f" per answer mean {statistics.mean(latencies):.2f} s,"
          f" median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"
          f" (one at a time: {sum(sequential):.2f} s in all, {statistics.mean(sequential):.2f} s each)")
    for question, messages, _ in results:
        assert len(messages) == 2, "a session saw another session's messages"
        assert html.escape(question) in messages[0]["content"][0]["text"]
        answer = messages[1]["content"][0]["text"]
        assert "qa-sources" in answer and "qa-refusal" not in answer, question
        assert QUESTIONS[question] in answer, question
    assert wall < 60
