"""Quotes and file names are shown as text, never as markup: a document holding <script> and <img onerror>, and a
file named like HTML, rendered in headless Chromium (the chat's answer, its sources, the files table, the viewer)."""

from __future__ import annotations

import pytest
from ui_fixtures import ask_in_page, needs_chromium, open_page, served

from qa.config import Settings

pytestmark = [pytest.mark.slow, needs_chromium]

REACTOR = ("The Zorblax reactor opened on May 3 in Lyon. <script>window.__xss = 'script'</script> "
           "Engineers said the Zorblax reactor produces <img src=x onerror=\"window.__xss = 'img'\"> "
           "40 megawatts of power.\n")
HTML_NAME = "<b>x<i>bridge.txt"  # a file name cannot hold "/", so "</b>" cannot be in it
BRIDGE = "The Quux bridge over the Wend river is <b>300 metres</b> long, the council said.\n"


@pytest.fixture(scope="module")
def xss_url(tmp_path_factory, embedder):
    from qa.engine import Engine

    root = tmp_path_factory.mktemp("xss")
    corpus = root / "docs"
    corpus.mkdir()
    (corpus / "reactor.txt").write_text(REACTOR, encoding="utf-8")
    (corpus / HTML_NAME).write_text(BRIDGE, encoding="utf-8")
    from ui_fixtures import free_port

    engine = Engine(Settings(corpus_dir=corpus, index_dir=root / "index", host="127.0.0.1", port=free_port()),
                    embedder=embedder)
    engine.ingest()
    with served(engine) as url:
        yield url


@pytest.fixture
def page(browser, xss_url):
    page = open_page(browser, xss_url)
    page.on("dialog", lambda dialog: dialog.dismiss())
    yield page
    page.context.close()


def no_markup_ran(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-chat img[src='x'], #qa-files b, #qa-viewer img[src='x'], #qa-chat script").count() == 0


def test_a_quoted_script_and_img_show_as_text(page):
    reply = ask_in_page(page, "How many megawatts does the Zorblax reactor produce?")
    page.wait_for_timeout(500)  # an onerror would have fired by now
    shown = reply.inner_text()
    assert "40 megawatts" in shown
    assert "<img src=x" in shown or "<script>" in shown  # the markup is in the quote, as text
    no_markup_ran(page)


def test_a_file_named_like_html_shows_its_name(page):
    assert HTML_NAME in page.locator("#qa-files").inner_text()
    reply = ask_in_page(page, "How long is the Quux bridge over the Wend river?")
    assert "docs/" + HTML_NAME in reply.inner_text()
    assert "<b>300 metres</b>" in reply.inner_text()
    page.locator("#qa-manage").click()
    page.locator("#qa-document input").click()
    page.get_by_role("option", name="docs/" + HTML_NAME).click()
    page.locator("#qa-open-document").click()
    page.wait_for_function("document.querySelector('#qa-viewer')?.innerText.includes('Quux')")
    assert HTML_NAME in page.locator("#qa-viewer").inner_text()
    no_markup_ran(page)
