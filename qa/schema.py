"""The typed results shared by engine, UI, CLI and eval."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Citation:
    """One quoted span of a source document that supports a sentence of an answer.

    `quote == document_text(source)[start:end]`; for .md and .html files the document
    text is the plain text qa extracted from them. `answer_start:answer_end`, when set, is
    the part of the quote the reader points at as the answer itself (same offsets, inside
    start:end), shown in bold by the interfaces.
    """

    number: int
    source: str
    quote: str
    start: int
    end: int
    score: float
    context: str = ""
    context_start: int = 0
    answer_start: int | None = None
    answer_end: int | None = None
    page: int | None = None  # the page the quote starts on, for documents that have pages (PDF)

    @property
    def page_note(self) -> str:
        """", p. 12" after the source name when the quote is on a page, else ""."""
        return f", p. {self.page}" if self.page is not None else ""

    def quote_parts(self) -> tuple[str, str, str]:
        """The quote split around the reader's answer span: (before, answer, after); all in `before` without one."""
        if self.answer_start is None or self.answer_end is None:
            return self.quote, "", ""
        left, right = self.answer_start - self.start, self.answer_end - self.start
        if not 0 <= left < right <= len(self.quote):
            return self.quote, "", ""
        return self.quote[:left], self.quote[left:right], self.quote[right:]

    def quote_marked(self, before: str = "**", after: str = "**") -> str:
        """The quote with the reader's answer span wrapped in `before`/`after` (unchanged when it has none)."""
        head, answer, tail = self.quote_parts()
        return f"{head}{before}{answer}{after}{tail}" if answer else self.quote


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: where it is and how well it matched the question."""

    source: str
    start: int
    end: int
    text: str
    score: float
    chunk_id: str = ""


@dataclass(frozen=True)
class Dropped:
    """A claim a generative answerer wrote and the citation check refused, with why (for debugging)."""

    text: str
    reason: str
    cited: list[int] = field(default_factory=list)  # passage numbers it cited, as the model saw them


@dataclass(frozen=True)
class Answer:
    """What qa says to a question, with the evidence behind each sentence."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    question: str = ""
    standalone_question: str = ""
    passages: list[Passage] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)  # claims the citation check refused (generative answerers)
    # Why a refusal refused, when more is known than "the evidence is weak" (a model timeout); on an
    # answer, how it came about when that is not as asked (a model that wrote nothing, so passages are quoted).
    reason: str = ""


class QAError(Exception):
    """A problem the user can fix; its message says how."""


class SettingsError(QAError):
    """A QA_* environment variable holds a value qa cannot use."""


class InvalidQuestion(QAError):
    """The question is empty, too long, or not text."""


class UnsupportedLanguage(InvalidQuestion):
    """The question is written in a script the models cannot read."""


class EmptyIndex(QAError):
    """Nothing has been indexed yet."""


class IndexMismatch(QAError):
    """The store was built with another embedding model or chunk settings."""


class StoreUnavailable(QAError):
    """The Chroma server or folder cannot be reached."""


class IndexCorrupt(StoreUnavailable):
    """The local index's files are damaged; `qa ingest --rebuild` moves them aside and builds anew."""


class UnknownDocument(QAError):
    """No indexed file has that name."""


class DocumentExists(QAError):
    """An upload would replace a corpus file of the same name."""
