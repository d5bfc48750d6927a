"""The chat's own behaviour in headless Chromium, over a scripted engine that answers slowly on purpose.

Each test keeps screenshots (desktop and phone width) of the states it checks under its tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import CITATION, ScriptedEngine
from ui_fixtures import needs_chromium, open_page, served, shots

from qa.history import History
from qa.schema import Answer

pytestmark = [pytest.mark.slow, needs_chromium]

BOT = "#qa-chat [data-testid='bot']"
USER = "#qa-chat [data-testid='user']"
BOX = "#qa-question textarea"
LONG = " ".join(f"Sentence {n} of a long answer about the board meeting." for n in range(60)) + " [1]"


class SlowEngine(ScriptedEngine):
    """Takes `delay` seconds per answer; "long" gets a long answer, "nothing" a refusal."""

    def ask(self, question: str, history=(), sources=None) -> Answer:
        answer = super().ask(question, history, sources)
        if question == "long":
            return Answer(text=LONG, citations=[CITATION], question=question)
        if question == "nothing":
            return Answer(text="The documents don't say.", citations=[CITATION] * 3, refused=True, question=question)
        return answer


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    engine = SlowEngine(tmp_path_factory.mktemp("slow"), delay=1.5, max_question_chars=60, examples=["Who met?"])
    with served(engine) as url:
        yield engine, url


@pytest.fixture
def page(browser, slow):
    page = open_page(browser, slow[1])
    yield page
    page.context.close()


def answered(page, count: int, timeout: float = 30_000) -> None:
    """Wait until the chat shows `count` answers, none of them pending."""
    page.wait_for_function(
        """([bot, count]) => {
            const bots = document.querySelectorAll(bot);
            return bots.length === count && ![...bots].some(b => b.querySelector('.qa-pending'));
        }""", arg=[BOT, count], timeout=timeout)


def ask(page, question: str) -> None:
    box = page.locator(BOX)
    box.fill(question)
    box.press("Enter")


def test_a_question_sent_while_an_answer_arrives_is_kept(page, tmp_path):
    ask(page, "Who met?")
    page.wait_for_selector(f"{BOT} .qa-pending")
    ask(page, "Where did they meet?")
    answered(page, 2)
    asked = page.locator(USER).all_inner_texts()
    assert asked == ["Who met?", "Where did they meet?"]
    assert "about Where did they meet?" in page.locator(BOT).last.inner_text()
    shots(page, tmp_path, "d1-two-questions")


def test_typing_while_an_answer_is_computed_is_not_erased(page, tmp_path):
    ask(page, "Who met?")
    page.wait_for_selector(f"{BOT} .qa-pending")
    page.locator(BOX).press_sequentially("Which battery suppliers", delay=60)
    answered(page, 1)
    page.wait_for_timeout(300)
    assert page.locator(BOX).input_value() == "Which battery suppliers"
    shots(page, tmp_path, "d2-typing-kept")


def test_copy_gives_markdown_with_sources(page, tmp_path):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ask(page, "Who met?")
    answered(page, 1)
    page.locator(f"{BOT} .qa-copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("The board met on May 3 about Who met?. [1]\n\nSources:\n\n[1] `docs/minutes.txt`")
    assert "<div" not in copied and "> The <b>board</b> & staff met on May 3." in copied
    shots(page, tmp_path, "d4-copied")


def test_a_new_answer_shows_its_start(page, tmp_path):
    ask(page, "long")
    answered(page, 1)
    page.wait_for_timeout(500)
    top = page.evaluate("""() => {
        const log = document.querySelector('#qa-chat [role=log]').getBoundingClientRect();
        const text = document.querySelector('#qa-chat [data-testid=bot] .qa-answer > p').getBoundingClientRect();
        return [text.top - log.top, log.bottom - text.top];
    }""")
    assert top[0] >= 0 and top[1] > 40, top  # the answer's first line is inside the visible chat
    shots(page, tmp_path, "d5-long-answer-start")
    page.set_viewport_size({"width": 390, "height": 844})
    ask(page, "nothing")
    answered(page, 2)
    page.wait_for_timeout(500)
    banner = page.locator(f"{BOT} .qa-refusal-banner").last
    assert banner.is_visible() and banner.bounding_box()["y"] >= 0
    log_box = page.locator("#qa-chat [role=log]").bounding_box()
    assert log_box["y"] <= banner.bounding_box()["y"] <= log_box["y"] + log_box["height"] - 20
    shots(page, tmp_path, "d5-phone-refusal")


def test_a_too_long_question_stays_in_the_box_to_be_trimmed(page, tmp_path):
    question = "Who met on the day the board and the staff had lunch at the harbour?"  # 69 > 60
    ask(page, question)
    page.wait_for_selector("#qa-question-note .qa-note")
    assert "the limit is 60" in page.locator("#qa-question-note").inner_text()
    assert page.locator(BOX).input_value() == question
    assert page.locator(USER).count() == 0
    shots(page, tmp_path, "d6-too-long")


def test_enter_on_an_empty_box_adds_nothing_and_ask_is_disabled(page, tmp_path):
    submit = page.locator("#qa-question button.submit-button")
    assert submit.is_disabled()
    page.locator(BOX).press("Enter")
    page.locator(BOX).fill("   ")
    page.locator(BOX).press("Enter")
    page.wait_for_timeout(800)
    assert page.locator(BOT).count() == 0 and submit.is_disabled()
    page.locator(BOX).fill("Who met?")
    assert submit.is_enabled()
    shots(page, tmp_path, "d9-empty-box")


def test_focus_returns_to_the_question_box(page, tmp_path):
    page.get_by_role("button", name="Who met?").click()
    answered(page, 1)
    assert page.evaluate("document.activeElement.matches('#qa-question textarea')")
    page.locator(BOX).fill("Where?")
    page.locator("#qa-question button.submit-button").click()
    answered(page, 2)
    assert page.evaluate("document.activeElement.matches('#qa-question textarea')")
    shots(page, tmp_path, "d10-focus")


CONTRAST = """(selector) => {
    const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (element) => {
        for (let e = element; e; e = e.parentElement) {
            const c = getComputedStyle(e).backgroundColor;
            if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return rgb(c);
        }
        return [255, 255, 255];
    };
    const element = document.querySelector(selector);
    const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(background(element))];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_markers_and_labels_are_readable_and_named(browser, slow, tmp_path, theme):
    page = open_page(browser, f"{slow[1]}?__theme={theme}")
    ask(page, "Who met?")
    answered(page, 1)
    ask(page, "nothing")
    answered(page, 2)
    ask(page, "crash")
    answered(page, 3)
    for selector in [f"{BOT} button.qa-ref", f"{BOT} .qa-refusal-label", f"{BOT} .qa-error-label",
                     f"{BOT} .qa-sources-title"]:
        assert page.evaluate(CONTRAST, selector) >= 4.5, (theme, selector)
    assert "No answer found. The documents" in page.locator(f"{BOT} .qa-refusal-banner").inner_text()
    assert "Can’t answer: Something" in page.locator(f"{BOT} .qa-error").inner_text()
    labels = page.eval_on_selector_all("#qa-chat [aria-label]", "els => els.map(e => e.getAttribute('aria-label'))")
    assert not [label for label in labels if "<div" in label or "class=" in label]
    assert page.get_by_role("textbox", name="Question").count() == 1
    assert "<div" not in page.locator("#qa-chat").aria_snapshot()
    shots(page, tmp_path, f"d11-{theme}")
    page.context.close()


