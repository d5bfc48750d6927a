"""Shared pieces of the UI tests: an engine over a temporary copy of seeds/, a served app, headless Chromium.

conftest.py loads this module as a plugin, so its fixtures are everywhere; they are module-scoped:
each module gets its own engine, server and browser, closed when the module ends.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qa.config import Settings

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="/usr/bin/chromium is not installed (apt-get install chromium)")

SEEDS_EXAMPLES = ["Which battery suppliers did Xiaomi pick?", "When will Xiaomi's first car go into mass production?",
                  "Is Xiaomi working with BAIC Group?"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seeds_settings(folder: Path, **overrides) -> Settings:
    """Settings over a fresh copy of seeds/ inside `folder`, serving on a free local port."""
    shutil.copytree(REPO / "seeds", folder / "seeds")
    return Settings(corpus_dir=folder / "seeds", index_dir=folder / "index", host="127.0.0.1", port=free_port(),
                    **overrides)


def serve_app(demo, settings: Settings) -> str:
    """Serve `demo` in this process without blocking; returns its URL. Close with demo.close()."""
    from qa.ui import serve

    serve(demo, settings, prevent_thread_lock=True, quiet=True)
    return f"http://{settings.host}:{settings.port}/"


@contextmanager
def served(engine, settings: Settings | None = None, **app_options) -> Iterator[str]:
    """The chat over `engine` served on 127.0.0.1 (engine.settings unless `settings`) until the block ends."""
    from qa.ui import create_app

    demo = create_app(engine, **app_options)
    try:
        yield serve_app(demo, settings or engine.settings)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def ui_engine(tmp_path_factory, embedder):
    """One real engine per test module over an indexed copy of seeds/, with the session's model."""
    from qa.engine import Engine

    engine = Engine(seeds_settings(tmp_path_factory.mktemp("corpus"), examples=SEEDS_EXAMPLES), embedder=embedder)
    engine.ingest()
    return engine


@pytest.fixture(scope="module")
def app_url(ui_engine):
    """The chat served on 127.0.0.1 for this module; closed afterwards."""
    with served(ui_engine) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright, kept off the network."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str, width: int = 1366, height: int = 800, **options):
    """A fresh browser context (its own storage) on the chat, once the chat and its list have loaded."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#qa-chat")
    page.wait_for_function("document.querySelector('#qa-files')?.innerText.includes('/')")  # filled on load
    page.wait_for_selector("#qa-chats label")  # the browser's id and chat, from their own load event
    return page


def shots(page, folder: Path, name: str) -> None:
    """Screenshots of the current state at desktop (1366x800) and phone (390x844) width."""
    size = page.viewport_size
    for width, height in [(1366, 800), (390, 844)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)
        page.screenshot(path=folder / f"{name}-{width}.png")
    page.set_viewport_size(size)


BOT = "#qa-chat [data-testid='bot']"


def ask_in_page(page, question: str, timeout: float = 60_000):
    """Ask in the page and return the finished last reply."""
    before = page.locator(BOT).count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    page.wait_for_function(
        """([bot, before]) => { const bots = document.querySelectorAll(bot);
            return bots.length > before && !bots[bots.length - 1].querySelector('.qa-pending'); }""",
        arg=[BOT, before], timeout=timeout)
    return page.locator(BOT).last
