"""Checks that the gold question/answer set eval/seeds_gold.jsonl is well formed and grounded.

Every evidence quote must be an exact substring of its source file under seeds/, every
accepted answer must be visible in the evidence, and each kind of question must be
represented at least as often as the evaluation plan requires.
"""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "eval" / "seeds_gold.jsonl"
SEEDS = REPO / "seeds"

KINDS = {"fact", "number", "date", "paraphrase", "multi", "conflict", "unanswerable", "followup"}
FIELDS = {"id", "kind", "question", "history", "answers", "must_include", "evidence", "answerable"}
MIN_COUNTS = {
    "fact": 12,
    "paraphrase": 8,
    "multi": 5,
    "conflict": 4,
    "unanswerable": 14,
    "followup": 6,
}
MIN_NUMBER_OR_DATE = 10
MIN_LINES = 66


def _load() -> list:
    items = []
    for n, line in enumerate(GOLD.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"line {n} is blank"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {n} is not valid JSON: {exc}") from exc
        assert isinstance(item, dict), f"line {n} is not a JSON object"
        items.append(item)
    return items


def _seeds() -> dict:
    assert SEEDS.is_dir(), f"{SEEDS} does not exist"
    return {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir() if p.is_file()}


_ITEMS = None
_SEEDS = None


def items_() -> list:
    global _ITEMS
    if _ITEMS is None:
        _ITEMS = _load()
    return _ITEMS


def seeds_() -> dict:
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = _seeds()
    return _SEEDS


def test_every_line_parses_and_has_the_fields():
    items = items_()
    assert len(items) >= MIN_LINES
    for item in items:
        assert set(item) == FIELDS, f"{item.get('id')}: fields {sorted(item)}"
        assert isinstance(item["id"], str) and item["id"].startswith("seeds-")
        assert isinstance(item["question"], str) and item["question"].strip()
        assert isinstance(item["history"], list) and all(isinstance(h, str) for h in item["history"])
        assert isinstance(item["answers"], list) and all(isinstance(a, str) and a.strip() for a in item["answers"])
        assert isinstance(item["must_include"], list)
        assert isinstance(item["evidence"], list)
        assert isinstance(item["answerable"], bool)


def test_ids_are_unique():
    items = items_()
    ids = [item["id"] for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_questions_are_unique():
    items = items_()
    questions = [item["question"] for item in items]
    duplicates = sorted({q for q in questions if questions.count(q) > 1})
    assert not duplicates, f"duplicate questions: {duplicates}"


def test_kinds_are_valid():
    items = items_()
    for item in items:
        assert item["kind"] in KINDS, f"{item['id']}: bad kind {item['kind']!r}"


def test_evidence_quotes_are_exact_substrings_of_their_sources():
    items, seeds = items_(), seeds_()
    problems = []
    for item in items:
        for ev in item["evidence"]:
            assert set(ev) == {"source", "quote"}, f"{item['id']}: evidence fields {sorted(ev)}"
            assert ev["source"] in seeds, f"{item['id']}: unknown source {ev['source']!r}"
            assert ev["quote"].strip(), f"{item['id']}: empty quote"
            if ev["quote"] not in seeds[ev["source"]]:
                problems.append(f"{item['id']}: quote not found in {ev['source']}: {ev['quote']!r}")
    assert not problems, "\n".join(problems)


def test_answerable_items_have_answers_grounded_in_evidence():
    items = items_()
    problems = []
    for item in items:
        if not item["answerable"]:
            continue
        assert item["answers"], f"{item['id']}: answerable item without answers"
        assert item["evidence"], f"{item['id']}: answerable item without evidence"
        quotes = [ev["quote"].lower() for ev in item["evidence"]]
        for answer in item["answers"]:
            if not any(answer.lower() in q for q in quotes):
                problems.append(f"{item['id']}: answer {answer!r} not in any evidence quote")
    assert not problems, "\n".join(problems)


def test_multi_items_draw_on_at_least_two_articles():
    for item in items_():
        if item["kind"] == "multi":
            sources = {ev["source"] for ev in item["evidence"]}
            assert len(sources) >= 2, f"{item['id']}: multi item with evidence from {sorted(sources)}"


def test_unanswerable_items_have_no_answers_or_evidence():
    items = items_()
    for item in items:
        if item["kind"] == "unanswerable":
            assert item["answerable"] is False, item["id"]
            assert item["answers"] == [], item["id"]
            assert item["evidence"] == [], item["id"]
            assert item["must_include"] == [], item["id"]
        else:
            assert item["answerable"] is True, f"{item['id']}: only unanswerable items may be unanswerable"


def test_history_only_on_followups_and_points_at_other_items():
    items = items_()
    by_question = {}
    for item in items:
        by_question.setdefault(item["question"], []).append(item["id"])
    for item in items:
        if item["kind"] != "followup":
            assert item["history"] == [], f"{item['id']}: history on a non-followup item"
            continue
        assert item["history"], f"{item['id']}: followup without history"
        for earlier in item["history"]:
            others = [i for i in by_question.get(earlier, []) if i != item["id"]]
            assert others, f"{item['id']}: history question {earlier!r} is not an item of its own"


def test_must_include_only_on_conflicts_and_grounded():
    items = items_()
    for item in items:
        if item["kind"] != "conflict":
            assert item["must_include"] == [], f"{item['id']}: must_include on a non-conflict item"
            continue
        groups = item["must_include"]
        assert len(groups) >= 2, f"{item['id']}: a conflict needs at least two versions"
        quotes = [ev["quote"].lower() for ev in item["evidence"]]
        for group in groups:
            assert isinstance(group, list) and group, f"{item['id']}: empty must_include group"
            assert all(isinstance(s, str) and s.strip() for s in group), item["id"]
            assert any(s.lower() in q for s in group for q in quotes), (
                f"{item['id']}: no spelling of group {group!r} appears in the evidence"
            )


def test_minimum_counts_per_kind():
    items = items_()
    counts = {kind: 0 for kind in KINDS}
    for item in items:
        counts[item["kind"]] += 1
    for kind, minimum in MIN_COUNTS.items():
        assert counts[kind] >= minimum, f"{kind}: {counts[kind]} < {minimum}"
    assert counts["number"] + counts["date"] >= MIN_NUMBER_OR_DATE, counts
