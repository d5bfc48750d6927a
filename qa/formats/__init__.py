"""Document formats: each turns a file's bytes into plain text, one class per format.

The seam: a format is a class with `name`, `suffixes` and `parse(data) -> ParsedText`,
raising `Unreadable(reason)` for a file it cannot read (encrypted, scanned, broken), and one
line in `FORMATS`. Parsers of heavy formats import their library inside `parse`, so
`import qa` stays light.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Unreadable(Exception):
    """A file of a known format whose text cannot be read; the message is the reason shown to the user."""


@dataclass(frozen=True)
class ParsedText:
    """A file's plain text; `page_starts[i]` is where page i+1 starts in `text` (empty for formats without pages)."""

    text: str
    page_starts: tuple[int, ...] = ()


class DocumentFormat(Protocol):
    name: str
    suffixes: tuple[str, ...]

    def parse(self, data: bytes) -> ParsedText: ...


def _registry() -> dict[str, DocumentFormat]:
    from qa.formats.markup import HtmlFormat, MarkdownFormat
    from qa.formats.pdf import PdfFormat
    from qa.formats.text import PlainTextFormat
    from qa.formats.word import DocxFormat

    formats: list[DocumentFormat] = [
        PlainTextFormat(),
        MarkdownFormat(),
        HtmlFormat(),
        PdfFormat(),
        DocxFormat(),
    ]
    return {suffix: fmt for fmt in formats for suffix in fmt.suffixes}


FORMATS: dict[str, DocumentFormat] = _registry()


def format_for(suffix: str) -> DocumentFormat | None:
    """The format that reads files ending in `suffix` (".pdf"), or None."""
    return FORMATS.get(suffix.lower())


def supported_suffixes() -> list[str]:
    return sorted(FORMATS)


# A chunk's pages ride in its metadata as one short JSON string: [[offset, page], ...], the page at
# the chunk's start and each page that begins inside it (Chroma metadata values must be scalars).
def chunk_pages(page_starts: Sequence[int], start: int, end: int) -> str:
    """The pages of the document span start:end, as stored with its chunk; "" for documents without pages."""
    if not page_starts:
        return ""
    first = max(bisect.bisect_right(page_starts, start), 1)
    pages = [[start, first]]
    pages += [[offset, number + 1] for number, offset in enumerate(page_starts) if start < offset < end]
    return json.dumps(pages, separators=(",", ":"))


def page_at(pages: str, offset: int) -> int | None:
    """The page number at a document offset, from a chunk's stored pages ("" -> None)."""
    if not pages:
        return None
    page = None
    for start, number in json.loads(pages):
        if start <= offset or page is None:
            page = number
    return page
