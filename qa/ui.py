"""The Gradio chat: a thin adapter over Engine. `create_app()` builds it, `launch()` serves it.

The handlers live in ui_chat (questions), ui_conversations (the list of chats) and ui_documents
(the documents panel); their HTML comes from ui_render, the browser-side behaviour from ui_static.
"""

from __future__ import annotations

import logging
from importlib.resources import files

import gradio as gr

from qa.config import Settings, parse_logins
from qa.engine import Engine
from qa.history import History
from qa.ui_chat import Building, Chat
from qa.ui_conversations import BROWSER_KEY, Conversations, browser_secret
from qa.ui_documents import DELETE_MODES, Documents

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 10  # answers computed at once; more sessions wait in the queue
FILE_HEADERS = ["File", "Chunks", "Last indexed"]
_STATIC = files("qa") / "ui_static"
# After a source's "Open document": bring the viewer into sight with the cited span in its middle (the
# viewer scrolls on its own, so scrolling the page to the viewer could leave the span out of sight).
SHOW_CITED = """() => setTimeout(() => {
    const viewer = document.querySelector('#qa-viewer .qa-viewer');
    viewer?.scrollIntoView({block: 'start'});
    const cited = viewer?.querySelector('#qa-cited');
    if (cited) viewer.scrollTop += cited.getBoundingClientRect().top - viewer.getBoundingClientRect().top
                                   - viewer.clientHeight / 3;
}, 50)"""


def create_app(engine: Engine, examples: list[str] | None = None, history: History | None = None) -> gr.Blocks:
    """The chat, its list of chats and the documents panel over `engine`; no server is started."""
    folder = engine.settings.history_folder
    history = history or History(folder)
    building = Building()
    conversations = Conversations(history)
    chat = Chat(engine, history, conversations, building)
    documents = Documents(engine, building)
    examples = (engine.settings.examples or []) if examples is None else examples

    with gr.Blocks(title="qa: ask your documents") as demo:
        browser_id = gr.BrowserState("", storage_key=BROWSER_KEY, secret=browser_secret(folder))
        conversation = gr.State("")
        rated = gr.State(None)
        waiting = gr.State([])
        with gr.Sidebar(label="Chats", elem_id="qa-sidebar", open=True):
            new = gr.Button("New chat", variant="primary", elem_id="qa-new-chat")
            chats = gr.Radio(label="Your chats", choices=[], elem_id="qa-chats")
            title = gr.Textbox(label="Name of this chat", elem_id="qa-title", submit_btn="Rename")
            with gr.Row():
                export = gr.Button("Export as Markdown", size="sm", elem_id="qa-export")
                delete_chat = gr.Button("Delete chat", size="sm", variant="stop", elem_id="qa-delete-chat")
            exported = gr.File(label="Exported chat", visible=False, elem_id="qa-exported")
        gr.Markdown("## Ask your documents\nEvery answer quotes the documents; the numbers point to its sources.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label="Conversation", show_label=False, height="60vh", min_height=320, elem_id="qa-chat", latex_delimiters=[],
                    examples=[{"text": text} for text in examples] or None, autoscroll=False,
                    placeholder="Ask a question about the documents" + (", or pick an example." if examples else "."),
                    feedback_options=("Like", "Dislike"), buttons=[], group_consecutive_messages=False,
                    editable="user", sanitize_html=False,  # ui_render escapes every text it shows
                )
                note = gr.HTML(elem_id="qa-question-note")
                comment = gr.Textbox(visible=False, elem_id="qa-comment", submit_btn="Send", max_lines=3)
                with gr.Row(equal_height=True):
                    box = gr.Textbox(label="Question", placeholder="Ask a question…", show_label=False, scale=5,
                                     autofocus=True, elem_id="qa-question", submit_btn="Ask", max_lines=6)
                    stop = gr.Button("Stop", scale=0, min_width=70, variant="secondary", elem_id="qa-stop")
                sources = gr.Dropdown(label="Search only in (all documents when empty)", multiselect=True,
                                      choices=[], elem_id="qa-only-in")
            with gr.Column(scale=3, elem_id="qa-corpus"):
                gr.Markdown("### Documents")
                table = gr.Dataframe(headers=FILE_HEADERS, datatype=["str", "number", "str"],
                                     interactive=False, max_height=320, elem_id="qa-files", wrap=True,
                                     column_widths=["52%", "18%", "30%"])
                status = gr.HTML(elem_id="qa-status")
                with gr.Row(visible=False, elem_id="qa-replace-row") as replace_row:
                    replace = gr.Button("Replace the file", variant="stop", size="sm", elem_id="qa-replace")
                    keep = gr.Button("Keep the original", size="sm", elem_id="qa-keep")
                gr.Markdown("Add files (.txt, .md, .html, .pdf, .docx)", elem_id="qa-upload-label")
                uploader = gr.File(show_label=False, file_count="multiple", elem_id="qa-upload", height=120)
                reindex = gr.Button("Re-index the folder", elem_id="qa-reindex")
                with gr.Accordion("Manage a document", open=False, elem_id="qa-manage"):
                    document = gr.Dropdown(label="Document", choices=[], elem_id="qa-document")
                    with gr.Row():
                        show_chunks = gr.Button("Show chunks", size="sm", elem_id="qa-show-chunks")
                        open_document = gr.Button("Open", size="sm", elem_id="qa-open-document")
                    delete_mode = gr.Radio(DELETE_MODES, value=DELETE_MODES[0], label="Delete", elem_id="qa-delete-mode")
                    delete_document = gr.Button("Delete document", size="sm", variant="stop", elem_id="qa-delete-doc")
                viewer = gr.HTML(elem_id="qa-viewer")
                open_request = gr.Textbox(visible="hidden", elem_id="qa-open-request")
                open_button = gr.Button(visible="hidden", elem_id="qa-open-button")

        private = {"api_visibility": "private"}
        quiet = {**private, "show_progress": "hidden"}
        view = [chats, conversation, chatbot, title]
        chat_inputs = [conversation, browser_id, sources]
        chat_outputs = [box, *view, note]
        chat_queue = {"concurrency_id": "chat", "concurrency_limit": CHAT_CONCURRENCY, "show_progress": "hidden"}
        box.submit(chat.respond, [box, *chat_inputs], chat_outputs, api_name="ask", trigger_mode="multiple",
                   **chat_queue)
        chatbot.example_select(chat.example, chat_inputs, chat_outputs, **private, **chat_queue)
        chatbot.retry(chat.retry, chat_inputs, chat_outputs, **private, **chat_queue)
        chatbot.edit(chat.edit, chat_inputs, chat_outputs, **private, **chat_queue)
        # Stop cancels no event: it marks the answers stopped and their handlers end at once (ui_chat.Chat.stop).
        stop.click(chat.stop, [conversation, browser_id], [chatbot], **quiet)
        chatbot.like(chat.rate, [conversation, browser_id], [rated, comment, note], **quiet)
        comment.submit(chat.comment, [comment, rated, browser_id], [rated, comment, note], **quiet)

        chats.input(conversations.open, [browser_id, chats], view, **quiet)
        new.click(conversations.new, [browser_id], view, api_name="new_chat", show_progress="hidden")
        chatbot.clear(conversations.new, [browser_id], view, **quiet)
        title.submit(conversations.rename, [title, browser_id, conversation], view, **quiet)
        delete_chat.click(conversations.delete, [browser_id, conversation], view, **quiet)
        export.click(conversations.export, [browser_id, conversation], [exported], **private).then(
            lambda: gr.update(visible=True), outputs=[exported], **private)
        demo.load(conversations.start, [browser_id, conversation], [browser_id, *view], **private)

        corpus = [table, status, document, sources]
        corpus_queue = {"show_progress_on": table, "concurrency_id": "corpus", "concurrency_limit": 1}
        uploader.upload(documents.upload, [uploader, sources], [*corpus, uploader, waiting, replace_row],
                        api_name="upload", **corpus_queue)
        replace.click(documents.replace, [waiting, sources], [*corpus, waiting, replace_row], **private, **corpus_queue)
        keep.click(documents.keep, [waiting, sources], [*corpus, waiting, replace_row], **private)
        reindex.click(documents.reindex, [sources], corpus, api_name="reindex", **corpus_queue)
        delete_document.click(documents.delete, [document, delete_mode, sources], [*corpus, viewer], **private,
                              **corpus_queue)
        show_chunks.click(documents.chunks, [document], [viewer], **private)
        open_document.click(lambda source: documents.open(f'{{"source": {source!r}}}'.replace("'", '"')),
                            [document], [viewer], **private)
        open_button.click(documents.open, [open_request], [viewer], **private).then(
            None, js=SHOW_CITED, **private)
        demo.load(documents.show, outputs=corpus, show_progress="hidden", **private)
    return demo


