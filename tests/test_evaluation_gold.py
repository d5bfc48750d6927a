"""Loading gold files: the documented format, and errors that name the line and the problem."""

import json
from pathlib import Path

import pytest

from qa.documents import load_corpus
from qa.evaluation.gold import (
    GoldFormatError,
    GoldSpan,
    item_to_json,
    load_gold,
    locate_evidence,
    parse_item,
    write_gold,
)
from qa.evaluation.metrics import file_of

REPO = Path(__file__).resolve().parents[1]
GOOD = {"id": "q1", "kind": "fact", "question": "Who?", "answerable": True, "answers": ["BAIC"],
        "evidence": [{"source": "a.txt", "quote": "BAIC Group"}]}


def load_gold_from(*objects) -> list:
    return [parse_item(data) for data in objects]


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loads_items_with_defaults_and_skips_blank_lines(tmp_path):
    minimal = {"id": "q2", "kind": "unanswerable", "question": "What is the range?", "answerable": False}
    items = load_gold(write_lines(tmp_path / "g.jsonl", json.dumps(GOOD), "", json.dumps(minimal)))
    assert [item.id for item in items] == ["q1", "q2"]
    assert items[0].answers == ("BAIC",) and items[0].gold_files == {"a.txt"}
    assert items[1].history == () and items[1].evidence == ()


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2: Expecting property name"),
    ('["a list"]', "line 2: not a JSON object"),
    (json.dumps({**GOOD, "id": "q9", "kind": "trivia"}), "line 2: kind 'trivia' is not one of"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "question"}), "line 2: missing question"),
    (json.dumps({**GOOD, "id": "q9", "answers": []}), "line 2: an answerable item needs at least one accepted answer"),
    (json.dumps({**GOOD, "id": "q9", "kind": "unanswerable", "answerable": False}),
     "line 2: an unanswerable item has no answers and no evidence"),
    (json.dumps({**GOOD, "id": "q9", "history": "not a list"}), "line 2: history must be a list"),
    (json.dumps({**GOOD, "id": "q9", "evidence": [{"source": "a.txt"}]}), "line 2: evidence entry"),
    (json.dumps(GOOD), "line 2: id 'q1' is used twice"),
])
def test_a_bad_line_is_named_with_its_problem(tmp_path, line, message):
    path = write_lines(tmp_path / "g.jsonl", json.dumps(GOOD), line)
    with pytest.raises(GoldFormatError) as error:
        load_gold(path)
    assert f"{path} {message}" in str(error.value)


def test_missing_or_empty_file(tmp_path):
    with pytest.raises(GoldFormatError, match="cannot read gold file"):
        load_gold(tmp_path / "absent.jsonl")
    with pytest.raises(GoldFormatError, match="holds no gold items"):
        load_gold(write_lines(tmp_path / "empty.jsonl", ""))


def test_evidence_is_located_in_the_corpus_or_reported():
    texts = {"a.txt": "Xiaomi talks to BAIC Group. Again BAIC Group."}
    second = {"source": "a.txt", "quote": "BAIC Group", "start": 34}
    items = load_gold_from(GOOD, {**GOOD, "id": "q2", "evidence": [second]})
    spans = locate_evidence(items, texts)
    assert spans["q1"] == [GoldSpan("a.txt", 16, 26)]  # first occurrence
    assert spans["q2"] == [GoldSpan("a.txt", 34, 44)]  # the given start
    wrong = load_gold_from({**GOOD, "evidence": [{"source": "a.txt", "quote": "BAIC Group", "start": 3}]},
                           {**GOOD, "id": "q2", "evidence": [{"source": "b.txt", "quote": "x"}]})
    with pytest.raises(GoldFormatError) as error:
        locate_evidence(wrong, texts)
    assert "q1: quote not found in a.txt" in str(error.value)
    assert "q2: source 'b.txt' is not a file of the corpus" in str(error.value)


def test_written_items_load_back_the_same(tmp_path):
    items = load_gold_from(GOOD, {**GOOD, "id": "q2", "history": ["Who?"], "kind": "followup",
                                  "evidence": [{"source": "a.txt", "quote": "BAIC", "start": 4}]})
    write_gold(tmp_path / "g.jsonl", items)
    assert load_gold(tmp_path / "g.jsonl") == items
    assert "start" not in item_to_json(items[0])["evidence"][0]


def test_the_seeds_gold_set_loads_and_fits_the_seeds():
    items = load_gold(REPO / "eval" / "seeds_gold.jsonl")
    documents, _ = load_corpus(REPO / "seeds")
    spans = locate_evidence(items, {file_of(doc.source): doc.text for doc in documents})
    assert len(items) >= 60
    assert all(spans[item.id] for item in items if item.answerable)
