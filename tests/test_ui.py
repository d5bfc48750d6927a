"""The chat UI without a model: its HTML, and the served app over a scripted engine through gradio_client."""

from __future__ import annotations

import html
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from ui_fixtures import free_port, served

from qa import ui_render as render
from qa.config import Settings
from qa.ingest import IngestReport
from qa.schema import Answer, Citation, EmptyIndex, InvalidQuestion
from qa.store import IndexedFile
from qa.ui import create_app, serve
from qa.ui_text import answer_markdown

CONTEXT = "Intro line.\n\nThe <b>board</b> & staff met on May 3. Then lunch."
QUOTE = "The <b>board</b> & staff met on May 3."
START = 100 + CONTEXT.index(QUOTE)
CITATION = Citation(number=1, source="docs/minutes.txt", quote=QUOTE, start=START, end=START + len(QUOTE), score=0.8,
                    context=CONTEXT, context_start=100)


class ScriptedEngine:
    """Answers by rule and records what it was asked; raises the engine's errors for special questions."""

    def __init__(self, folder: Path, delay: float = 0.0, **settings) -> None:
        self.asked: list[tuple[str, list[str]]] = []
        self.settings = Settings(corpus_dir=folder / "docs", index_dir=folder / "index", port=free_port(), **settings)
        self.release_ingest = threading.Event()
        self.delay = delay

    def ask(self, question: str, history=(), sources=None) -> Answer:
        self.asked.append((question, list(history)))
        time.sleep(self.delay)
        if not question.strip():
            raise InvalidQuestion("Please type a question.")
        if question == "empty index":
            raise EmptyIndex("The index is empty. Add documents and run `qa ingest` (or re-index in the chat).")
        if question == "crash":
            raise RuntimeError("secret internals")
        return Answer(text=f"The board met on May 3 about {question}. [1]", citations=[CITATION], question=question)

    def stream(self, question: str, history=(), sources=None):
        """Engine.stream's shape: an extractive engine's only update is the Answer."""
        yield self.ask(question, history, sources)

    def indexed_files(self) -> dict[str, IndexedFile]:
        return {"docs/minutes.txt": IndexedFile("docs/minutes.txt", "abc", 3, 1_700_000_000.0)}

    def add_document(self, filename: str, data: bytes, progress=None) -> IngestReport:
        for done in range(1, 6):
            time.sleep(0.2)
            progress(done, 5, "chunks")
        return IngestReport(added=[filename], chunks_embedded=5)

    def ingest(self, progress=None) -> IngestReport:
        self.release_ingest.wait(timeout=30)
        return IngestReport(unchanged=["docs/minutes.txt"])


def test_answer_html_escapes_text_and_marks_the_quote_inside_its_context():
    page = render.render_answer(Answer(text=f"{QUOTE} [1]", citations=[CITATION]))
    assert "\n" not in page  # one HTML block: the chat's Markdown renderer leaves it alone
    assert "<b>" not in page and "&lt;b&gt;board&lt;/b&gt; &amp; staff" in page
    assert 'class="qa-ref" data-ref="1"' in page and ">[1]</button>" in page
    assert "<code>docs/minutes.txt</code>" in page
    assert '<div class="qa-quote"><mark>The &lt;b&gt;board' in page
    details = re.search(r"<details.*?</details>", page).group(0)
    marked = "<mark>The &lt;b&gt;board&lt;/b&gt; &amp; staff met on May 3.</mark>"
    assert f"Intro line.<br><br>{marked} Then lunch." in details


def test_refusal_is_labelled_and_offers_closest_passages():
    page = render.render_answer(Answer(text="The documents don't say.", citations=[CITATION], refused=True))
    assert 'class="qa-refusal"' in page and "No answer found." in page
    assert "Closest passages (not an answer)" in page and "qa-answer" not in page


def test_an_answer_says_how_it_came_about_when_the_model_wrote_nothing():
    note = "The model wrote no answer the passages support; the best passage is quoted <instead>."
    page = render.render_answer(Answer(text=f"{QUOTE} [1]", citations=[CITATION], reason=note))
    assert '<p class="qa-answer-note">' in page and "quoted &lt;instead&gt;." in page and "qa-refusal" not in page
    assert "qa-answer-note" not in render.render_answer(Answer(text=f"{QUOTE} [1]", citations=[CITATION]))


def test_context_is_left_out_when_it_does_not_hold_the_quote():
    moved = Citation(1, "docs/minutes.txt", QUOTE, START, START + len(QUOTE), 0.8, context="other text")
    assert "<details" not in render.source_block(moved)


