"""eval/python_docs_gold.jsonl is well formed, and grounded in the pages benchmarks/python_docs.py copies.

The grounding checks read the Python 3.11 HTML docs of Debian's python3.11-doc package through
qa's own reader; they are skipped where that package is not installed.
"""

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from qa.documents import parse_document
from qa.evaluation.gold import load_gold, locate_evidence

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "eval" / "python_docs_gold.jsonl"


def _corpus_script():
    spec = importlib.util.spec_from_file_location("python_docs", REPO / "benchmarks" / "python_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fifty_questions_of_every_kind_on_the_copied_pages():
    items = load_gold(GOLD)
    pages = set(_corpus_script().PAGES)
    assert len(items) == 50
    assert len({item.id for item in items}) == 50
    kinds = Counter(item.kind for item in items)
    assert kinds["unanswerable"] >= 5 and kinds["followup"] >= 5
    assert kinds["number"] + kinds["date"] >= 8
    for item in items:
        if item.kind == "followup":
            assert item.history, item.id
        if item.answerable:
            assert item.answers and item.evidence, item.id
            assert {evidence.source for evidence in item.evidence} <= pages, item.id


def test_quotes_and_answers_are_in_the_text_qa_reads():
    docs = _corpus_script().debian_docs_folder()
    if docs is None:
        pytest.skip("the Debian package python3.11-doc is not installed")
    items = load_gold(GOLD)
    texts = {}
    for item in items:
        for evidence in item.evidence:
            if evidence.source not in texts:
                texts[evidence.source] = parse_document(evidence.source, (docs / evidence.source).read_bytes()).text
    locate_evidence(items, texts)  # raises, naming every quote not found
    for item in items:
        for evidence in item.evidence:
            text = texts[evidence.source].lower()
            assert all(answer.lower() in text for answer in item.answers), item.id
