"""The chat UI without a model: its HTML, and the served app over a scripted engine through gradio_client."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from ui_fixtures import free_port, serve_app

from qa import ui_render as render
from qa.config import Settings
from qa.ingest import IngestReport
from qa.schema import Answer, Citation, EmptyIndex, InvalidQuestion
from qa.store import IndexedFile
from qa.ui import create_app, serve

CONTEXT = "Intro line.\n\nThe <b>board</b> & staff met on May 3. Then lunch."
QUOTE = "The <b>board</b> & staff met on May 3."
START = 100 + CONTEXT.index(QUOTE)
CITATION = Citation(number=1, source="docs/minutes.txt", quote=QUOTE, start=START, end=START + len(QUOTE), score=0.8,
                    context=CONTEXT, context_start=100)


class ScriptedEngine:
    """Answers by rule and records what it was asked; raises the engine's errors for special questions."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []
        self.settings = Settings()
        self.release_ingest = threading.Event()

    def ask(self, question: str, history=()) -> Answer:
        self.asked.append((question, list(history)))
        if not question.strip():
            raise InvalidQuestion("Please type a question.")
        if question == "empty index":
            raise EmptyIndex("The index is empty. Add documents and run `qa ingest` (or re-index in the chat).")
        if question == "crash":
            raise RuntimeError("secret internals")
        return Answer(text=f"The board met on May 3 about {question}. [1]", citations=[CITATION], question=question)

    def indexed_files(self) -> dict[str, IndexedFile]:
        return {"docs/minutes.txt": IndexedFile("docs/minutes.txt", "abc", 3, 1_700_000_000.0)}

    def add_document(self, filename: str, data: bytes, progress=None) -> IngestReport:
        for done in range(1, 6):
            time.sleep(0.2)
            progress(done, 5)
        return IngestReport(added=[filename], chunks_embedded=5)

    def ingest(self, progress=None) -> IngestReport:
        self.release_ingest.wait(timeout=30)
        return IngestReport(unchanged=["docs/minutes.txt"])


def test_answer_html_escapes_text_and_marks_the_quote_inside_its_context():
    page = render.render_answer(Answer(text=f"{QUOTE} [1]", citations=[CITATION]))
    assert "\n" not in page  # one HTML block: the chat's Markdown renderer leaves it alone
    assert "<b>" not in page and "&lt;b&gt;board&lt;/b&gt; &amp; staff" in page
    assert '<span class="qa-ref">[1]</span>' in page
    assert "<code>docs/minutes.txt</code>" in page
    assert '<div class="qa-quote"><mark>The &lt;b&gt;board' in page
    details = re.search(r"<details.*?</details>", page).group(0)
    marked = "<mark>The &lt;b&gt;board&lt;/b&gt; &amp; staff met on May 3.</mark>"
    assert f"Intro line.<br><br>{marked} Then lunch." in details


def test_refusal_is_labelled_and_offers_closest_passages():
    page = render.render_answer(Answer(text="The documents don't say.", citations=[CITATION], refused=True))
    assert 'class="qa-refusal"' in page and "No answer found." in page
    assert "Closest passages (not an answer)" in page and "qa-answer" not in page


def test_context_is_left_out_when_it_does_not_hold_the_quote():
    moved = Citation(1, "docs/minutes.txt", QUOTE, START, START + len(QUOTE), 0.8, context="other text")
    assert "<details" not in render.source_block(moved)


def test_streaming_steps_grow_towards_the_full_text():
    text = " ".join(f"w{i}" for i in range(20))
    steps = list(render.stream_steps(text, words_per_step=6))
    assert steps == [" ".join(f"w{i}" for i in range(n)) for n in (6, 12, 18)]


def test_file_rows_and_status_are_escaped():
    assert render.file_rows(ScriptedEngine().indexed_files())[0][:2] == ["docs/minutes.txt", 3]
    html = render.status(["a <ok>"], ["<bad>.txt was not added: binary"])
    assert "&lt;bad&gt;.txt was not added" in html and "<bad>" not in html


@pytest.fixture(scope="module")
def scripted():
    engine = ScriptedEngine()
    demo = create_app(engine)
    url = serve_app(demo, Settings(port=free_port()))
    yield engine, url
    demo.close()


def _reply(result) -> str:
    """The text of the last chat message in an /ask result."""
    _, messages = result
    return messages[-1]["content"][0]["text"]


def test_each_session_passes_its_own_questions_as_history(scripted):
    engine, url = scripted
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    first.predict("Who met?", [], api_name="/ask")
    second.predict("Where?", [], api_name="/ask")
    _, messages = first.predict("And when?", [], api_name="/ask")
    assert ("And when?", ["Who met?"]) in engine.asked
    assert ("Where?", []) in engine.asked
    assert "May 3" in messages[-1]["content"][0]["text"]


def test_answers_stream_in_pieces(scripted):
    _, url = scripted
    job = Client(url, verbose=False).submit("a long question with many words in it to stream", [], api_name="/ask")
    job.result()
    replies = [messages[-1]["content"][0]["text"] for _, messages in job.outputs()]
    assert "Searching the documents" in replies[0]
    assert any("qa-partial" in reply for reply in replies[1:-1])
    assert "qa-sources" in replies[-1]


@pytest.mark.parametrize("question, message", [
    ("", "Please type a question."),
    ("empty index", "The index is empty."),
    ("crash", "Something went wrong; the server log has the details."),
])
def test_errors_are_clear_messages_not_tracebacks(scripted, question, message):
    _, url = scripted
    reply = _reply(Client(url, verbose=False).predict(question, [], api_name="/ask"))
    assert 'class="qa-error"' in reply and message in reply
    assert "Traceback" not in reply and "secret internals" not in reply


def test_login_is_required_when_auth_is_set():
    settings = Settings(port=free_port(), auth="alice:s3cret")
    demo = create_app(ScriptedEngine())
    url = serve_app(demo, settings)
    try:
        assert httpx.get(f"{url}config").status_code == 401
        reply = _reply(Client(url, auth=("alice", "s3cret"), verbose=False).predict("Who met?", [], api_name="/ask"))
        assert "May 3" in reply
    finally:
        demo.close()


def test_malformed_auth_is_refused_before_serving():
    with pytest.raises(ValueError, match="user:password"):
        serve(create_app(ScriptedEngine()), Settings(port=free_port(), auth="alice"), prevent_thread_lock=True)


def test_upload_shows_progress_then_reports(scripted, tmp_path):
    _, url = scripted
    note = tmp_path / "notes.txt"
    note.write_text("Some notes.", encoding="utf-8")
    job = Client(url, verbose=False).submit([handle_file(str(note))], api_name="/upload")
    seen = set()
    while not job.done():
        for unit in job.status().progress_data or []:
            seen.add((unit.desc, unit.unit))
        time.sleep(0.05)
    rows, status, _ = job.result()
    assert ("Indexing notes.txt", "chunks") in seen
    assert "notes.txt added" in status and rows["data"][0][0] == "docs/minutes.txt"


def test_empty_index_while_building_says_so(scripted):
    engine, url = scripted
    job = Client(url, verbose=False).submit(api_name="/reindex")
    try:
        deadline = time.monotonic() + 10
        while job.status().code != Status.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.05)
        reply = _reply(Client(url, verbose=False).predict("empty index", [], api_name="/ask"))
        assert "The index is being built; ask again in a moment." in reply
    finally:
        engine.release_ingest.set()
    assert "Re-indexed" in job.result()[1]
