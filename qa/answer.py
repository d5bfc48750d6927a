"""Answerers compose an answer from ranked evidence; the extractive one quotes and cites it.

The seam: an `Answerer` takes the question's `Evidence` (candidates ranked by the learned
reader and decision, qa/ranking.py) and returns a `Draft`: text with [n] markers and the
citations behind them. Whether to answer at all is decided before, in one place (the
engine, with qa/decision.py); a draft with no text is a refusal too. A new answerer is one
class and one line in `ANSWERERS`.

The extractive answerer writes no words of its own: every sentence of its answers is a
sentence of the corpus, so every claim is exactly as strong as its citation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.decision import log_odds
from qa.formats import page_at
from qa.ranking import FIGURE_TOKEN, Candidate, Evidence, asks_for_figure
from qa.schema import Citation, Dropped

if TYPE_CHECKING:
    from qa.config import Settings
    from qa.reader import Reader

# Money and quantities, not dates: "$1.54 billion", "300,000", "3 lakh", "40%".
_AMOUNT = re.compile(
    r"(?i)[$€£¥]\s?\d[\d.,]*(?:\s*(?:billion|million|trillion|k)\b)?"
    r"|\b\d[\d.,]*\s*(?:billion|million|trillion|lakh|crore|%|percent)|\b\d{1,3}(?:,\d{2,3})+\b"
)
_INDIAN_LAKH = re.compile(r"(?i)\b(\d+(?:\.\d+)?)\s*lakh\b")
_INDIAN_GROUPING = re.compile(r"\b\d{1,2},(?:\d{2},)+\d{3}\b")

_RELATIVE_YEAR = re.compile(r"(?i)\b(last|this|next) year\b")
_YEAR_OFFSET = {"last": -1, "this": 0, "next": 1}

REFUSAL_TEXT = "The documents don't say. The closest passages I found are listed below."
# Another sentence joins the answer when its log-odds of answering are within this of the best one's
# (with the hand-fitted decision: within 0.1 of the best score, the rule that rule was fitted with).
JOIN_MARGIN = 1.0
# ...and only when the reader, which reads it with the question, does not think far less of it than of the
# lead: "How much is Xiaomi putting into cars?" got two sentences about 2024 production after the amounts.
READER_JOIN_MARGIN = 4.0
PARAPHRASE = 0.88  # cosine above which two sentences of different sources tell the same thing


def _mentions(pattern: re.Pattern[str], text: str) -> frozenset[str]:
    return frozenset(" ".join(m.group(0).lower().split()) for m in pattern.finditer(text))


def figures(text: str) -> frozenset[str]:
    """The numbers a sentence states, normalised for comparison ("$1.54 billion", "2024")."""
    return _mentions(FIGURE_TOKEN, text)


def amounts(text: str) -> frozenset[str]:
    """The sums of money and quantities a sentence states, normalised for comparison."""
    return _mentions(_AMOUNT, text)


def explain_numbers(sentence: str) -> str:
    """Add the international reading to Indian-style numbers: "3 lakh" -> "3 lakh (300,000)"."""
    sentence = _INDIAN_LAKH.sub(lambda m: f"{m.group(0)} ({float(m.group(1)) * 100_000:,.0f})", sentence)
    return _INDIAN_GROUPING.sub(lambda m: f"{m.group(0)} ({int(m.group(0).replace(',', '')):,})", sentence)


def resolve_relative_years(sentence: str, published: str) -> str:
    """ "last year" -> "last year (2021)" in an article dated 2022-08-26; unchanged without a date."""
    if not published:
        return sentence
    year = int(published[:4])
    return _RELATIVE_YEAR.sub(lambda m: f"{m.group(0)} ({year + _YEAR_OFFSET[m.group(1).lower()]})", sentence)


def display_sentence(quote: str, published: str = "") -> str:
    """A quote as it reads inside an answer: one line, numbers explained, relative years dated,
    cut-off starts marked."""
    text = resolve_relative_years(explain_numbers(" ".join(quote.split())), published)
    return f"…{text}" if text[:1].islower() or text[:1] in "'’," else text




@dataclass(frozen=True)
class Draft:
    """An answerer's answer: text with [n] markers, and citation n for each marker. No text: nothing supported."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)  # claims a generative answerer's check refused
    reason: str = ""  # why there is no text, when known (a model that ran out of time)


