"""Sentence boundaries as character spans, and the web boilerplate no answer should quote.

Spans rather than strings, because every citation must point at the exact characters it
quotes. nltk's Punkt (what llama-index bundles) ships untrained here and splits
"Group Co. in order" and "plant No. 2", so the rules below are written for news text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = {
    "co", "corp", "inc", "ltd", "no", "nos", "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs",
    "etc", "e.g", "i.e", "u.s", "u.k", "gov", "sen", "rep", "gen", "dept", "est", "approx",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "fig", "vol",
}
# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a capital,
# digit or opening quote; the abbreviation check happens in code.
_BOUNDARY = re.compile(r"""[.!?]['"’”)\]]*(?=\s+['"‘“(\[]?[A-Z0-9])""")
# Link furniture pasted into articles mid-paragraph; it runs to the end of its line.
_INLINE_BOILERPLATE = re.compile(r"(?i)(?<=\s)(also read\s*[-:–]|see also\s*:|read more\s*[-:])")
# "date 2022-08-26 Xiaomi is ..." : a page's dateline glued to its first sentence.
DATELINE = re.compile(r"(?i)^\s*(?:date|published|posted|updated)\s*:?\s*((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
_BOILERPLATE = re.compile(
    r"(?i)^[\s(\[]*(image credits?|photo credits?|also read\b|see also\b|read more\b|advertisement\b|"
    r"subscribe\b|click here\b|follow us\b|share this\b|sign up\b|related\s*:|source\s*:|image:|photo:)"
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def published_date(text: str) -> str:
    """The ISO date of a dateline at the top of a document, or "" when it has none."""
    match = DATELINE.match(text[:500].lstrip())
    return "-".join(match.groups()) if match else ""


def is_boilerplate(sentence: str) -> bool:
    """True for captions, cross-links and other page furniture."""
    return bool(_BOILERPLATE.match(sentence))


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.")
_LONGEST_ABBREVIATION = 16  # longer words are never abbreviations; bounds the look-back


def _ends_with_abbreviation(text: str, period_at: int) -> bool:
    """Whether the word right before the full stop at `period_at` is an abbreviation or an initial.

    Looks back at most a few characters from the full stop (never at the whole text before it),
    so splitting stays linear in the length of the text.
    """
    start = period_at
    while start > 0 and period_at - start <= _LONGEST_ABBREVIATION and text[start - 1] in _WORD_CHARS:
        start -= 1
    if period_at - start > _LONGEST_ABBREVIATION:
        return False
    token = text[start:period_at].lower().strip(".")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _split_line(text: str, start: int, end: int) -> list[Span]:
    cuts = [start]
    for match in _BOUNDARY.finditer(text, start, end):
        if text[match.start()] == "." and _ends_with_abbreviation(text, match.start()):
            continue
        cuts.append(match.end())
    for match in _INLINE_BOILERPLATE.finditer(text, start, end):
        cuts.append(match.start())
    dateline = DATELINE.match(text[start:end])
    if dateline:
        cuts.append(start + dateline.end())
    cuts = sorted(set(cuts)) + [end]
    spans = []
    for left, right in zip(cuts, cuts[1:]):
        piece = text[left:right]
        stripped_left = left + len(piece) - len(piece.lstrip())
        stripped_right = right - (len(piece) - len(piece.rstrip()))
        if stripped_right > stripped_left:
            spans.append(Span(stripped_left, stripped_right))
    return spans


def sentence_spans(text: str) -> list[Span]:
    """Sentences of `text` in order; a line break always ends a sentence (headlines have no period)."""
    spans: list[Span] = []
    position = 0
    for line in text.splitlines(keepends=True):
        spans.extend(_split_line(text, position, position + len(line)))
        position += len(line)
    return spans
