"""The Gradio chat: a thin adapter over Engine. `create_app()` builds it, `launch()` serves it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr

from qa import ui_render as render
from qa.config import Settings
from qa.engine import Engine
from qa.schema import EmptyIndex, QAError

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 10  # answers computed at once; more sessions wait in the queue
STREAM_DELAY = 0.02  # seconds between streamed pieces of an answer
UPLOAD_TYPES = [".txt", ".text", ".md", ".markdown", ".html", ".htm"]
FILE_HEADERS = ["File", "Chunks", "Last indexed"]

Messages = list[dict]


class _Building:
    """Counts ingestions in progress, so an empty index can be told apart from one being built."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._count -= 1

    def __bool__(self) -> bool:
        return self._count > 0


def _progress_callback(progress: gr.Progress, desc: str) -> Callable[[int, int], None]:
    return lambda done, total: progress((done, total), desc=desc, unit="chunks")


def _explain(error: Exception, building: bool) -> str:
    """What to tell the user about a failed question; call it inside the `except` block."""
    if isinstance(error, EmptyIndex) and building:
        return "The index is being built; ask again in a moment."
    if isinstance(error, QAError):
        return str(error)
    log.exception("answering failed")
    return "Something went wrong; the server log has the details."


def create_app(engine: Engine, examples: list[str] | None = None) -> gr.Blocks:
    """The chat and corpus panel over `engine`; no server is started."""
    building = _Building()

    def respond(question: str, messages: Messages, questions: list[str]) -> Iterator[tuple]:
        """Answer one chat turn, streaming it; `questions` are this session's earlier questions."""
        messages = list(messages or [])
        if question.strip():
            messages.append({"role": "user", "content": render.user_message(question)})
        messages.append({"role": "assistant", "content": render.pending()})
        yield "", messages, questions
        try:
            answer = engine.ask(question, questions)
        except Exception as error:  # QAErrors say what to do; anything else is logged, not shown
            messages[-1] = {"role": "assistant", "content": render.render_error(_explain(error, bool(building)))}
            yield "", messages, questions
            return
        questions = [*questions, answer.question]
        if not answer.refused:
            for text in render.stream_steps(answer.text):
                messages[-1] = {"role": "assistant", "content": render.partial_answer(text)}
                yield "", messages, questions
                time.sleep(STREAM_DELAY)
        messages[-1] = {"role": "assistant", "content": render.render_answer(answer)}
        yield "", messages, questions

    def respond_example(messages: Messages, questions: list[str], event: gr.SelectData) -> Iterator[tuple]:
        yield from respond(event.value["text"], messages, questions)

    def show_corpus(message: str = "") -> tuple[list[list], str]:
        rows = render.file_rows(engine.indexed_files())
        if not rows and not message:
            message = render.notice("The index is empty: add files here or put them in the corpus folder and "
                                    "press Re-index.")
        return rows, message

    def upload(paths: list[str] | None, progress=gr.Progress()) -> tuple:
        ok, bad = [], []
        with building:
            for path in paths or []:
                name = Path(path).name
                try:
                    report = engine.add_document(name, Path(path).read_bytes(),
                                                 progress=_progress_callback(progress, f"Indexing {name}"))
                except QAError as error:
                    bad.append(str(error))
                    continue
                ok.append(f"{name} added. Index: {report.summary().splitlines()[0]}")
                bad += [f"{item.source}: {item.reason}" for item in report.skipped]
        rows, message = show_corpus(render.status(ok, bad))
        return rows, message, None

    def reindex(progress=gr.Progress()) -> tuple[list[list], str]:
        with building:
            try:
                report = engine.ingest(progress=_progress_callback(progress, "Embedding"))
            except QAError as error:
                return show_corpus(render.status(bad=[str(error)]))
        skipped = [f"{item.source}: {item.reason}" for item in report.skipped]
        return show_corpus(render.status([f"Re-indexed: {report.summary().splitlines()[0]}"], skipped))

    with gr.Blocks(title="qa: ask your documents") as demo:
        questions = gr.State([])
        gr.Markdown("## Ask your documents\nEvery answer quotes the documents; the numbers point to its sources.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label="Chat", height=640, elem_id="qa-chat", latex_delimiters=[],
                    examples=[{"text": text} for text in (engine.settings.examples if examples is None else examples)],
                    placeholder="Ask a question about the documents, or pick an example.",
                    feedback_options=None, buttons=["copy"], group_consecutive_messages=False,
                )
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=5, autofocus=True,
                                     elem_id="qa-question", submit_btn="Ask")
                    clear = gr.Button("New chat", scale=1, variant="secondary")
            with gr.Column(scale=3, elem_id="qa-corpus"):
                gr.Markdown("### Documents")
                files = gr.Dataframe(headers=FILE_HEADERS, datatype=["str", "number", "str"],
                                     interactive=False, max_height=320, elem_id="qa-files", wrap=True,
                                     column_widths=["56%", "12%", "32%"])
                status = gr.HTML(elem_id="qa-status")
                uploader = gr.File(label="Add files (.txt, .md, .html)", file_count="multiple",
                                   file_types=UPLOAD_TYPES, elem_id="qa-upload", height=120)
                reindex_button = gr.Button("Re-index the folder", elem_id="qa-reindex")

        chat_io = dict(inputs=[box, chatbot, questions], outputs=[box, chatbot, questions])
        chat_queue = dict(concurrency_id="chat", concurrency_limit=CHAT_CONCURRENCY, show_progress="hidden")
        box.submit(respond, api_name="ask", **chat_io, **chat_queue)
        chatbot.example_select(respond_example, inputs=chat_io["inputs"][1:], outputs=chat_io["outputs"],
                               api_visibility="private", **chat_queue)
        clear.click(lambda: ([], [], ""), outputs=[chatbot, questions, box], api_visibility="private")
        chatbot.clear(lambda: [], outputs=[questions], api_visibility="private")
        corpus_out = [files, status]
        uploader.upload(upload, inputs=[uploader], outputs=[*corpus_out, uploader], api_name="upload",
                        show_progress_on=files, concurrency_id="corpus", concurrency_limit=1)
        reindex_button.click(reindex, outputs=corpus_out, api_name="reindex", show_progress_on=files,
                             concurrency_id="corpus", concurrency_limit=1)
        demo.load(show_corpus, outputs=corpus_out, show_progress="hidden", api_visibility="private")
    return demo


def login(settings: Settings) -> tuple[str, str] | None:
    """The chat's (user, password) from `auth`, or None for no login; a malformed value is a ValueError."""
    if not settings.auth:
        return None
    user, colon, password = settings.auth.partition(":")
    if not (user and colon and password):
        raise ValueError("auth must look like user:password (QA_AUTH)")
    return user, password


def serve(demo: gr.Blocks, settings: Settings, **options):
    """Start the server for `demo` on the settings' host and port, with a login if `auth` is set."""
    return demo.queue().launch(server_name=settings.host, server_port=settings.port, auth=login(settings),
                               css=render.CSS, **options)


def launch() -> None:
    """Serve the chat over the process engine (see qa.api.get_engine), as the settings say."""
    from qa.api import get_engine

    engine = get_engine()
    serve(create_app(engine), engine.settings)
