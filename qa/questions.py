"""What the user typed, made fit for retrieval: checked, and completed from the conversation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from qa.schema import InvalidQuestion, UnsupportedLanguage

_ANAPHORA = re.compile(
    r"(?i)\b(it|its|it's|that|this|those|these|they|them|their|theirs|he|him|his|she|her|there|then|"
    r"the same|the company|the firm|the report|the car|the plant|the factory|the deal)\b"
)
# A capitalised word after the first: the question names its own subject ("Xiaomi", "Lei Jun"). Literal
# values written capitalised ("set it to None", "if it returns True") are values, not subjects.
_OWN_NAME = re.compile(r"(?<!^)(?<![.!?] )\b(?!(?:I|None|True|False|Null|NaN)\b)[A-Z][\w'’-]*")
LATIN_SHARE = 0.5  # below this share of Latin letters, the question is in a script the models cannot read
_CONTINUATION = re.compile(r"(?i)^\s*(and|but|also|so|or|what about|how about|why|why not|really|and then)\b")
_QUESTION_WORDS = {"what", "when", "where", "who", "whom", "whose", "which", "why", "how", "did", "does", "do",
                   "is", "are", "was", "were", "will", "would", "can", "could", "should", "the", "a", "an", "of",
                   "about", "report", "reported", "say", "said", "mean", "much", "many"}
# "Over what period?" and "In which year?" say nothing of their subject: a preposition is not content.
_PREPOSITIONS = {"at", "by", "for", "from", "in", "into", "on", "over", "to", "with", "within", "during", "since",
                 "until", "after", "before", "per", "under", "between", "through"}
_NOT_CONTENT = _QUESTION_WORDS | _PREPOSITIONS


def validate_question(question: object, max_chars: int) -> str:
    """The question, trimmed, or InvalidQuestion saying what is wrong with it."""
    if not isinstance(question, str):
        raise InvalidQuestion("The question must be text.")
    cleaned = "".join(ch for ch in question if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if not cleaned:
        raise InvalidQuestion("Please type a question.")
    if len(cleaned) > max_chars:
        raise InvalidQuestion(
            f"The question is {len(cleaned):,} characters long; the limit is {max_chars:,}. Ask about one thing at a time."
        )
    if not any(ch.isalnum() for ch in cleaned):
        raise InvalidQuestion("That doesn't look like a question: it has no letters or digits.")
    letters = [ch for ch in cleaned if ch.isalpha()]
    if letters and sum(_is_latin(ch) for ch in letters) / len(letters) < LATIN_SHARE:
        raise UnsupportedLanguage(
            "qa's models read English only, so they cannot understand this question (the documents may well "
            "hold the answer). Please ask in English."
        )
    return " ".join(cleaned.split())


MAX_HISTORY = 100  # earlier questions kept for follow-ups; a conversation longer than this keeps its latest


def validate_history(history: object, max_chars: int) -> list[str]:
    """The earlier questions of a conversation, checked like questions: None is no history, an item that is
    not text or is too long is InvalidQuestion (it would be glued to the next question), blank items are dropped."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not hasattr(history, "__iter__"):
        raise InvalidQuestion("The history must be a list of the earlier questions, oldest first.")
    earlier = []
    for item in list(history)[-MAX_HISTORY:]:
        if not isinstance(item, str):
            raise InvalidQuestion("Each earlier question in the history must be text.")
        try:
            earlier.append(validate_question(item, max_chars))
        except UnsupportedLanguage:
            earlier.append(" ".join(item.split()))
        except InvalidQuestion as error:
            if item.strip() and len(item) > max_chars:
                raise InvalidQuestion(f"An earlier question in the history is too long: {error}") from None
    return earlier


def _is_latin(letter: str) -> bool:
    return letter.isascii() or unicodedata.name(letter, "").startswith("LATIN")


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before ("When was that reported?", "And BYD?").

    A question that names its own subject stands alone ("How much will Xiaomi invest in the
    car business?"), whatever pronouns or definite nouns it also uses, unless it opens like
    a continuation ("And BYD?", "What about Lei Jun?").
    """
    if _CONTINUATION.search(question):
        return True
    if _OWN_NAME.search(question.strip()):
        return False
    if _ANAPHORA.search(question):
        return True
    content = [w for w in re.findall(r"[A-Za-z0-9]+", question.lower()) if w not in _NOT_CONTENT]
    return len(content) <= 1


def condense(question: str, history: Sequence[str]) -> str:
    """A question that stands alone: follow-ups carry the earlier standalone question with them.

    `history` holds the user's earlier questions, oldest first. Without a language model the
    completion is the earlier question itself, which gives retrieval the subject back.
    """
    standalone = ""
    for earlier in [*history, question]:
        standalone = f"{standalone} {earlier}".strip() if standalone and is_follow_up(earlier) else earlier
    return standalone