@dataclass(frozen=True)
class Partial:
    """A streaming answerer's progress: the checked answer so far (final) and the text still unchecked."""

    checked: str
    pending: str


class Answerer(Protocol):
    def compose(self, evidence: Evidence) -> Draft: ...


class ExtractiveAnswerer:
    """Quotes the best sentence, those nearly as likely to answer that add a fact, and other sources' figures."""

    def __init__(self, max_sentences: int) -> None:
        self.max_sentences = max_sentences

    def select(self, evidence: Evidence) -> list[Candidate]:
        read = [c for c in evidence.candidates if c.reader_logit is not None]
        if not read:
            return []
        best = read[0]
        chosen = [best]
        for candidate in read[1:]:
            if len(chosen) == self.max_sentences:
                break
            if log_odds(candidate.probability) < log_odds(best.probability) - JOIN_MARGIN:  # not break: the reader may order them
                continue
            if candidate.reader_logit < best.reader_logit - READER_JOIN_MARGIN:
                continue
            # Close in likelihood is not enough to join: it must also speak to half as much of the question.
            if candidate.coverage < best.coverage / 2:
                continue
            if not any(_repeats(candidate, earlier) for earlier in chosen):
                chosen.append(candidate)
        if not asks_for_figure(evidence.standalone):
            return chosen
        for candidate in evidence.candidates:  # read or not: a version is found by its figures, not its score
            if len(chosen) == self.max_sentences:
                break
            # Asked for an amount, and another source states the same thing with another one: show every version.
            if candidate not in chosen and any(other_version(candidate, earlier) for earlier in chosen):
                chosen.append(candidate)
        return chosen

    def compose(self, evidence: Evidence) -> Draft:
        chosen = self.select(evidence)
        citations = [make_citation(n, c, with_answer=True) for n, c in enumerate(chosen, 1)]
        lines = [f"{display_sentence(c.record.text, c.published)} [{n}]" for n, c in enumerate(chosen, 1)]
        if asks_for_figure(evidence.standalone) and disagree(chosen):
            lines.insert(0, "The sources give different figures:")
        return Draft(" ".join(lines), citations)


def _openai(settings: Settings, reader: Reader | None) -> Answerer:
    from qa.generate import openai_answerer

    return openai_answerer(settings, reader)


def _local(settings: Settings, reader: Reader | None) -> Answerer:
    from qa.generate import local_answerer

    return local_answerer(settings, reader)


# Each factory gets the settings and the engine's learned reader (generative answerers use it as their judge).
ANSWERERS: dict[str, Callable[[Settings, Reader | None], Answerer]] = {
    "extractive": lambda settings, reader: ExtractiveAnswerer(settings.max_answer_sentences),
    "openai": _openai,
    "local": _local,
}


def make_citation(number: int, candidate: Candidate, with_answer: bool = False) -> Citation:
    """The citation of a candidate; `with_answer` marks the reader's answer span inside the quote."""
    record = candidate.record
    answer = candidate.answer_span if with_answer and candidate.answer_span else None
    if answer and answer[1] - answer[0] >= len(record.text.strip()):
        answer = None  # the whole sentence is no pointer
    return Citation(number=number, source=record.source, quote=record.text, start=record.start, end=record.end,
                    score=round(candidate.probability, 4), context=candidate.context,
                    context_start=candidate.context_start,
                    answer_start=record.start + answer[0] if answer else None,
                    answer_end=record.start + answer[1] if answer else None,
                    page=page_at(candidate.pages, record.start))


def _repeats(candidate: Candidate, earlier: Candidate) -> bool:
    """Says nothing new: nearly the same words or meaning, and no figure of its own."""
    if not figures(candidate.record.text) <= figures(earlier.record.text):
        return False
    mine, theirs = candidate.terms, earlier.terms
    overlap = len(mine & theirs) / max(len(mine | theirs), 1)
    return overlap >= 0.5 or float(np.dot(candidate.record.vector, earlier.record.vector)) > 0.9


def other_version(first: Candidate, second: Candidate) -> bool:
    """Two sources telling the same thing with different amounts."""
    if first.record.source == second.record.source:
        return False
    a, b = amounts(first.record.text), amounts(second.record.text)
    return bool(a and b and a - b and b - a) and float(np.dot(first.record.vector, second.record.vector)) > PARAPHRASE


def disagree(chosen: list[Candidate]) -> bool:
    return any(other_version(first, second) for i, first in enumerate(chosen) for second in chosen[i + 1:])
