"""A scripted engine for the HTTP tests: the API's rules checked without the model, on a real uvicorn server."""

from __future__ import annotations

import time

from qa.config import Settings
from qa.ingest import IngestReport
from qa.schema import (
    Answer,
    Citation,
    EmptyIndex,
    InvalidQuestion,
    QAError,
    StoreUnavailable,
    UnknownDocument,
)
from qa.store import IndexedFile

QUOTE = "The board met on May 3."
CITATION = Citation(number=1, source="docs/minutes.txt", quote=QUOTE, start=12, end=12 + len(QUOTE), score=0.8,
                    answer_start=28, answer_end=34)


class ScriptedStore:
    def __init__(self) -> None:
        self.down = False

    def chunk_count(self) -> int:
        if self.down:
            raise StoreUnavailable("the Chroma server at 127.0.0.1:9 failed: connection refused")
        return 3


class ScriptedEngine:
    """Answers by rule and records what it was asked; special questions raise the engine's errors."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = ScriptedStore()
        self.asked: list[tuple[str, list[str], list[str] | None]] = []
        self.files = {"docs/minutes.txt": IndexedFile("docs/minutes.txt", "abc", 3, 1_700_000_000.0)}

    def ask(self, question: str, history=(), sources=None) -> Answer:
        self.asked.append((question, list(history), None if sources is None else list(sources)))
        if not question.strip():
            raise InvalidQuestion("Please type a question.")
        if question == "empty index":
            raise EmptyIndex("The index is empty.")
        if question == "store down":
            raise StoreUnavailable("the Chroma server at 127.0.0.1:9 failed")
        if question == "crash":
            raise RuntimeError("secret internals")
        if question == "unknown":
            return Answer(text="The documents don't say.", citations=[CITATION], refused=True, question=question)
        return Answer(text=f"{QUOTE} [1]", citations=[CITATION], question=question, standalone_question=question)

    def stream(self, question: str, history=(), sources=None):
        """Engine.stream's shape: an extractive engine's only update is the Answer."""
        yield self.ask(question, history, sources)

    def indexed_files(self) -> dict[str, IndexedFile]:
        return dict(self.files)

    def add_document(self, filename: str, data: bytes, progress=None) -> IngestReport:
        if not filename.endswith(".txt"):
            raise QAError(f"{filename} was not added: qa reads .txt files")
        if len(data) > self.settings.max_file_bytes:
            raise QAError(f"{filename} was not added: larger than {self.settings.max_file_bytes} bytes")
        self.files[f"docs/{filename}"] = IndexedFile(f"docs/{filename}", "def", 1, time.time())
        return IngestReport(added=[f"docs/{filename}"], chunks_embedded=1)

    def remove_document(self, source: str) -> IngestReport:
        if self.files.pop(source, None) is None:
            raise UnknownDocument(f"{source} is not a file of the corpus folder docs")
        return IngestReport(removed=[source])

    def ingest(self, rebuild: bool = False, progress=None) -> IngestReport:
        for done in range(1, 4):
            time.sleep(0.05)
            progress(done, 3)
        return IngestReport(unchanged=list(self.files))
