"""Twenty chats at once through Gradio's client, five questions each, each getting its own answers."""

from __future__ import annotations

import html
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

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


def chat_session(url: str, questions: list[str]) -> list[tuple[str, list[dict], float]]:
    """One session: its own client, several questions in turn, each in a new chat (they are unrelated)."""
    client = Client(url, verbose=False)
    results = []
    for question in questions:
        client.predict("", api_name="/new_chat")
        started = time.perf_counter()
        messages = client.submit(question, "", api_name="/ask").result(timeout=120)[2]
        results.append((question, messages, time.perf_counter() - started))
    return results


def test_twenty_concurrent_sessions_of_five_questions_each_get_their_own_answers(app_url):
    questions = list(QUESTIONS)
    sessions = [[questions[(first + n) % len(questions)] for n in range(5)] for first in range(20)]
    chat_session(app_url, questions[:2])  # warm up
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        results = list(pool.map(lambda asked: chat_session(app_url, asked), sessions))
    wall = time.perf_counter() - started
    latencies = sorted(seconds for session in results for _, _, seconds in session)
    p50, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
    print(f"\n20 sessions x 5 questions: wall {wall:.1f} s; per answer p50 {p50:.2f} s, p95 {p95:.2f} s")
    for session in results:
        for question, messages, _ in session:
            assert len(messages) == 2, "a chat saw another chat's messages"
            assert html.escape(question) in messages[-2]["content"][0]["text"]
            answer = messages[-1]["content"][0]["text"]
            assert "qa-sources" in answer and "qa-refusal" not in answer and "qa-error" not in answer, question
            assert QUESTIONS[question] in answer, question
