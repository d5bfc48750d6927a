"""The documents panel in headless Chromium over the real engine and a copy of seeds/: deleting (from the
index only, or from the folder too), a file's chunks, the whole document with a cited span marked, and
"Search only in".

Each test keeps screenshots (desktop and phone width) of the states it checks under its tmp_path.
"""

from __future__ import annotations

import pytest
from ui_fixtures import ask_in_page as ask
from ui_fixtures import needs_chromium, open_page, shots

from qa.ui_documents import DELETE_MODES

pytestmark = [pytest.mark.slow, needs_chromium]

BOT = "#qa-chat [data-testid='bot']"
BAIC = "Is Xiaomi working with BAIC Group?"


@pytest.fixture
def page(browser, app_url):
    page = open_page(browser, app_url)
    yield page
    page.context.close()


def choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown: type to filter its options, then click the option."""
    field = page.locator(f"#{elem_id} input").first
    field.click()
    field.fill(value)
    page.locator(f"#{elem_id} li", has_text=value).first.click()


def manage(page, source: str) -> None:
    """Open "Manage a document" and pick `source` there."""
    if not page.locator("#qa-document").is_visible():
        page.get_by_text("Manage a document").click()
    choose(page, "qa-document", source)


def reindex(page) -> None:
    """Press Re-index and wait for its report (which must differ from the report shown before)."""
    before = page.locator("#qa-status").inner_text()
    page.locator("#qa-reindex").click()
    page.wait_for_function(
        """(before) => { const text = document.querySelector('#qa-status').innerText;
            return text.includes('Re-indexed') && text !== before; }""", arg=before, timeout=120_000)


def table(page) -> str:
    return page.locator("#qa-files").inner_text()


@pytest.mark.parametrize("mode, kept_on_disk", [(DELETE_MODES[0], True), (DELETE_MODES[1], False)])
def test_delete_a_document_from_the_index_or_from_the_folder_too(page, ui_engine, tmp_path, mode, kept_on_disk):
    path = ui_engine.settings.corpus_dir / "ferry.txt"
    path.write_text("The night ferry to Stromness leaves at nine and carries forty cars.\n", encoding="utf-8")
    reindex(page)
    assert "seeds/ferry.txt" in table(page)
    manage(page, "seeds/ferry.txt")
    page.locator("#qa-delete-mode label", has_text=mode).click()
    page.locator("#qa-delete-doc").click()
    page.wait_for_selector("#qa-status :text('seeds/ferry.txt deleted from')", timeout=60_000)
    where = "the index (the file stays in the folder)" if kept_on_disk else "the index and the corpus folder"
    assert f"seeds/ferry.txt deleted from {where}." in page.locator("#qa-status").inner_text()
    assert "seeds/ferry.txt" not in table(page) and "seeds/ferry.txt" not in ui_engine.indexed_files()
    assert path.exists() is kept_on_disk
    assert "seeds/001_52ba53fcb0081ea9.txt" in table(page)  # only that file went
    shots(page, tmp_path, f"m1-deleted-{'index' if kept_on_disk else 'disk'}")
    reindex(page)  # the folder is read again: a file left there comes back
    assert ("seeds/ferry.txt" in table(page)) is kept_on_disk
    if kept_on_disk:  # leave the index as the other tests expect it
        path.unlink()
        reindex(page)
        assert "seeds/ferry.txt" not in table(page)


def test_show_a_documents_chunks(page, ui_engine, tmp_path):
    source = "seeds/003_f0269a577e7ba432.txt"
    manage(page, source)
    page.locator("#qa-show-chunks").click()
    page.wait_for_selector("#qa-viewer .qa-chunks")
    chunks = ui_engine.chunks_of(source)
    assert len(chunks) == ui_engine.indexed_files()[source].chunks > 1
    assert page.locator("#qa-viewer .qa-viewer-title").inner_text() == f"{source}: {len(chunks)} chunks"
    shown = page.locator("#qa-viewer .qa-chunks > li")
    assert shown.count() == len(chunks)
    for item, chunk in zip(shown.all(), chunks, strict=True):
        assert item.locator(".qa-chunk-head").inner_text() == f"characters {chunk.start}–{chunk.end}"
        assert item.locator("p").inner_text().split() == chunk.text.split()
    shots(page, tmp_path, "m2-chunks")


def test_open_the_whole_document_with_the_cited_span_marked(page, ui_engine, tmp_path):
    reply = ask(page, "Which battery suppliers did Xiaomi pick?")
    opener = reply.locator(".qa-source").first.locator(".qa-open")
    source, start, end = (opener.get_attribute(name) for name in ("data-source", "data-start", "data-end"))
    opener.click()
    page.wait_for_selector("#qa-viewer mark#qa-cited")
    text = ui_engine.document_text(source)
    assert page.locator("#qa-viewer .qa-viewer-title").inner_text() == source
    cited = page.locator("#qa-viewer mark#qa-cited").inner_text()
    assert cited.split() == text[int(start):int(end)].split() and "CATL" in cited
    assert reply.locator(".qa-source").first.locator(".qa-quote").inner_text().split() == cited.split()
    assert page.locator("#qa-viewer .qa-document").inner_text().split() == text.split()  # the whole document
    page.wait_for_timeout(500)
    in_sight = """() => { const mark = document.querySelector('#qa-cited').getBoundingClientRect();
        const box = document.querySelector('#qa-viewer .qa-viewer').getBoundingClientRect();
        return mark.top >= Math.max(box.top, 0) && mark.top + 10 <= Math.min(box.bottom, innerHeight); }"""
    assert page.evaluate(in_sight)  # the viewer and its own scroll both show the cited span
    shots(page, tmp_path, "m3-document-open")


def sources_of(reply) -> list[str]:
    return [head.split("·")[0].split("]", 1)[1].strip() for head in reply.locator(".qa-source-head").all_inner_texts()]


def test_search_only_in_cites_only_the_chosen_file(page, tmp_path):
    everywhere = sources_of(ask(page, BAIC))
    chosen = "seeds/000_6b80f3ed1ad5cbb5.txt"  # answers on its own, and is not cited unrestricted
    assert everywhere and chosen not in everywhere, everywhere
    choose(page, "qa-only-in", chosen)
    page.keyboard.press("Escape")
    reply = ask(page, BAIC)
    # Answered or refused (that is the decision's call), every source shown comes from the chosen file.
    assert sources_of(reply) and set(sources_of(reply)) == {chosen}, reply.inner_text()
    assert "BAIC" in reply.inner_text()
    shots(page, tmp_path, "m4-search-only-in")
