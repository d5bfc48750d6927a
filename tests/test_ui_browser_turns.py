"""Retry and Edit in headless Chromium, over the slow scripted engine of test_ui_browser_chat.

Each test keeps screenshots (desktop and phone width) of the states it checks under its tmp_path.
"""

from __future__ import annotations

import pytest
from test_ui_browser_chat import BOT, BOX, USER, SlowEngine, answered, ask
from ui_fixtures import needs_chromium, open_page, served, shots

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def slow_url(tmp_path_factory):
    engine = SlowEngine(tmp_path_factory.mktemp("turns"), delay=1.5, max_question_chars=60)
    with served(engine) as url:
        yield url


@pytest.fixture
def page(browser, slow_url):
    page = open_page(browser, slow_url)
    yield page
    page.context.close()


def answer_about(page, question: str, timeout: float = 30_000) -> None:
    """Wait until the last answer is the scripted engine's answer to `question`."""
    page.wait_for_function(
        """([bot, text]) => { const bots = document.querySelectorAll(bot);
            return bots.length && bots[bots.length - 1].querySelector('.qa-answer')?.innerText.includes(text); }""",
        arg=[BOT, f"about {question}."], timeout=timeout)


def test_retry_after_stop_shows_a_new_answer_and_keeps_the_box(page, tmp_path):
    ask(page, "Who met?")
    page.wait_for_selector(f"{BOT} .qa-pending")
    page.locator("#qa-stop").click()
    page.wait_for_selector(f"{BOT} .qa-stopped")
    page.locator(BOX).fill("Where did they")  # the next question, half typed
    shots(page, tmp_path, "r1-stopped")
    page.locator("#qa-chat").get_by_role("button", name="Retry").click()
    answer_about(page, "Who met?")
    assert page.locator(USER).all_inner_texts() == ["Who met?"]
    assert page.locator(f"{BOT} .qa-stopped").count() == 0 and page.locator(BOT).count() == 1
    assert page.locator(BOX).input_value() == "Where did they"
    shots(page, tmp_path, "r2-retried")
    page.reload()  # what is shown is what was saved
    answer_about(page, "Who met?")
    assert page.locator(USER).all_inner_texts() == ["Who met?"]


def test_retry_answers_the_last_question_again(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    ask(page, "Where?")
    answered(page, 2)
    page.locator("#qa-chat").get_by_role("button", name="Retry").click()
    page.wait_for_selector(f"{BOT} .qa-pending")  # the answer is computed again, not just redrawn
    answer_about(page, "Where?")
    assert page.locator(USER).all_inner_texts() == ["Who met?", "Where?"]
    assert page.locator(BOT).count() == 2
    shots(page, tmp_path, "r3-retried-last")


def test_edit_the_last_question_and_get_its_answer(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    ask(page, "Where?")
    answered(page, 2)
    page.locator(USER).last.hover()
    page.locator("#qa-chat").get_by_role("button", name="Edit").last.click()
    editor = page.locator("#qa-chat textarea.edit-textarea")
    editor.wait_for()
    page.wait_for_function("document.querySelector('#qa-chat textarea.edit-textarea')?.value === 'Where?'")
    shots(page, tmp_path, "r4-editing")  # the question as typed, not its HTML
    editor.fill("Where did the board meet?")
    page.locator("#qa-chat").get_by_role("button", name="Submit").click()
    answer_about(page, "Where did the board meet?")
    assert page.locator(USER).all_inner_texts() == ["Who met?", "Where did the board meet?"]
    assert page.locator(BOT).count() == 2
    shots(page, tmp_path, "r5-edited")
    page.reload()
    answer_about(page, "Where did the board meet?")
    assert page.locator(USER).all_inner_texts() == ["Who met?", "Where did the board meet?"]


def test_an_edit_to_nothing_keeps_the_chat(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    page.locator(USER).last.hover()
    page.locator("#qa-chat").get_by_role("button", name="Edit").last.click()
    page.locator("#qa-chat textarea.edit-textarea").fill("   ")
    page.locator("#qa-chat").get_by_role("button", name="Submit").click()
    page.wait_for_selector("#qa-question-note :text('empty question was not asked')")
    assert page.locator(USER).all_inner_texts() == ["Who met?"]
    answer_about(page, "Who met?")
    shots(page, tmp_path, "r6-empty-edit")