def test_phone_width_layout(browser, slow, tmp_path):
    page = open_page(browser, slow[1], width=390, height=844)
    page.wait_for_timeout(800)
    covered = """() => { const box = document.querySelector('#qa-question textarea').getBoundingClientRect();
        return !document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2)?.closest('#qa-question'); }"""
    page.locator(BOX).scroll_into_view_if_needed()
    assert not page.evaluate(covered)  # the list of chats is folded away on a phone
    header = page.locator("#qa-files th").nth(1)
    header.scroll_into_view_if_needed()
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#qa-files th')).fontSize)")
    assert header.inner_text().strip() == "Chunks" and header.locator("span").first.bounding_box()["height"] < 2 * line
    assert page.locator("#qa-chat label, #qa-chat [data-testid=block-label]").filter(has_text="Conversation").count() == 0
    label = page.locator("#qa-upload-label").bounding_box()
    upload = page.locator("#qa-upload").bounding_box()
    assert label["y"] + label["height"] <= upload["y"] + 1  # the label sits above the drop area
    shots(page, tmp_path, "d12-phone")
    page.context.close()


def test_the_browser_stores_no_questions_or_answers(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert "Who met" not in stored and "qa-answer" not in stored and "May 3" not in stored
    shots(page, tmp_path, "d15-storage")


def test_chats_persist_across_reloads_and_are_listed(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    page.reload()
    page.wait_for_selector(f"{BOT} .qa-answer")
    assert page.locator(USER).all_inner_texts() == ["Who met?"]
    page.locator("#qa-new-chat").click()
    page.wait_for_function(f"document.querySelectorAll(\"{BOT}\").length === 0")
    ask(page, "Where?")
    answered(page, 1)
    assert page.locator("#qa-chats label").all_inner_texts() == ["Where?", "Who met?"]
    page.locator("#qa-chats label", has_text="Who met?").click()
    page.wait_for_function(f"document.querySelector(\"{USER}\")?.innerText === 'Who met?'")
    title = page.locator("#qa-title textarea, #qa-title input").first
    title.fill("Board meeting")
    title.press("Enter")
    page.wait_for_selector("#qa-chats label:has-text('Board meeting')")
    shots(page, tmp_path, "f-chat-list")
    page.locator("#qa-delete-chat").click()
    page.wait_for_function("![...document.querySelectorAll('#qa-chats label')].some(l => l.innerText.includes('Board'))")
    assert page.locator(USER).all_inner_texts() == ["Where?"]


def test_stop_marks_the_answer_stopped(page, tmp_path):
    ask(page, "Who met?")
    page.wait_for_selector(f"{BOT} .qa-pending")
    page.locator("#qa-stop").click()
    page.wait_for_selector(f"{BOT} .qa-stopped")
    page.wait_for_timeout(2000)  # the answer that arrives after Stop is dropped
    assert page.locator(f"{BOT} .qa-answer").count() == 0
    shots(page, tmp_path, "f-stopped")


def test_feedback_is_stored_with_a_comment(page, slow, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    page.locator("#qa-chat").get_by_role("button", name="Like").last.click()
    comment = page.locator("#qa-comment textarea")
    comment.wait_for()
    comment.fill("Exactly right")
    comment.press("Enter")
    page.wait_for_selector("#qa-question-note .qa-status-ok")
    shots(page, tmp_path, "f-feedback")
    rated = History(slow[0].settings.history_folder).feedback()
    assert any(item.rating == 1 and item.comment == "Exactly right" and item.question == "Who met?" for item in rated)


def test_markers_lead_to_their_source_and_export_is_markdown(page, tmp_path):
    ask(page, "Who met?")
    answered(page, 1)
    page.locator(f"{BOT} button.qa-ref").first.click()
    page.wait_for_selector(f"{BOT} .qa-source.qa-flash")
    shots(page, tmp_path, "f-marker-flash")
    page.locator("#qa-export").click()
    link = page.locator("#qa-exported a").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Who met?\n\n## Who met?\n\nThe board met on May 3") and "Sources:" in text
