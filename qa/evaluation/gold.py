"""Gold question sets: the JSONL format, loading it with line-numbered errors, and placing quotes in the corpus.

One JSON object per line (blank lines are skipped):

    id            unique string
    kind          fact | number | date | paraphrase | multi | conflict | unanswerable | followup
    question      the question as a user would type it
    history       earlier questions of the same conversation, oldest first; [] for a single question
    answers       accepted answers: an answer is correct when it contains any one (case-insensitive)
    must_include  for questions the sources disagree on: groups of spellings, one of each group must appear
    evidence      [{"source": file path inside the corpus folder, "quote": exact text of that file,
                    "start": optional character offset of the quote}]
    answerable    false when the corpus cannot answer (kind "unanswerable"): the right answer is a refusal

Only id, kind, question and answerable are required; the lists default to [].
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa.schema import QAError

KINDS = ("fact", "number", "date", "paraphrase", "multi", "conflict", "unanswerable", "followup")


class GoldFormatError(QAError):
    """A gold file that cannot be used; the message names the line or item and what is wrong."""


@dataclass(frozen=True)
class Evidence:
    source: str  # path inside the corpus folder, e.g. "003_f0269a577e7ba432.txt"
    quote: str
    start: int | None = None


@dataclass(frozen=True)
class GoldSpan:
    """Where a gold quote sits in the corpus, in the character offsets citations and passages use."""

    source: str
    start: int
    end: int


@dataclass(frozen=True)
class GoldItem:
    id: str
    kind: str
    question: str
    answerable: bool
    history: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    must_include: tuple[tuple[str, ...], ...] = ()
    evidence: tuple[Evidence, ...] = ()

    @property
    def gold_files(self) -> frozenset[str]:
        return frozenset(evidence.source for evidence in self.evidence)


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise ValueError(f"{field} must be a list of non-empty strings")
    return tuple(value)


def _evidence(value: Any) -> tuple[Evidence, ...]:
    if not isinstance(value, list):
        raise ValueError("evidence must be a list of {source, quote} objects")
    evidence = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry.get("quote"):
            raise ValueError(f"evidence entry {entry!r} needs a source and a non-empty quote")
        start = entry.get("start")
        if start is not None and (not isinstance(start, int) or start < 0):
            raise ValueError(f"evidence start {start!r} must be a character offset")
        evidence.append(Evidence(entry["source"], str(entry["quote"]), start))
    return tuple(evidence)


def parse_item(data: Any) -> GoldItem:
    """One gold item from its JSON object; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [field for field in ("id", "kind", "question", "answerable") if field not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(data["id"], str) or not data["id"].strip():
        raise ValueError("id must be a non-empty string")
    if data["kind"] not in KINDS:
        raise ValueError(f"kind {data['kind']!r} is not one of {', '.join(KINDS)}")
    if not isinstance(data["question"], str) or not data["question"].strip():
        raise ValueError("question must be a non-empty string")
    if not isinstance(data["answerable"], bool):
        raise ValueError("answerable must be true or false")
    groups = data.get("must_include", [])
    if not isinstance(groups, list):
        raise ValueError("must_include must be a list of lists of strings")
    item = GoldItem(
        id=data["id"], kind=data["kind"], question=data["question"], answerable=data["answerable"],
        history=_strings(data.get("history", []), "history"), answers=_strings(data.get("answers", []), "answers"),
        must_include=tuple(_strings(group, "each must_include group") for group in groups),
        evidence=_evidence(data.get("evidence", [])),
    )
    if item.answerable != (item.kind != "unanswerable"):
        raise ValueError("answerable must be false exactly for kind 'unanswerable'")
    if item.answerable and not item.answers:
        raise ValueError("an answerable item needs at least one accepted answer")
    if not item.answerable and (item.answers or item.evidence):
        raise ValueError("an unanswerable item has no answers and no evidence")
    return item


def load_gold(path: Path) -> list[GoldItem]:
    """The items of a gold JSONL file; GoldFormatError names the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise GoldFormatError(f"cannot read gold file {path}: {error.strerror or error}") from error
    items: list[GoldItem] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = parse_item(json.loads(line))
        except (json.JSONDecodeError, ValueError) as error:
            raise GoldFormatError(f"{path} line {number}: {error}") from error
        if item.id in seen:
            raise GoldFormatError(f"{path} line {number}: id {item.id!r} is used twice")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise GoldFormatError(f"{path} holds no gold items")
    return items


def item_to_json(item: GoldItem) -> dict[str, Any]:
    """The JSON object of an item, in the documented format."""
    data = asdict(item)
    data["evidence"] = [{k: v for k, v in e.items() if v is not None} for e in data["evidence"]]
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


def write_gold(path: Path, items: list[GoldItem]) -> None:
    lines = (json.dumps(item_to_json(item), ensure_ascii=False) for item in items)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def locate_evidence(items: list[GoldItem], texts: dict[str, str]) -> dict[str, list[GoldSpan]]:
    """Each item's evidence as spans of the corpus texts (keyed by path inside the corpus folder).

    A quote without a start is found with str.find (its first occurrence). Every quote
    that is not in the corpus is reported at once, so a gold file is fixed in one go.
    """
    spans: dict[str, list[GoldSpan]] = {}
    problems: list[str] = []
    for item in items:
        spans[item.id] = []
        for evidence in item.evidence:
            text = texts.get(evidence.source)
            if text is None:
                problems.append(f"{item.id}: source {evidence.source!r} is not a file of the corpus")
                continue
            start = text.find(evidence.quote) if evidence.start is None else evidence.start
            if start < 0 or text[start:start + len(evidence.quote)] != evidence.quote:
                problems.append(f"{item.id}: quote not found in {evidence.source}: {evidence.quote[:80]!r}")
                continue
            spans[item.id].append(GoldSpan(evidence.source, start, start + len(evidence.quote)))
    if problems:
        raise GoldFormatError("the gold evidence does not match the corpus:\n  " + "\n  ".join(problems))
    return spans
