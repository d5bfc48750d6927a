"""PDF files: the text layer of each page (pypdf), pages kept so citations can name them."""

from __future__ import annotations

import io
import logging
import re

from qa.formats import ParsedText, Unreadable

log = logging.getLogger(__name__)
# A line at least this share of the page's longest line (and this long) was wrapped by the layout, not
# ended by the author; shorter ones end their paragraph (headings, a paragraph's last line).
_WRAPPED = 0.6
_SHORTEST_WRAPPED = 30
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_BULLET = re.compile(r"^[•◦▪‣●○■□➢►–]\s")  # a list item starts a paragraph of its own


class PdfFormat:
    name = "pdf"
    suffixes = (".pdf",)

    def parse(self, data: bytes) -> ParsedText:
        from pypdf import PdfReader

        try:
            reader = PdfReader(io.BytesIO(data))
            # pypdf has already tried the empty user password, which opens "print/copy restricted" files.
            if reader.is_encrypted and not reader.decrypt(""):
                raise Unreadable("encrypted PDF (password-protected); qa cannot read it")
            pages = list(reader.pages)
        except Unreadable:
            raise
        except Exception as error:  # pypdf raises many kinds on damaged files
            raise _why(error) from error
        texts: list[str] = []
        failures = 0
        for page in pages:
            try:
                texts.append(unwrap_lines(page.extract_text() or ""))
            except Exception as error:  # one damaged page costs that page, not the file
                log.debug("PDF page unreadable: %s", error)
                failures += 1
                texts.append("")
        if not any(text.strip() for text in texts):
            if failures:
                raise Unreadable("broken PDF: no page could be read")
            raise Unreadable("PDF without a text layer (scanned?); qa does not run OCR")
        starts, parts, offset = [], [], 0
        for text in texts:
            starts.append(offset)
            parts.append(text)
            offset += len(text) + 2
        return ParsedText("\n\n".join(parts).replace("\x00", ""), tuple(starts))


def _why(error: Exception) -> Unreadable:
    name = type(error).__name__
    if "Decrypt" in name or "Password" in name or "crypt" in str(error).lower():
        return Unreadable("encrypted PDF (password-protected); qa cannot read it")
    return Unreadable(f"broken PDF ({name}: {str(error)[:120]})")


def unwrap_lines(page: str) -> str:
    """A page's text with the layout's line wraps undone, so a sentence is one line again.

    A line ends its paragraph when it is short (a heading, a paragraph's last line) or blank;
    a long line was wrapped and joins the next one ("informa-" + "tion" -> "information").
    """
    lines = [" ".join(line.split()) for line in page.splitlines()]
    longest = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if current and _BULLET.match(line):
            paragraphs.append(current)
            current = ""
        if not current:
            current = line
        elif _HYPHENATED.search(current) and line[0].islower():
            current = current[:-1] + line
        else:
            current = f"{current} {line}"
        if len(line) < max(_WRAPPED * longest, _SHORTEST_WRAPPED):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)
