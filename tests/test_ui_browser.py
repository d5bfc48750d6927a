"""The chat as a person uses it: real app, real engine over seeds/, headless Chromium.

Each test keeps screenshots of the states it checks under its tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from ui_fixtures import REPO, free_port, needs_chromium, open_page, served, shots

pytestmark = [pytest.mark.slow, needs_chromium]

BOT = "#qa-chat [data-testid='bot']"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + bytes(range(256)) * 4


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#qa-chat")
    page.wait_for_function("document.querySelector('#qa-files')?.innerText.includes('seeds/')")  # filled on load
    page.locator("#qa-new-chat").click()  # each test starts its own chat
    page.wait_for_timeout(500)
    yield page
    context.close()


def ask(page, question: str, timeout: float = 30_000):
    """Type a question, press Enter, and return the finished reply (after streaming)."""
    before = page.locator(BOT).count()
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    return finished_reply(page, before, timeout)


def finished_reply(page, before: int, timeout: float = 30_000):
    page.wait_for_function(
        """([selector, before]) => {
            const bots = document.querySelectorAll(selector);
            if (bots.length <= before) return false;
            const last = bots[bots.length - 1];
            return !last.querySelector('.qa-pending, .qa-partial');
        }""",
        arg=[BOT, before], timeout=timeout,
    )
    return page.locator(BOT).last


def shot(page, tmp_path, name: str) -> None:
    """Screenshot the page with the latest question scrolled to the top of the chat."""
    page.wait_for_timeout(600)  # let the chat's own smooth scrolling finish first
    page.evaluate("""() => {
        const log = document.querySelector("#qa-chat [role=log]");
        const asked = document.querySelectorAll("#qa-chat [data-testid=user]");
        if (log && asked.length) log.scrollTop += asked[asked.length - 1].getBoundingClientRect().top
                                                   - log.getBoundingClientRect().top - 40;
    }""")
    page.wait_for_timeout(300)
    page.screenshot(path=tmp_path / f"{name}.png")  # full_page would resize the page, and the chat re-scrolls


def test_answer_cites_and_highlights_its_source(page, tmp_path):
    assert page.get_by_text("Which battery suppliers did Xiaomi pick?").is_visible()  # examples on a fresh start
    shot(page, tmp_path, "0-fresh-start")

    reply = ask(page, "Which battery suppliers did Xiaomi pick?")
    answer = reply.locator(".qa-answer > p").inner_text()
    assert "CATL" in answer and "[1]" in answer
    source = reply.locator(".qa-source").first
    assert source.locator(".qa-source-head").inner_text().startswith("[1]")
    assert "seeds/001_52ba53fcb0081ea9.txt" in source.inner_text()
    assert "CATL" in source.locator(".qa-quote mark").inner_text()
    context = source.locator("details.qa-context")
    assert not context.locator("p").is_visible()  # context only on demand
    shot(page, tmp_path, "1-answer")

    context.locator("summary").click()
    assert context.locator("p").is_visible()
    assert "CATL" in context.locator("mark").inner_text()
    assert len(context.locator("p").inner_text()) > len(context.locator("mark").inner_text())
    shot(page, tmp_path, "2-context-open")


def test_follow_up_uses_this_chat_only(page, browser, app_url, tmp_path):
    ask(page, "Which battery suppliers did Xiaomi pick?")
    reply = ask(page, "When was that reported?")
    assert "August 17" in reply.locator(".qa-answer > p").inner_text()
    assert "CATL" in reply.locator(".qa-quote mark").first.inner_text()
    shot(page, tmp_path, "3-follow-up")
    switched = ask(page, "And when is Apple planning its first car?")  # reads as a follow-up, asks anew
    assert "2025" in switched.locator(".qa-answer > p").inner_text()

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(app_url)
    other.wait_for_selector("#qa-chat")
    alone = ask(other, "When was that reported?")
    assert "August 17" not in alone.inner_text()  # another session has no battery question behind it
    shot(other, tmp_path, "4-other-session")
    other.context.close()


@pytest.mark.parametrize("question", [
    "What is the top speed of Xiaomi's car?",
    "Who won the 2022 World Cup?",
])
def test_unanswerable_question_is_refused_with_closest_passages(page, tmp_path, question):
    reply = ask(page, question)
    shot(page, tmp_path, "5-refusal")
    assert reply.locator(".qa-refusal-label").inner_text() == "No answer found."
    assert "don't say" in reply.locator(".qa-refusal-banner").inner_text()
    assert reply.locator(".qa-sources-title").text_content() == "Closest passages (not an answer)"
    assert reply.locator(".qa-source").count() >= 1


def test_example_click_and_clear_messages_for_bad_questions(page, tmp_path):
    before = page.locator(BOT).count()
    page.get_by_text("Is Xiaomi working with BAIC Group?").click()
    reply = finished_reply(page, before)
    assert "BAIC" in reply.inner_text() and reply.locator(".qa-source").count() >= 1

    reply = ask(page, "?!")
    assert "no letters or digits" in reply.locator(".qa-error").inner_text()
    assert "Traceback" not in page.content()
    shot(page, tmp_path, "6-examples-and-errors")


def test_upload_a_document_then_ask_about_it(page, ui_engine, tmp_path):
    note = tmp_path / "lighthouse.txt"
    note.write_text("The Skerryvore lighthouse keeper feeds the gulls every Tuesday at dawn. "
                    "The Skerryvore lighthouse was lit for the first time in 1844.\n", encoding="utf-8")
    page.locator("#qa-upload input[type=file]").set_input_files(str(note))
    page.wait_for_selector("#qa-status .qa-status-ok", timeout=60_000)
    assert "lighthouse.txt added" in page.locator("#qa-status").inner_text()
    assert "seeds/lighthouse.txt" in page.locator("#qa-files").inner_text()
    assert (ui_engine.settings.corpus_dir / "lighthouse.txt").read_bytes() == note.read_bytes()
    shot(page, tmp_path, "7-uploaded")

    reply = ask(page, "When was the Skerryvore lighthouse first lit?")
    assert "1844" in reply.locator(".qa-answer > p").inner_text()
    assert "seeds/lighthouse.txt" in reply.locator(".qa-source-head").first.inner_text()
    shot(page, tmp_path, "8-answer-from-upload")


def test_binary_upload_is_reported_not_indexed(page, ui_engine, tmp_path):
    fake = tmp_path / "scan.txt"
    fake.write_bytes(PNG)
    page.locator("#qa-upload input[type=file]").set_input_files(str(fake))
    page.wait_for_selector("#qa-status .qa-status-bad", timeout=60_000)
    report = page.locator("#qa-status").inner_text()
    assert "scan.txt was not added: binary or not decodable as text" in report
    assert not (ui_engine.settings.corpus_dir / "scan.txt").exists()
    assert "scan.txt" not in page.locator("#qa-files").inner_text()
    shot(page, tmp_path, "9-binary-upload")


def test_reindex_button_reports_the_folder(page, tmp_path):
    page.locator("#qa-reindex").click()
    page.wait_for_selector("#qa-status .qa-status-ok", timeout=60_000)
    assert "Re-indexed:" in page.locator("#qa-status").inner_text()
    assert "seeds/000_6b80f3ed1ad5cbb5.txt" in page.locator("#qa-files").inner_text()
    shot(page, tmp_path, "10-reindexed")


def test_upload_never_replaces_a_file_unasked(page, ui_engine, tmp_path):
    original = ui_engine.settings.corpus_dir / "000_6b80f3ed1ad5cbb5.txt"
    before = original.read_bytes()
    clash = tmp_path / original.name
    clash.write_text("A different text about the Skerryvore lighthouse keeper.\n", encoding="utf-8")
    page.locator("#qa-upload input[type=file]").set_input_files(str(clash))
    page.wait_for_selector("#qa-replace-row #qa-keep", timeout=60_000)
    assert "already exists" in page.locator("#qa-status").inner_text()
    assert original.read_bytes() == before
    shots(page, tmp_path, "d3-asks-before-replacing")
    page.locator("#qa-keep").click()
    page.wait_for_selector("#qa-status :text('Kept the original')")
    assert original.read_bytes() == before
    page.locator("#qa-upload input[type=file]").set_input_files(str(clash))
    page.locator("#qa-replace").click()
    page.wait_for_selector("#qa-status :text('replaced')", timeout=60_000)
    assert original.read_bytes() == clash.read_bytes()
    original.write_bytes(before)
    page.locator("#qa-reindex").click()
    page.wait_for_selector("#qa-status :text('Re-indexed')", timeout=60_000)


@pytest.mark.parametrize("name", ["photo.png", "archive.zip"])
def test_a_refused_upload_says_why_and_the_upload_area_still_works(page, tmp_path, name):
    refused = tmp_path / name
    refused.write_bytes(PNG)
    page.locator("#qa-upload input[type=file]").set_input_files(str(refused))
    page.wait_for_selector("#qa-status .qa-status-bad", timeout=60_000)
    assert f"{name}" in page.locator("#qa-status").inner_text() and "qa reads" in page.locator("#qa-status").inner_text()
    assert "Error" not in page.locator("#qa-upload").inner_text()
    assert page.locator("#qa-upload input[type=file]").count() == 1
    page.wait_for_timeout(6000)  # toasts are gone by now; the reason stays
    assert "qa reads" in page.locator("#qa-status").inner_text()
    shots(page, tmp_path, "d7-refused-upload")


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_an_empty_or_missing_corpus_starts_and_says_what_to_do(browser, tmp_path, folder):
    corpus = tmp_path / "docs"
    if folder == "empty":
        corpus.mkdir()
    port = free_port()
    env = {**os.environ, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(tmp_path / "index"), "QA_PORT": str(port),
           "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, str(REPO / "app.py")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
        deadline = time.monotonic() + 120
        while True:
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                break
            except PlaywrightError:
                assert server.poll() is None and time.monotonic() < deadline, "the chat did not start"
                time.sleep(1)
        page.wait_for_selector("#qa-status :text('The index is empty')")
        reply = ask(page, "What is in the documents?")
        assert "The index is empty" in reply.inner_text()
        shots(page, tmp_path, f"d8-{folder}-corpus")
        page.context.close()
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output


def test_reindex_shows_files_then_chunks_at_once(page, ui_engine, tmp_path):
    added = ui_engine.settings.corpus_dir / "zz-long.txt"
    added.write_text(" ".join(f"Line {n} says the harbour pilot boarded ship number {n}." for n in range(600)),
                     encoding="utf-8")
    page.locator("#qa-reindex").click()
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Re-indexed" not in page.locator("#qa-status").inner_text():
        text = page.locator("#qa-files").evaluate("e => e.closest('.block')?.innerText || e.innerText")
        seen |= {word for word in ("files", "chunks") if f"Re-indexing: {word}" in text}
        page.wait_for_timeout(50)
    assert "chunks" in seen, seen
    shots(page, tmp_path, "d13-reindexed")
    added.unlink()
    page.locator("#qa-reindex").click()
    page.wait_for_selector("#qa-status :text('1 removed')", timeout=60_000)


def test_examples_only_when_the_settings_name_some(browser, ui_engine, tmp_path):
    with served(ui_engine, ui_engine.settings.model_copy(update={"port": free_port()}), examples=[]) as url:
        page = open_page(browser, url)
        assert page.get_by_text("Which battery suppliers did Xiaomi pick?").count() == 0
        shots(page, tmp_path, "d14-no-examples")
        page.context.close()
