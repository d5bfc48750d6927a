"""The Python entry points: `ask()` and the process-wide engine behind it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence

from qa.config import get_settings
from qa.engine import Engine
from qa.schema import Answer, QAError

log = logging.getLogger(__name__)
_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The engine for this process's settings, built once; an empty index is filled from the corpus folder."""
    global _engine
    with _engine_lock:
        if _engine is None:
            engine = Engine(get_settings())
            if engine.retriever.chunk_count == 0 and engine.settings.corpus_dir.is_dir():
                log.info("index is empty: indexing %s first", engine.settings.corpus_dir)
                try:
                    engine.ingest()
                except QAError as error:  # an empty folder: the chat and the CLI say what to do when asked
                    log.warning("%s", error)
            _engine = engine
        return _engine


def ask(question: str, history: Sequence[str] = (), sources: Collection[str] | None = None) -> Answer:
    """Answer a question about the corpus, with citations; `history` holds earlier questions of the chat,
    `sources` (file names as in `get_engine().indexed_files()`) limits the evidence to those files."""
    return get_engine().ask(question, history, sources)
