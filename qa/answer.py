"""The extractive answerer: choose the sentences that answer, cite each, or refuse.

No language model: every sentence of an answer is a sentence of the corpus, so every
claim is exactly as strong as its citation. A sentence's score mixes its embedding
similarity to the question, how much of the question's rarer vocabulary it contains,
and whether it holds the kind of thing asked for (a date for "when", a figure for "how
much"). The refusal threshold on the best score is calibrated on the gold set (`qa eval
--calibrate`, see README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import NodeWithScore

from qa.retrieve import TermStatistics, keywords
from qa.schema import Citation
from qa.sentences import is_boilerplate
from qa.store import SentenceRecord

_MONTHS = r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?|nov(ember)?|dec(ember)?"
_DATE = re.compile(
    rf"(?i)\b({_MONTHS})\b|\b(19|20)\d\d\b|\b(last|next|this) (year|month|week)\b|\btoday\b|\byesterday\b|"
    r"\b(first|second) half\b|\bmid-\w+|\bearlier this\b|\bquarter\b|\bQ[1-4]\b"
)
# Money and quantities, not dates: "$1.54 billion", "300,000", "3 lakh", "40%".
_AMOUNT = re.compile(r"(?i)[$€£¥]\s?\d[\d.,]*(?:\s*(?:billion|million|trillion|k)\b)?|\b\d[\d.,]*\s*(?:billion|million|trillion|lakh|crore|%|percent)|\b\d{1,3}(?:,\d{2,3})+\b")
_FIGURE_TOKEN = re.compile(r"(?i)[$€£¥]?\d+(?:[.,]\d+)*(?:\s*(?:billion|million|lakh|crore|k)\b)?")
_PROPER_NOUN = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_ASKS_DATE = re.compile(r"(?i)^\s*when\b|\bwhat (date|year|month|day)\b|\bhow long ago\b|\bby when\b")
_ASKS_FIGURE = re.compile(
    r"(?i)\bhow (much|many|big|large)\b|\bwhat (price|percentage|share|amount|figure|number)\b|\bcost\b|\bcapacity\b"
)
_ASKS_NAME = re.compile(r"(?i)^\s*(who|whom|whose)\b|\bwhich (company|companies|firm|firms|partner|partners|analyst|brand|outlet)\b")
_INDIAN_LAKH = re.compile(r"(?i)\b(\d+(?:\.\d+)?)\s*lakh\b")
_INDIAN_GROUPING = re.compile(r"\b\d{1,2},(?:\d{2},)+\d{3}\b")

_RELATIVE_YEAR = re.compile(r"(?i)\b(last|this|next) year\b")
_YEAR_OFFSET = {"last": -1, "this": 0, "next": 1}

REFUSAL_TEXT = "The documents don't say. The closest passages I found are listed below."


@dataclass(frozen=True)
class Weights:
    """How a sentence's score is made; fitted with the gold set (see README)."""

    dense: float = 0.7
    lexical: float = 0.4
    answer_type: float = 0.05
    lexical_power: float = 3.0  # above 1, containing all of the question's words counts more than most of them
    margin: float = 0.1  # sentences this close to the best one join the answer


@dataclass
class ScoredSentence:
    record: SentenceRecord
    score: float
    context: str
    context_start: int
    published: str = ""
    coverage: float = 0.0  # share of the question's weighted words the sentence contains
    terms: frozenset[str] = frozenset()  # its keywords, kept for the redundancy check


def _kind_bonus(question: str, sentence: str) -> float:
    """+1 when the sentence holds what the question asks for, -1 when it cannot, 0 when the question is open.

    Only what the question does not already say counts: "How much would it pay for the
    No. 2 plant?" is not answered by a sentence whose one figure is the 2 of "No. 2".
    """
    for asks, holds in ((_ASKS_DATE, _DATE), (_ASKS_FIGURE, _FIGURE_TOKEN)):
        if asks.search(question):
            found = {m.group(0).lower() for m in holds.finditer(sentence)}
            given = {m.group(0).lower() for m in holds.finditer(question)}
            return 1.0 if found - given else -1.0
    if _ASKS_NAME.search(question):
        names = {m.group(0).lower() for m in _PROPER_NOUN.finditer(sentence)}
        asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
        return 1.0 if names - asked else -1.0
    return 0.0


def _mentions(pattern: re.Pattern[str], text: str) -> frozenset[str]:
    return frozenset(" ".join(m.group(0).lower().split()) for m in pattern.finditer(text))


def figures(text: str) -> frozenset[str]:
    """The numbers a sentence states, normalised for comparison ("$1.54 billion", "2024")."""
    return _mentions(_FIGURE_TOKEN, text)


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


