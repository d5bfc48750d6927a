"""The chat's handlers: ask, stop, retry, edit, rate. Every turn is saved before it is shown.

The chat shows what the history holds, so a question asked while another is being answered
gets its own turn, and each update redraws the whole conversation without losing either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import gradio as gr

from qa import ui_render as render
from qa.answer import Partial
from qa.engine import Engine
from qa.history import DONE, History
from qa.schema import Answer, EmptyIndex, QAError
from qa.ui_conversations import Conversations

log = logging.getLogger(__name__)
STOP_POLL = 0.1  # seconds between checks for a Stop while an answer is computed
STREAM_INTERVAL = 0.25  # seconds between redraws of an answer being written


class Building:
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


def explain(error: Exception, building: bool) -> str:
    """What to tell the user about a failed question; call it inside the `except` block."""
    if isinstance(error, EmptyIndex) and building:
        return "The index is being built; ask again in a moment."
    if isinstance(error, QAError):
        return str(error)
    log.exception("answering failed")
    return "Something went wrong; the server log has the details."


class Chat:
    """Answers questions into saved conversations; one answer at a time per conversation, in order."""

    def __init__(self, engine: Engine, history: History, conversations: Conversations, building: Building) -> None:
        self.engine = engine
        self.history = history
        self.conversations = conversations
        self.building = building
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        # Stop sets these: each answer being waited for, by conversation. Stop does not cancel Gradio events:
        # the browser cancels a Stop's listeners one after the other, each once the previous cancel returned,
        # so a cancel held up by an answer still computing also cancelled a Retry clicked meanwhile, and a
        # cancelled event could leave the chat showing "Error" (issue 9).
        self._stops: defaultdict[str, set[threading.Event]] = defaultdict(set)
        self._stops_lock = threading.Lock()

    def _answer(self, owner: str, conversation: str, turn: int, question: str, sources: Sequence[str] | None,
                show: Callable[[Partial], None]) -> None:
        """Answer the turn and save the answer; a generative answerer's progress goes to `show` as it comes."""
        with self._locks[conversation]:  # earlier questions are answered first: follow-ups read them
            earlier = [t.answer.question or t.question for t in self.history.turns(owner, conversation)
                       if t.id < turn and t.status == DONE and t.answer is not None]
            try:
                shown = 0.0
                for update in self.engine.stream(question, earlier, sources=sources or None):
                    if isinstance(update, Answer):
                        self.history.finish(turn, update)
                    elif time.monotonic() - shown >= STREAM_INTERVAL:  # a redraw per token would flood the browser
                        shown = time.monotonic()
                        show(update)
            except Exception as error:
                self.history.finish(turn, error=explain(error, bool(self.building)))

    async def _wait_for_answer(self, stopped: threading.Event, *answer_args) -> AsyncIterator[Partial]:
        """Run `_answer` in a thread, yielding its latest progress, until it is done or the user pressed Stop; a
        stopped answer's thread is left to finish alone (its answer is dropped: the turn is stopped)."""
        # One slot the thread overwrites: a partial holds all the text so far, so only the newest matters,
        # and reading the slot once per poll cannot lose one written meanwhile (a list cleared after use could).
        latest: list[Partial | None] = [None]
        worker = threading.Thread(target=self._answer, args=(*answer_args, lambda p: latest.__setitem__(0, p)),
                                  daemon=True)
        worker.start()
        shown = None
        while worker.is_alive() and not stopped.is_set():
            await anyio.sleep(STOP_POLL)
            newest = latest[0]
            if newest is not shown:
                shown = newest
                yield newest

    def _problem(self, question: str) -> str | None:
        """Why `question` is not asked: "" for an empty one (nothing to say), a note for a too long one."""
        if not question.strip():
            return ""
        limit = self.engine.settings.max_question_chars
        if len(question) > limit:  # kept in the box, so it can be shortened
            return render.note(f"The question is {len(question):,} characters long; the limit is {limit:,}. "
                               "Shorten it and ask again.")
        return None

    async def _ask(self, question: str, owner: str, conversation: str, sources: list[str] | None,
                   box: str | object) -> AsyncIterator[tuple]:
        """Save `question` as a pending turn, show it (the question box set to `box`), answer, show the answer."""
        conversation = self.conversations.current(owner, conversation or None)
        stopped = threading.Event()
        with self._stops_lock:
            self._stops[conversation].add(stopped)
        try:
            turn = self.history.add_question(owner, conversation, question)
            yield box, *self.conversations.view(owner, conversation), ""
            async for partial in self._wait_for_answer(stopped, owner, conversation, turn, question, sources):
                # Streamed text is shown as provisional until the checked answer replaces it.
                messages = render.messages(self.history.turns(owner, conversation), provisional={turn: partial})
                yield gr.skip(), gr.skip(), gr.skip(), messages, gr.skip(), gr.skip()
        finally:
            with self._stops_lock:
                self._stops[conversation].discard(stopped)
                if not self._stops[conversation]:
                    del self._stops[conversation]
        messages = render.messages(self.history.turns(owner, conversation))
        yield gr.skip(), gr.skip(), gr.skip(), messages, gr.skip(), gr.skip()

    async def respond(self, question: str, conversation: str, browser_id: str, sources: list[str] | None,
                      request: gr.Request) -> AsyncIterator[tuple]:
        """Ask `question` in the open chat. Yields (box, chat list, open chat, messages, title, note)."""
        question = question or ""
        problem = self._problem(question)
        if problem is not None:  # no bubble; the box keeps the question
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), problem
            return
        owner = self.conversations.owner(request, browser_id)
        async for update in self._ask(question, owner, conversation, sources, ""):
            yield update

    async def _again(self, index: int | Sequence[int], question: str | None, conversation: str, browser_id: str,
                     sources: list[str] | None, request: gr.Request) -> AsyncIterator[tuple]:
        """Replace the turn shown at message `index` and all later ones by `question` (or the same one) asked
        again. The question box is left alone: it may hold the next question being typed."""
        owner = self.conversations.owner(request, browser_id)
        turns = self.history.turns(owner, conversation)
        index = index[0] if isinstance(index, (list, tuple)) else int(index)
        if not 0 <= index // 2 < len(turns):
            yield gr.skip(), gr.skip(), gr.skip(), render.messages(turns), gr.skip(), gr.skip()
            return
        old = turns[index // 2]
        question = old.question if question is None else question
        problem = self._problem(question)
        if problem is not None:  # nothing is dropped; the chat shows what it held before the edit
            yield (gr.skip(), gr.skip(), gr.skip(), render.messages(turns), gr.skip(),
                   problem or render.note("An empty question was not asked; the chat is as it was."))
            return
        self.history.truncate(owner, conversation, old.id)
        async for update in self._ask(question, owner, conversation, sources, gr.skip()):
            yield update

    async def retry(self, conversation: str, browser_id: str, sources: list[str] | None, request: gr.Request,
                    event: gr.RetryData) -> AsyncIterator[tuple]:
        async for update in self._again(event.index, None, conversation, browser_id, sources, request):
            yield update

    async def edit(self, conversation: str, browser_id: str, sources: list[str] | None, request: gr.Request,
                   event: gr.EditData) -> AsyncIterator[tuple]:
        async for update in self._again(event.index, render.question_of(str(event.value)), conversation,
                                        browser_id, sources, request):
            yield update

    async def example(self, conversation: str, browser_id: str, sources: list[str] | None, request: gr.Request,
                      event: gr.SelectData) -> AsyncIterator[tuple]:
        """Ask a clicked example; like Retry, it leaves the question box alone."""
        owner = self.conversations.owner(request, browser_id)
        async for update in self._ask(event.value["text"], owner, conversation, sources, gr.skip()):
            yield update

    def stop(self, conversation: str, browser_id: str, request: gr.Request) -> list[dict]:
        """Mark the open chat's unfinished answers stopped; their handlers stop waiting and show it."""
        owner = self.conversations.owner(request, browser_id)
        if self.history.stop(owner, conversation):
            with self._stops_lock:
                for stopped in self._stops.get(conversation, ()):
                    stopped.set()
        return render.messages(self.history.turns(owner, conversation))

    def rate(self, conversation: str, browser_id: str, request: gr.Request, event: gr.LikeData) -> tuple:
        """Keep a thumbs up or down on an answer; returns (rated turn, comment box update, note)."""
        owner = self.conversations.owner(request, browser_id)
        turns = self.history.turns(owner, conversation)
        turn = turns[event.index // 2] if 0 <= event.index // 2 < len(turns) else None
        if turn is None or not self.history.rate(owner, turn.id, 1 if event.liked else -1):
            return None, gr.update(visible=False), render.note("Only answers can be rated.")
        label = "Thanks. What was good? (optional)" if event.liked else "Thanks. What was wrong? (optional)"
        return turn.id, gr.update(visible=True, label=label, value=""), ""

    def comment(self, text: str, turn: int | None, browser_id: str, request: gr.Request) -> tuple:
        if turn is not None and text.strip():
            self.history.comment(self.conversations.owner(request, browser_id), turn, text)
        return None, gr.update(visible=False, value=""), render.note("Feedback saved. Thank you.", ok=True)