def parse_auth(auth: str) -> list[tuple[str, str]]:
    """`user:password[,user:password...]` as Gradio's list of logins; ValueError if malformed."""
    try:
        return parse_logins(auth)
    except ValueError as error:
        raise ValueError(f"QA_AUTH {error}") from None


def launch_options(settings: Settings) -> dict:
    """How the chat is served, alone (`serve`) or mounted beside the API (qa/server.py).

    Nothing of the chats is kept in the browser: Gradio's run history is off, and the browser keeps
    only an encrypted random id that names its chats in the server's history file."""
    head = f"<script>{(_STATIC / 'chat.js').read_text(encoding='utf-8')}</script>"
    return {"auth": parse_auth(settings.auth) if settings.auth else None,
            "css": (_STATIC / "chat.css").read_text(encoding="utf-8"), "head": head, "run_history": False,
            "footer_links": ["api", "gradio", "settings"],
            "max_file_size": settings.max_file_bytes}  # Gradio refuses a larger upload before it is stored


def serve(demo: gr.Blocks, settings: Settings, **options):
    """Start the server for `demo` on the settings' host and port, with logins if `auth` is set."""
    return demo.queue().launch(server_name=settings.host, server_port=settings.port,
                               **launch_options(settings), **options)


def launch() -> None:
    """Serve the chat over the process engine (see qa.api.get_engine), as the settings say."""
    from qa.api import get_engine

    engine = get_engine()
    serve(create_app(engine), engine.settings)