class ExtractiveAnswerer:
    """Picks and cites corpus sentences; refuses when the best one is not good enough."""

    def __init__(self, refusal_threshold: float, max_sentences: int, weights: Weights | None = None) -> None:
        self.refusal_threshold = refusal_threshold
        self.max_sentences = max_sentences
        self.weights = weights or Weights()

    def score(self, question: str, standalone: str, query_vector: np.ndarray, passages: list[NodeWithScore],
              sentences: list[SentenceRecord], statistics: TermStatistics) -> list[ScoredSentence]:
        """Every usable sentence of the passages, best first; overlapping chunks give a sentence once."""
        # A follow-up's own words say what is asked now; the earlier question only sets the subject.
        coverage = [_Coverage(keywords(question), statistics), _Coverage(keywords(standalone), statistics)]
        chunks = {hit.node.node_id: hit.node for hit in passages}
        best: dict[tuple[str, int], ScoredSentence] = {}
        for record in sentences:
            if is_boilerplate(record.text) or len(record.text.split()) < 4:
                continue
            dense = float(np.dot(query_vector, record.vector))
            present = frozenset(keywords(record.text))
            covered = sum(part.of(present) for part in coverage) / len(coverage)
            score = (self.weights.dense * dense + self.weights.lexical * covered ** self.weights.lexical_power
                     + self.weights.answer_type * _kind_bonus(question, record.text))
            key = (record.source, record.start)
            if key not in best or score > best[key].score:
                chunk = chunks[record.chunk_id]
                best[key] = ScoredSentence(record, score, chunk.get_content(), chunk.start_char_idx or 0,
                                           chunk.metadata.get("published", ""), covered, present)
        return sorted(best.values(), key=lambda s: -s.score)

    def select(self, ranked: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, those close to it that add a fact, and every other source's version
        of a chosen sentence that states a different amount (the articles disagree; show both)."""
        chosen: list[ScoredSentence] = []
        for candidate in ranked:
            if len(chosen) == self.max_sentences or candidate.score < ranked[0].score - self.weights.margin:
                break
            # Close in meaning is not enough to join: it must also speak to half as much of the question.
            if candidate.coverage < ranked[0].coverage / 2:
                continue
            if not any(_repeats(candidate, earlier) for earlier in chosen):
                chosen.append(candidate)
        for candidate in ranked:
            if len(chosen) == self.max_sentences:
                break
            # A near-paraphrase of a chosen sentence is as relevant as it, whatever its own score.
            if candidate not in chosen and any(_other_version(candidate, earlier) for earlier in chosen):
                chosen.append(candidate)
        return chosen

    def answer(self, question: str, standalone: str, query_vector: np.ndarray, passages: list[NodeWithScore],
               sentences: list[SentenceRecord], statistics: TermStatistics) -> tuple[str, list[Citation], bool]:
        """The answer text, its citations, and whether it is a refusal."""
        ranked = self.score(question, standalone, query_vector, passages, sentences, statistics)
        if not ranked or ranked[0].score < self.refusal_threshold:
            closest = ranked[:3]
            return REFUSAL_TEXT, [make_citation(n, s) for n, s in enumerate(closest, 1)], True
        chosen = self.select(ranked)
        citations = [make_citation(n, s) for n, s in enumerate(chosen, 1)]
        lines = [f"{display_sentence(s.record.text, s.published)} [{n}]" for n, s in enumerate(chosen, 1)]
        if _disagree(chosen):
            lines.insert(0, "The sources give different figures:")
        return " ".join(lines), citations, False


class _Coverage:
    """The share of a question's rarer vocabulary that a sentence contains (idf-weighted)."""

    def __init__(self, terms: list[str], statistics: TermStatistics) -> None:
        self.weights = {term: statistics.idf(term) for term in set(terms)}
        self.total = sum(self.weights.values()) or 1.0

    def of(self, present: frozenset[str]) -> float:
        return sum(weight for term, weight in self.weights.items() if term in present) / self.total


def make_citation(number: int, sentence: ScoredSentence) -> Citation:
    record = sentence.record
    return Citation(number=number, source=record.source, quote=record.text, start=record.start, end=record.end,
                    score=round(sentence.score, 4), context=sentence.context, context_start=sentence.context_start)


def _repeats(candidate: ScoredSentence, earlier: ScoredSentence) -> bool:
    """Says nothing new: nearly the same words or meaning, and no figure of its own."""
    if not figures(candidate.record.text) <= figures(earlier.record.text):
        return False
    mine, theirs = candidate.terms, earlier.terms
    overlap = len(mine & theirs) / max(len(mine | theirs), 1)
    return overlap >= 0.5 or float(np.dot(candidate.record.vector, earlier.record.vector)) > 0.9


def _other_version(first: ScoredSentence, second: ScoredSentence) -> bool:
    """Two sources telling the same thing with different amounts."""
    if first.record.source == second.record.source:
        return False
    a, b = amounts(first.record.text), amounts(second.record.text)
    return bool(a and b and a - b and b - a) and float(np.dot(first.record.vector, second.record.vector)) > 0.88


def _disagree(chosen: list[ScoredSentence]) -> bool:
    return any(_other_version(first, second) for i, first in enumerate(chosen) for second in chosen[i + 1:])
