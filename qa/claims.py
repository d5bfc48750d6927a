"""The citation check: does the one passage a claim cites say what the claim says?

Each claim of a generative answer is held against each passage it cites, alone (never the
cited passages pooled, so figures cannot be borrowed across sources): every clause must be
made of the passage's words, its figures must be the passage's (or the question's), and it
must not flip the passage's polarity ("is not negotiating", "refused" where the passage
negates nothing, or the reverse). Citations whose passage fails are dropped; a claim whose
passages all fail is dropped. The learned reader then judges whether the claim answers the
question at all (qa/reader.py reads (question, sentence) pairs), which catches claims that
are true but beside the point and claims injected by a document.
"""

from __future__ import annotations

import re

from qa.ranking import FIGURE_TOKEN, kind_match
from qa.retrieve import keywords

SUPPORT = 0.6  # share of each clause's content words that its passage must contain
NEGATION_WINDOW = 4  # words after a negation that it governs

_NEGATION = re.compile(
    r"(?i)\b(not|no|never|none|neither|nor|without|cannot|refus\w*|den(?:y|ied|ies|ial)|declin\w*|reject\w*)\b|n['’]t\b")
_CUE = {"refus": "refuse", "den": "deny", "declin": "decline", "reject": "reject"}
_CLAUSES = re.compile(r"(?i),?\s+(?:and|but|while|whereas|although)\s+(?=\w+\s+\w+)|;\s*|,\s+(?=which\b)")
_CURRENCY = re.compile(r"[$€£¥,\s]")


def _cue(word: str) -> str:
    word = word.lower()
    return next((cue for stem, cue in _CUE.items() if word.startswith(stem)), "not")


def negations(text: str) -> set[str]:
    return {_cue(m.group(0)) for m in _NEGATION.finditer(text)}


def negated_words(text: str) -> set[str]:
    """Content words (stemmed) within a few words after a negation: what the text says is not so."""
    tokens = re.findall(r"[\w'’]+", text)
    governed: set[str] = set()
    for i, token in enumerate(tokens):
        if _NEGATION.fullmatch(token) or re.search(r"n['’]t$", token):
            governed.update(keywords(" ".join(tokens[i + 1:i + 1 + NEGATION_WINDOW])))
    return governed


def figure_set(text: str) -> set[str]:
    """Figures compared as written minus currency signs, separators and case ("$1.54 Billion" ~ "1.54 billion")."""
    return {_CURRENCY.sub("", m.group(0).lower()) for m in FIGURE_TOKEN.finditer(text)}


def clauses(text: str) -> list[str]:
    """A claim cut at ", and", "but", ";": an appended claim ("…, and Xiaomi is bankrupt") is checked on its own."""
    return [part for part in _CLAUSES.split(text) if part and re.search(r"\w", part)]


def unsupported_by(claim: str, passage: str, question: str = "") -> str | None:
    """Why `passage` does not support `claim`, or None when it does."""
    extra = figure_set(claim) - figure_set(passage) - figure_set(question)
    if extra:
        written = sorted({m.group(0) for m in FIGURE_TOKEN.finditer(claim) if _CURRENCY.sub("", m.group(0).lower()) in extra})
        return f"its figures {', '.join(written)} are not in the passage it cites"
    flipped = negations(claim) - negations(passage)
    if flipped:
        return f"it says {'/'.join(sorted(flipped))!r} where the passage it cites does not"
    present = set(keywords(passage))
    if not negations(claim) and set(keywords(claim)) & negated_words(passage) & present:
        return "the passage it cites says the opposite (a negation the claim drops)"
    for clause in clauses(claim):
        words = set(keywords(clause))
        if words and len(words & present) / len(words) < SUPPORT:
            missing = sorted(words - present)
            return f"the passage it cites does not say {clause.strip()!r} (missing {', '.join(missing[:5])})"
    if not set(keywords(claim)) & present:
        return "the passage it cites shares none of its words"
    return None


def off_point(question: str, claim: str) -> str | None:
    """A claim that cannot answer: the question asks for a date, amount or name and the claim gives none."""
    if kind_match(question, claim) < 0:
        return "it does not give the date, amount or name the question asks for"
    if re.match(r"(?i)\s*where\b", question) and not re.search(r"(?<!^)\b(?:in|at|near|from)\s+[A-Z]", claim):
        return "the question asks where, and it names no place"
    return None
