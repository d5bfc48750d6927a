"""Whose chats these are, and the list of past chats: new, open, rename, delete, export.

A person is their login when the chat requires one, else their browser: a random id kept in the
browser's storage (encrypted with a secret kept beside the history).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from qa import ui_render as render
from qa.history import DONE, History
from qa.ui_text import conversation_markdown

BROWSER_KEY = "qa-browser-id"
PENDING_PAGES = 4096  # pages remembered between their first event and the browser storing its new id


def browser_secret(folder: Path) -> str:
    """The key that encrypts browser ids in the browser's storage; the same across server restarts."""
    path = folder / "browser-secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


class Conversations:
    """Handlers of the chat list over a History; each returns the list, the open chat and its messages."""

    def __init__(self, history: History) -> None:
        self.history = history
        # A first visit has no id until the load event returns the one made for it, and a question sent
        # sooner arrives without one. Its page (Gradio session) is given the id at its first event, load or
        # question, so both file under the same browser; a chat started early would else vanish from the list.
        self._new_ids: OrderedDict[str, str] = OrderedDict()
        self._new_ids_lock = threading.Lock()
        # A first visit's load event and its first question may both find no chat: one of them makes it.
        self._opening = threading.Lock()

    def owner(self, request: gr.Request | None, browser_id: str | None) -> str:
        """Who is asking: the login, else the browser (its id, or the one this page is being given)."""
        if request is not None and request.username:
            return f"login:{request.username}"
        if browser_id:
            return f"browser:{browser_id}"
        if request is None:
            return "session:local"
        return f"browser:{self._id_for_page(request.session_hash)}"

    def _id_for_page(self, session_hash: str) -> str:
        with self._new_ids_lock:
            if session_hash not in self._new_ids:
                self._new_ids[session_hash] = secrets.token_hex(16)
                if len(self._new_ids) > PENDING_PAGES:
                    self._new_ids.popitem(last=False)
            return self._new_ids[session_hash]

    def choices(self, owner: str) -> list[tuple[str, str]]:
        return [(item.title, item.id) for item in self.history.conversations(owner)]

    def current(self, owner: str, conversation: str | None) -> str:
        """The open chat: the one named if the owner has it, else their latest, else a new one."""
        with self._opening:
            known = [item.id for item in self.history.conversations(owner)]
            if conversation in known:
                return conversation
            return known[0] if known else self.history.create(owner)

    def view(self, owner: str, conversation: str) -> tuple:
        """(chat list, open chat id, messages, title box) for `conversation`."""
        titles = {cid: title for title, cid in self.choices(owner)}
        return (gr.update(choices=self.choices(owner), value=conversation), conversation,
                render.messages(self.history.turns(owner, conversation)), titles.get(conversation, ""))

    def start(self, browser_id: str, conversation: str, request: gr.Request) -> tuple:
        """On page load: the browser's id (made on the first visit) and its latest chat."""
        browser_id = browser_id or self._id_for_page(request.session_hash)
        owner = self.owner(request, browser_id)
        return browser_id, *self.view(owner, self.current(owner, conversation or None))

    def open(self, browser_id: str, conversation: str, request: gr.Request) -> tuple:
        owner = self.owner(request, browser_id)
        return self.view(owner, self.current(owner, conversation))

    def new(self, browser_id: str, request: gr.Request) -> tuple:
        owner = self.owner(request, browser_id)
        return self.view(owner, self.history.create(owner))

    def rename(self, title: str, browser_id: str, conversation: str, request: gr.Request) -> tuple:
        owner = self.owner(request, browser_id)
        self.history.rename(owner, conversation, title)
        return self.view(owner, conversation)

    def delete(self, browser_id: str, conversation: str, request: gr.Request) -> tuple:
        owner = self.owner(request, browser_id)
        self.history.delete(owner, conversation)
        return self.view(owner, self.current(owner, None))

    def export(self, browser_id: str, conversation: str, request: gr.Request) -> str:
        """The open chat as a Markdown file with its sources; returns the file's path."""
        owner = self.owner(request, browser_id)
        title = {cid: t for t, cid in self.choices(owner)}.get(conversation, "Chat")
        turns = [(turn.question, turn.answer if turn.status == DONE else None,
                  turn.error or "no answer") for turn in self.history.turns(owner, conversation)]
        name = re.sub(r"[^\w-]+", "-", title).strip("-")[:40] or "chat"
        path = Path(tempfile.mkdtemp(prefix="qa-export-")) / f"{name}.md"
        path.write_text(conversation_markdown(title, turns), encoding="utf-8")
        return str(path)
