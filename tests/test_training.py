"""Training data, splits, the joint benchmark and the calibration maths, on tiny hand-built SQuAD files."""

import json

import numpy as np
import pytest

from qa.evaluation.squad import build_joint_dataset, split_articles
from qa.training.calibrate import fit_logistic, joint_metrics, threshold_for
from qa.training.data import SQUAD_FILES, _folded_span, build_groups, load_split, squad_files


def paragraph(context, *qas):
    return {"context": context, "qas": [
        {"id": f"{abs(hash((context, q))) % 10**8}", "question": q,
         "answers": [{"text": a, "answer_start": context.index(a)}]} for q, a in qas]}


ARTICLES = [
    {"title": "ferry", "paragraphs": [paragraph(
        "The new ferry entered service in May. It will carry 300 passengers a day. The route links two islands.",
        ("How many passengers will the ferry carry?", "300 passengers"),
        ("When did the ferry enter service?", "May"))]},
    {"title": "bridge", "paragraphs": [paragraph(
        "The bridge was finished in 1932. Its main span is 503 metres long. Tolls were dropped in 1970.",
        ("How long is the main span?", "503 metres"))]},
]


@pytest.fixture
def data_dir(tmp_path):
    for name in SQUAD_FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"data": ARTICLES}))
    return tmp_path


def test_the_split_is_by_article_disjoint_complete_and_fixed():
    split = split_articles(797, "nyt")
    assert sorted(split["train"] + split["dev"] + split["test"]) == list(range(797))
    assert not set(split["train"]) & set(split["test"]) and not set(split["dev"]) & set(split["test"])
    assert (len(split["train"]), len(split["dev"]), len(split["test"])) == (638, 80, 79)
    assert split == split_articles(797, "nyt") and split != split_articles(797, "amazon_reviews")


def test_pairs_hold_the_answer_in_positives_and_never_in_negatives(data_dir):
    sentences, questions, spans = load_split(data_dir, "train")
    assert len(questions) == 3 * len(SQUAD_FILES)
    groups = build_groups(sentences, questions, spans, seed=1, show_progress=False)
    assert all(group[0].label == 1 and not any(p.label for p in group[1:]) for group in groups)
    pairs = [pair for group in groups for pair in group]
    answers = {q.text: [a for a, _ in q.answers] for q in questions}
    positives = [p for p in pairs if p.label]
    assert len(positives) == len(questions)
    for pair in pairs:
        holds = any(a.lower() in pair.sentence.lower() for a in answers[pair.question])
        assert holds == bool(pair.label), pair
        if pair.label:
            start, end = pair.answer
            assert " ".join(pair.sentence.split())[start:end] in answers[pair.question]
    contexts = {p.sentence: p.context for p in pairs}
    assert contexts.get("It will carry 300 passengers a day.") == "The new ferry entered service in May."


def test_missing_training_data_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="squad_shifts_nyt"):
        squad_files(tmp_path)


def test_folded_spans_follow_whitespace_folding():
    sentence = "It  will\ncarry   300 passengers."
    start = sentence.index("300")
    assert _folded_span(sentence, start, start + len("300 passengers")) == (14, 28)
    assert " ".join(sentence.split())[14:28] == "300 passengers"


def test_the_joint_benchmark_asks_half_its_questions_about_articles_left_out(tmp_path):
    articles = [{"title": f"a{n}", "paragraphs": [paragraph(f"Article {n} says the answer is {n * 7}.",
                                                            (f"What does article {n} say?", str(n * 7)))]}
                for n in range(40)]
    path = tmp_path / "nyt_v1.0.json"
    path.write_text(json.dumps({"data": articles}))
    items = build_joint_dataset([path], "test", tmp_path / "corpus", None, seed=3)
    indexed = {p.name for p in (tmp_path / "corpus").glob("*.txt")}
    answerable = [i for i in items if i.answerable]
    unanswerable = [i for i in items if not i.answerable]
    assert len(answerable) == len(unanswerable) >= 1
    assert all(i.evidence[0].source in indexed for i in answerable)
    test_articles = split_articles(40, "nyt")["test"]
    assert len(indexed) + len(unanswerable) <= len(test_articles) + 1
    for item in unanswerable:
        number = int(item.question.split()[3])
        assert f"nyt_{number:04d}.txt" not in indexed


