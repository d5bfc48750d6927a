"""Conversations and answer feedback in one SQLite file, each row owned by one browser or login.

Only the chat writes here; every query names its owner, so one user never reads another's rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa.schema import Answer, Citation, Dropped

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated);
CREATE TABLE IF NOT EXISTS turns (
  id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  question TEXT NOT NULL, status TEXT NOT NULL, answer TEXT, error TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns(conversation, id);
CREATE TABLE IF NOT EXISTS feedback (
  turn INTEGER PRIMARY KEY, owner TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT NOT NULL,
  question TEXT NOT NULL, history TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL);
"""
PENDING, DONE, STOPPED, FAILED = "pending", "done", "stopped", "error"
TITLE_CHARS = 60


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    updated: float


@dataclass(frozen=True)
class Turn:
    """One question of a conversation and what became of it."""

    id: int
    question: str
    status: str  # pending, done, stopped or error
    answer: Answer | None = None
    error: str = ""


@dataclass(frozen=True)
class Feedback:
    turn: int
    rating: int  # +1 or -1
    comment: str
    question: str
    history: list[str]
    answer: Answer


def answer_to_json(answer: Answer) -> str:
    """An answer with its citations (the retrieved passages are left out: they are for eval)."""
    data = asdict(answer)
    data.pop("passages")
    return json.dumps(data, ensure_ascii=False)


def answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    data["citations"] = [Citation(**citation) for citation in data.get("citations", [])]
    data["dropped"] = [Dropped(**dropped) for dropped in data.get("dropped", [])]
    return Answer(**data)


class History:
    """The conversations and feedback of every user, in `folder`/history.sqlite3."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "history.sqlite3"
        self._lock = threading.Lock()
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.execute("PRAGMA foreign_keys = ON")
                with db:
                    yield db
            finally:
                db.close()

    def _owns(self, db: sqlite3.Connection, owner: str, conversation: str) -> bool:
        return db.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?",
                          (conversation, owner)).fetchone() is not None

    def conversations(self, owner: str) -> list[ConversationInfo]:
        """The owner's conversations, most recently used first."""
        with self._db() as db:
            rows = db.execute("SELECT id, title, updated FROM conversations WHERE owner = ? "
                              "ORDER BY updated DESC, rowid DESC", (owner,)).fetchall()
        return [ConversationInfo(*row) for row in rows]

    def create(self, owner: str, title: str = "New chat") -> str:
        conversation = uuid.uuid4().hex
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", (conversation, owner, title, now, now))
        return conversation

    def rename(self, owner: str, conversation: str, title: str) -> None:
        title = " ".join(title.split())[:TITLE_CHARS] or "Untitled chat"
        with self._db() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (title, conversation, owner))

    def delete(self, owner: str, conversation: str) -> None:
        with self._db() as db:
            if self._owns(db, owner, conversation):
                db.execute("DELETE FROM feedback WHERE turn IN (SELECT id FROM turns WHERE conversation = ?)",
                           (conversation,))
                db.execute("DELETE FROM conversations WHERE id = ?", (conversation,))

    def turns(self, owner: str, conversation: str) -> list[Turn]:
        with self._db() as db:
            if not self._owns(db, owner, conversation):
                return []
            rows = db.execute("SELECT id, question, status, answer, error FROM turns WHERE conversation = ? "
                              "ORDER BY id", (conversation,)).fetchall()
        return [Turn(id_, question, status, answer_from_json(answer) if answer else None, error or "")
                for id_, question, status, answer, error in rows]

    def add_question(self, owner: str, conversation: str, question: str) -> int:
        """A pending turn at the end of the conversation; its first question names the chat."""
        now = time.time()
        with self._db() as db:
            if not self._owns(db, owner, conversation):
                raise KeyError(conversation)
            cursor = db.execute("INSERT INTO turns (conversation, question, status, created) VALUES (?, ?, ?, ?)",
                                (conversation, question, PENDING, now))
            db.execute("UPDATE conversations SET updated = ?, title = CASE WHEN title = 'New chat' THEN ? "
                       "ELSE title END WHERE id = ?", (now, " ".join(question.split())[:TITLE_CHARS], conversation))
            return int(cursor.lastrowid)

    def finish(self, turn: int, answer: Answer | None = None, error: str = "") -> bool:
        """Record a pending turn's answer or error; False if it was stopped (or deleted) meanwhile."""
        status = DONE if answer is not None else FAILED
        with self._db() as db:
            cursor = db.execute("UPDATE turns SET status = ?, answer = ?, error = ? WHERE id = ? AND status = ?",
                                (status, answer_to_json(answer) if answer else None, error, turn, PENDING))
            return cursor.rowcount == 1

    def stop(self, owner: str, conversation: str) -> int:
        """Mark the conversation's pending turns stopped; returns how many there were."""
        with self._db() as db:
            if not self._owns(db, owner, conversation):
                return 0
            return db.execute("UPDATE turns SET status = ? WHERE conversation = ? AND status = ?",
                              (STOPPED, conversation, PENDING)).rowcount

    def truncate(self, owner: str, conversation: str, turn: int) -> None:
        """Drop `turn` and every later turn of the conversation (for retry and edit)."""
        with self._db() as db:
            if self._owns(db, owner, conversation):
                db.execute("DELETE FROM feedback WHERE turn IN (SELECT id FROM turns WHERE conversation = ? "
                           "AND id >= ?)", (conversation, turn))
                db.execute("DELETE FROM turns WHERE conversation = ? AND id >= ?", (conversation, turn))

    def rate(self, owner: str, turn: int, rating: int, comment: str = "") -> bool:
        """Keep a thumbs up (+1) or down (-1) on an answered turn, with its question, history and answer."""
        with self._db() as db:
            row = db.execute("SELECT t.conversation, t.question, t.answer FROM turns t JOIN conversations c "
                             "ON c.id = t.conversation WHERE t.id = ? AND c.owner = ? AND t.status = ?",
                             (turn, owner, DONE)).fetchone()
            if row is None:
                return False
            conversation, question, answer = row
            earlier = [q for (q,) in db.execute("SELECT question FROM turns WHERE conversation = ? AND id < ? "
                                                "AND status = ? ORDER BY id", (conversation, turn, DONE))]
            db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (turn, owner, 1 if rating > 0 else -1, comment.strip(), question, json.dumps(earlier),
                        answer, time.time()))
            return True

    def comment(self, owner: str, turn: int, comment: str) -> bool:
        with self._db() as db:
            return db.execute("UPDATE feedback SET comment = ? WHERE turn = ? AND owner = ?",
                              (comment.strip(), turn, owner)).rowcount == 1

    def feedback(self, owner: str | None = None) -> list[Feedback]:
        """Every rating (of one owner, or of all for the export), oldest first."""
        query = "SELECT turn, rating, comment, question, history, answer FROM feedback"
        parameters: tuple[Any, ...] = ()
        if owner is not None:
            query, parameters = query + " WHERE owner = ?", (owner,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY created, turn", parameters).fetchall()
        return [Feedback(turn, rating, comment, question, json.loads(history), answer_from_json(answer))
                for turn, rating, comment, question, history, answer in rows]
