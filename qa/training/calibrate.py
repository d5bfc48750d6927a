"""Fit the answer/refuse decision on the dev articles and compare it with lighter ones on the test articles.

The engine runs for real: the split's joint benchmark (half its articles indexed, the other
half's questions asked against them) goes through retrieval and the reader, and every
candidate the reader read becomes a row: its features, and whether it contains an accepted
answer. A logistic model over those rows gives P(answers); the threshold is the lowest
that keeps answered unanswerable questions at or under `TARGET_UNANSWERED` on dev.

Two kinds of unanswerable questions count: those asked with their article removed, and the
harder same-topic kind, made from every answerable question by taking away the sentences
that hold its answer (what is left is its own article and paragraph: close, but no answer).
A decision calibrated on off-topic questions alone answers same-topic ones too readily.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.decision import ALL_FEATURES, BASE, FEATURES, HAND_FITTED, Decision, feature_matrix
from qa.engine import Engine
from qa.evaluation.gold import GoldItem
from qa.evaluation.metrics import contains_any
from qa.evaluation.squad import build_joint_dataset

TARGET_UNANSWERED = 0.04  # on dev, both kinds pooled; the goal on unseen articles is <= 5%
L2 = 1e-2
_SENTENCE = ("reader_logit", "span_score", "coverage", "kind", "chunk_first", "keyword_hit")
VARIANTS: dict[str, tuple[str, ...]] = {
    # Dense similarity said "same topic" alone; beside the question's best and mean similarity it also says
    # "nothing here is about this question", the sign of an article that is not in the corpus.
    "reader + features + question context": (*_SENTENCE, "dense", "logit_gap", "logit_share", "best_dense",
                                             "mean_dense", "mean_logit", "logit_x_best_dense", "dense_squared",
                                             "best_dense_squared"),
    "reader + features": _SENTENCE,
    "reader alone": ("reader_logit", "span_score"),
    "features alone (light model)": ("dense", "coverage", "coverage_cubed", "kind", "chunk_first", "keyword_hit"),
}
CHOSEN = "reader + features"


@dataclass
class QuestionRows:
    """The read candidates of one question: feature matrix (all FEATURES) and which contain an answer."""

    answerable: bool
    features: np.ndarray  # FEATURES only; feature_matrix adds the question's context
    labels: np.ndarray
    prefilter: np.ndarray  # the engine's fixed pre-reader blend, for the hand-fitted baseline


def save_rows(path: Path, questions: list[QuestionRows]) -> None:
    """The collected rows, so a decision can be refitted without running the engine again."""
    import pickle

    path.write_bytes(pickle.dumps((list(FEATURES), questions)))


def load_rows(path: Path) -> list[QuestionRows] | None:
    """Rows saved by an earlier run with the same features, or None."""
    import pickle

    if not path.is_file():
        return None
    names, questions = pickle.loads(path.read_bytes())
    return questions if names == list(FEATURES) else None


def collect(engine: Engine, items: Sequence[GoldItem], desc: str) -> list[QuestionRows]:
    rows = []
    names = list(FEATURES)
    for item in tqdm(items, desc=desc, unit="question"):
        read = [c for c in engine.evidence(item.question).candidates if c.reader_logit is not None]
        rows.append(QuestionRows(
            answerable=item.answerable,
            features=np.array([[FEATURES[name](c) for name in names] for c in read], dtype=np.float64).reshape(-1, len(names)),
            labels=np.array([item.answerable and contains_any(c.record.text, item.answers) for c in read], dtype=float),
            prefilter=np.array([c.prefilter for c in read], dtype=np.float64),
        ))
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression, by Newton's method."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[1:], float(beta[0])


def _columns(variant: tuple[str, ...]) -> list[int]:
    return [ALL_FEATURES.index(name) for name in variant]


def best_scores(questions: Sequence[QuestionRows], score, pick=None) -> list[tuple[float, bool, bool]]:
    """Per question: best candidate's score, answerable, and whether the candidate quoted first (the best, or
    the one `pick(question, scores)` names) holds an answer."""
    outcomes = []
    for q in questions:
        if len(q.labels) == 0:
            outcomes.append((-np.inf, q.answerable, False))
            continue
        scores = score(q)
        best = int(np.argmax(scores))
        quoted = best if pick is None else pick(q, scores)
        outcomes.append((float(scores[best]), q.answerable, bool(q.labels[quoted])))
    return outcomes


def without_answers(questions: Sequence[QuestionRows]) -> list[QuestionRows]:
    """Same-topic unanswerable questions: each answerable one with the sentences holding its answer taken away."""
    return [QuestionRows(False, q.features[q.labels == 0], q.labels[q.labels == 0], q.prefilter[q.labels == 0])
            for q in questions if q.answerable and q.labels.any()]


def threshold_for(outcomes: Sequence[tuple[float, bool, bool]], target: float = TARGET_UNANSWERED) -> float:
    """The lowest threshold that answers at most `target` of the unanswerable questions."""
    unanswerable = sorted((s for s, answerable, _ in outcomes if not answerable), reverse=True)
    allowed = int(np.floor(target * len(unanswerable)))
    if allowed >= len(unanswerable):
        return float("-inf")
    return float(np.nextafter(unanswerable[allowed], np.inf))


def joint_metrics(outcomes: Sequence[tuple[float, bool, bool]], threshold: float,
                  same_topic: Sequence[tuple[float, bool, bool]] = ()) -> dict[str, float]:
    answerable = [o for o in outcomes if o[1]]
    unanswerable = [o for o in outcomes if not o[1]]
    metrics = {
        "best_sentence_holds_answer": float(np.mean([o[2] for o in answerable])),
        "answerable_accuracy": float(np.mean([o[0] >= threshold and o[2] for o in answerable])),
        "unanswerable_answered": float(np.mean([o[0] >= threshold for o in unanswerable])),
    }
    if same_topic:
        metrics["same_topic_answered"] = float(np.mean([o[0] >= threshold for o in same_topic]))
    return metrics


@dataclass
class Comparison:
    variant: str
    decision: Decision | None
    dev: dict[str, float]
    test: dict[str, float]


def compare(dev: list[QuestionRows], test: list[QuestionRows]) -> list[Comparison]:
    """Each logistic variant fitted on dev rows, thresholded on dev, measured on test; plus the old blend."""
    results = []
    for variant, names in VARIANTS.items():
        columns = _columns(names)
        x = np.vstack([feature_matrix(q.features)[:, columns] for q in dev if len(q.labels)])
        y = np.concatenate([q.labels for q in dev if len(q.labels)])
        weights, bias = fit_logistic(x, y)

        def probability(q: QuestionRows, columns=columns, weights=weights, bias=bias) -> np.ndarray:
            return 1.0 / (1.0 + np.exp(-(feature_matrix(q.features)[:, columns] @ weights + bias)))

        dev_outcomes, dev_same = best_scores(dev, probability), best_scores(without_answers(dev), probability)
        threshold = threshold_for([*dev_outcomes, *dev_same])
        decision = Decision(names, tuple(float(w) for w in weights), bias, max(threshold, 0.0))
        results.append(Comparison(variant, decision, joint_metrics(dev_outcomes, threshold, dev_same),
                                  joint_metrics(best_scores(test, probability), threshold,
                                                best_scores(without_answers(test), probability))))

    def hand_fitted(q: QuestionRows) -> np.ndarray:  # the default decision's probabilities
        return HAND_FITTED.probabilities_of_rows(q.features)

    def reader_picks(q: QuestionRows, probabilities: np.ndarray) -> int:  # the lead, as HAND_FITTED.order puts it
        return HAND_FITTED.pick(probabilities, q.features[:, BASE.index("reader_logit")])

    threshold = HAND_FITTED.threshold
    results.append(Comparison(
        "hand-fitted score (the default)", None,
        joint_metrics(best_scores(dev, hand_fitted, reader_picks), threshold,
                      best_scores(without_answers(dev), hand_fitted)),
        joint_metrics(best_scores(test, hand_fitted, reader_picks), threshold,
                      best_scores(without_answers(test), hand_fitted))))
    return results


def joint_engine(data_files: list[Path], split: str, work: Path, model_dir: Path, sample: int | None,
                 seed: int, index: bool = True) -> tuple[Engine | None, list[GoldItem]]:
    """An engine over the split's joint-benchmark corpus, in a private index under `work` (None: index=False)."""
    corpus = work / f"joint-{split}"
    items = build_joint_dataset(data_files, split, corpus, sample, seed)
    if not index:
        return None, items
    index_dir = work / f"index-{split}"
    shutil.rmtree(index_dir, ignore_errors=True)
    engine = Engine(Settings(corpus_dir=corpus, index_dir=index_dir, chroma_host=None, reader_dir=model_dir))
    engine.ingest(show_progress=True)
    return engine, items