def test_logistic_fit_finds_the_informative_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    weights, bias = fit_logistic(x, y)
    assert weights[0] > 5 * abs(weights[1]) and abs(bias) < 1


def test_the_threshold_answers_at_most_the_target_share_of_unanswerable_questions():
    unanswerable = [(s, False, False) for s in np.linspace(0.0, 0.99, 100)]
    answerable = [(0.995, True, True), (0.5, True, True), (0.999, True, False)]
    threshold = threshold_for(unanswerable + answerable, target=0.03)
    assert sum(s >= threshold for s, *_ in unanswerable) == 3
    metrics = joint_metrics(unanswerable + answerable, threshold)
    assert metrics["unanswerable_answered"] == pytest.approx(0.03)
    assert metrics["answerable_accuracy"] == pytest.approx(1 / 3)
    assert metrics["best_sentence_holds_answer"] == pytest.approx(2 / 3)


def _group_scores(answer_logit, other_logit, other_span):
    """One question's group: its answer sentence (answer in token 1) and one negative; 4 tokens each."""
    import torch

    from qa.training.data import Pair

    group = [Pair("q", "Ferry carries 300.", "", 1, (0, 5)), Pair("q", "Tolls were dropped.", "", 0)]
    offsets = np.full((2, 4, 2), -1)
    offsets[:, 1], offsets[:, 2] = (0, 5), (6, 13)  # tokens 1 and 2 are in the sentence, 0 and 3 are not
    start = torch.tensor([[0.0, 4.0, 0.0, 0.0], [0.0, other_span, other_span, 0.0]])
    return [group], torch.tensor([answer_logit, other_logit]), start, start.clone(), offsets


def test_the_listwise_loss_wants_the_answer_ranked_first_in_its_group():
    from qa.training.finetune import group_losses

    first = group_losses(*_group_scores(3.0, -3.0, 0.0))
    second = group_losses(*_group_scores(-3.0, 3.0, 0.0))
    assert float(first) < float(second)


def test_span_scores_are_normalised_over_the_whole_group():
    """A confident span in the wrong sentence costs, though the answer sentence's own scores are unchanged."""
    from qa.training.finetune import group_losses

    quiet = group_losses(*_group_scores(3.0, -3.0, -5.0))
    confident_elsewhere = group_losses(*_group_scores(3.0, -3.0, 6.0))
    assert float(confident_elsewhere) > float(quiet) + 1.0


def test_the_comparison_scores_the_default_decision_as_the_engine_applies_it():
    from qa.decision import BASE
    from qa.training.calibrate import QuestionRows, compare

    def rows(*sentences: dict) -> np.ndarray:
        return np.array([[s.get(name, 0.0) for name in BASE] for s in sentences])

    plain = {"dense": 0.8, "coverage": 1.0, "coverage_cubed": 1.0, "reader_logit": -2.0}
    answer = {"dense": 0.8, "coverage": 0.9, "coverage_cubed": 0.729, "reader_logit": 3.0}
    undated = {**plain, "kind": -1.0, "reader_logit": -3.0, "kind_and_reader_reject": 1.0}
    questions = [QuestionRows(True, rows(plain, answer), np.array([0.0, 1.0]), np.zeros(2)),
                 QuestionRows(False, rows(undated), np.array([0.0]), np.zeros(1))]
    default = next(c for c in compare(questions, questions) if c.variant == "hand-fitted score (the default)")
    # The score alone quotes the plain sentence; the reader's clear favourite, the answer, leads instead.
    assert default.test["answerable_accuracy"] == 1.0 and default.test["best_sentence_holds_answer"] == 1.0
    assert default.test["unanswerable_answered"] == 0.0  # no date and the reader doubts it: refused