def test_the_answer_span_is_bold_inside_the_quote_in_html_and_markdown():
    span = START + QUOTE.index("May 3")
    cited = Citation(1, "docs/minutes.txt", QUOTE, START, START + len(QUOTE), 0.8, answer_start=span,
                     answer_end=span + len("May 3"))
    answer = Answer(text=f"{QUOTE} [1]", citations=[cited], question="When?", standalone_question="When?")
    assert "met on <strong>May 3</strong>.</mark>" in render.render_answer(answer)
    markdown = answer_markdown(answer)
    assert markdown.startswith(f"{QUOTE} [1]\n\nSources:\n\n[1] `docs/minutes.txt`, characters")
    assert "> The <b>board</b> & staff met on **May 3**." in markdown
    outside = Citation(1, "docs/minutes.txt", QUOTE, START, START + len(QUOTE), 0.8, answer_start=0, answer_end=3)
    assert "<strong>" not in render.source_block(outside)  # a span outside the quote is ignored


def test_copy_button_carries_markdown_not_html():
    page = render.render_answer(Answer(text="Met on May 3. [1]", citations=[CITATION]))
    copied = html.unescape(re.search(r'data-copy="([^"]*)"', page).group(1))
    assert copied.startswith("Met on May 3. [1]\n\nSources:") and "<div" not in copied


def test_a_follow_up_shows_how_it_was_read():
    answer = Answer(text="On May 3. [1]", citations=[CITATION], question="When?",
                    standalone_question="When did the board meet?")
    assert "Read as:</span> When did the board meet?" in render.render_answer(answer)
    assert "Read as" not in render.render_answer(Answer(text="x", question="Why?", standalone_question="Why?"))


def test_file_rows_and_status_are_escaped(tmp_path):
    assert render.file_rows(ScriptedEngine(tmp_path).indexed_files())[0][:2] == ["docs/minutes.txt", 3]
    html = render.status(["a <ok>"], ["<bad>.txt was not added: binary"])
    assert "&lt;bad&gt;.txt was not added" in html and "<bad>" not in html


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    engine = ScriptedEngine(tmp_path_factory.mktemp("scripted"))
    with served(engine) as url:
        yield engine, url


def messages_of(result) -> list[dict]:
    """The chat's messages in an /ask result (box, chat list, messages, title, note)."""
    return result[2]


def _reply(result) -> str:
    """The text of the last chat message in an /ask result."""
    return messages_of(result)[-1]["content"][0]["text"]


def test_each_session_passes_its_own_questions_as_history(scripted):
    engine, url = scripted
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    first.predict("Who met?", "", api_name="/ask")
    second.predict("Where?", "", api_name="/ask")
    messages = messages_of(first.predict("And when?", "", api_name="/ask"))
    assert ("And when?", ["Who met?"]) in engine.asked
    assert ("Where?", []) in engine.asked
    assert "May 3" in messages[-1]["content"][0]["text"]


def test_an_extractive_answer_arrives_whole_after_the_pending_bubble(scripted):
    _, url = scripted
    job = Client(url, verbose=False).submit("a long question with many words in it", "", api_name="/ask")
    job.result()
    outputs = job.outputs()
    assert len(outputs) == 2
    assert "Searching the documents" in messages_of(outputs[0])[-1]["content"][0]["text"]
    assert "qa-sources" in messages_of(outputs[1])[-1]["content"][0]["text"]


@pytest.mark.parametrize("question, message", [
    ("", "Please type a question."),
    ("empty index", "The index is empty."),
    ("crash", "Something went wrong; the server log has the details."),
])
def test_errors_are_clear_messages_not_tracebacks(scripted, question, message):
    _, url = scripted
    result = Client(url, verbose=False).predict(question, "", api_name="/ask")
    if not question:  # nothing asked, nothing added
        assert messages_of(result) == {"__type__": "update"}  # no change to the chat
        return
    reply = _reply(result)
    assert 'class="qa-error"' in reply and message in reply
    assert "Traceback" not in reply and "secret internals" not in reply


def test_login_is_required_when_auth_is_set(tmp_path):
    engine = ScriptedEngine(tmp_path, auth="alice:s3cret,bob:pa55")
    with served(engine) as url:
        assert httpx.get(f"{url}config").status_code == 401
        reply = _reply(Client(url, auth=("alice", "s3cret"), verbose=False).predict("Who met?", "", api_name="/ask"))
        assert "May 3" in reply


def test_malformed_auth_is_refused_before_serving(tmp_path):
    with pytest.raises(ValueError, match="user:password"):
        serve(create_app(ScriptedEngine(tmp_path)), Settings(port=free_port(), auth="alice"), prevent_thread_lock=True)


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
    rows, status = job.result()[:2]
    assert ("Indexing notes.txt: chunks", "chunks") in seen
    assert "notes.txt added" in status and rows["data"][0][0] == "docs/minutes.txt"


def test_empty_index_while_building_says_so(scripted):
    engine, url = scripted
    job = Client(url, verbose=False).submit(api_name="/reindex")
    try:
        deadline = time.monotonic() + 10
        while job.status().code != Status.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.05)
        reply = _reply(Client(url, verbose=False).predict("empty index", "", api_name="/ask"))
        assert "The index is being built; ask again in a moment." in reply
    finally:
        engine.release_ingest.set()
    assert "Re-indexed" in job.result()[1]
