"""Building a corpus and gold set from a (tiny, synthetic) SQuAD-format file."""

import json
from pathlib import Path

import pytest

from qa.evaluation.gold import GoldFormatError, load_gold, locate_evidence
from qa.evaluation.squad import build_squad_dataset


def squad_file(tmp_path: Path) -> Path:
    """Five articles of two paragraphs, two questions per paragraph, plus one question without answers."""
    articles = []
    for a in range(5):
        paragraphs = []
        for p in range(2):
            context = f"Article {a} paragraph {p} says the city is Town{a}{p}. It was founded in 19{a}{p}."
            qas = [{"id": f"{a}-{p}-city", "question": f"Which town, {a} {p}?",
                    "answers": [{"text": f"Town{a}{p}", "answer_start": 0}] * 2},
                   {"id": f"{a}-{p}-year", "question": f"When founded, {a} {p}?",
                    "answers": [{"text": f"19{a}{p}", "answer_start": 0}]}]
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"https://example.com/{a}", "paragraphs": paragraphs})
    articles[0]["paragraphs"][0]["qas"].append({"id": "no-answer", "question": "Why?", "answers": []})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    return path


def test_corpus_has_the_sampled_articles_and_paragraph_spans(tmp_path):
    corpus = tmp_path / "out" / "squad"
    items = build_squad_dataset(squad_file(tmp_path), corpus, sample=3, seed=1, articles_total=4)
    assert len(items) == 3 and all(item.answerable and item.kind == "fact" for item in items)
    assert all(item.answers == (item.answers[0],) for item in items)  # repeated answer texts kept once
    files = sorted(path.name for path in corpus.glob("*.txt"))
    asked = {item.evidence[0].source for item in items}
    assert asked <= set(files) and len(files) == max(4, len(asked))
    texts = {name: (corpus / name).read_text(encoding="utf-8") for name in files}
    for item in items:
        evidence = item.evidence[0]
        assert texts[evidence.source][evidence.start:evidence.start + len(evidence.quote)] == evidence.quote
        assert evidence.quote.startswith("Article ")
    paragraphs = texts[files[0]].split("\n\n")  # paragraphs are separated by one blank line
    assert len(paragraphs) == 2 and " paragraph 0 " in paragraphs[0] and " paragraph 1 " in paragraphs[1]
    locate_evidence(items, texts)  # the spans check out against the files
    assert load_gold(corpus.parent / "squad_gold.jsonl") == items


def test_same_seed_same_sample_and_stale_files_go(tmp_path):
    source = squad_file(tmp_path)
    corpus = tmp_path / "squad"
    first = build_squad_dataset(source, corpus, sample=4, seed=7, articles_total=5)
    (corpus / "article_9999.txt").write_text("left over", encoding="utf-8")
    again = build_squad_dataset(source, corpus, sample=4, seed=7, articles_total=2)
    assert [item.id for item in again] == [item.id for item in first]
    assert not (corpus / "article_9999.txt").exists()
    assert len(list(corpus.glob("*.txt"))) == len({item.evidence[0].source for item in again})
    every = build_squad_dataset(source, corpus, sample=100, seed=7, articles_total=0)
    assert len(every) == 20  # the question without answers is left out


def test_not_a_squad_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": 3}]}]}), encoding="utf-8")
    with pytest.raises(GoldFormatError, match="not a readable SQuAD-format file"):
        build_squad_dataset(path, tmp_path / "c", sample=1, seed=1, articles_total=1)
