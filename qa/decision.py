"""Answer or refuse: the one rule, learned and calibrated on held-out questions (qa/training/calibrate.py).

A logistic model over the reader's logit and the engine's own features gives each
candidate sentence the probability that it answers the question. The engine answers
when the best candidate's probability reaches the threshold, which calibration chose on
the dev articles' joint benchmark (their questions, plus as many asked with their article
removed) as the most answers that keeps answered-unanswerable questions under a target.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.ranking import Candidate

DECISION_FILE = "decision.json"

FEATURES: dict[str, Callable[[Candidate], float]] = {
    "reader_logit": lambda c: c.reader_logit if c.reader_logit is not None else -10.0,
    "dense": lambda c: c.dense,
    "coverage": lambda c: c.coverage,
    "coverage_cubed": lambda c: c.coverage ** 3,
    "kind": lambda c: c.kind,
    "span_score": lambda c: c.span_score,
    "chunk_first": lambda c: 1.0 / (1.0 + c.chunk_rank),
    "keyword_hit": lambda c: float(c.keyword_hit),
}


@dataclass(frozen=True)
class Decision:
    """P(answers) = sigmoid(bias + sum(weight * feature)); answer when the best one reaches `threshold`."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(FEATURES)
        if unknown or len(self.features) != len(self.weights):
            raise ValueError(f"a decision over unknown features {sorted(unknown)} or with mismatched weights")

    def vector(self, candidate: Candidate) -> list[float]:
        return [FEATURES[name](candidate) for name in self.features]

    def probability(self, candidate: Candidate) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, self.vector(candidate)))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def accepts(self, best: Candidate | None) -> bool:
        return best is not None and best.reader_logit is not None and best.probability >= self.threshold

    def with_threshold(self, threshold: float | None) -> Decision:
        if threshold is None:
            return self
        return Decision(self.features, self.weights, self.bias, threshold)

    def to_json(self) -> dict:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias,
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> Decision:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), float(data["bias"]),
                   float(data["threshold"]))


# The engine's rule before the reader: 0.7·cosine + 0.4·coverage³ + 0.05·kind >= 0.542 (fitted on the
# seeds gold set). As a decision: P = sigmoid(10·(score − 0.542)) is 0.5 exactly at the old threshold.
HAND_FITTED = Decision(("dense", "coverage_cubed", "kind"), (7.0, 4.0, 0.5), -5.42, 0.5)


def choose_decision(name: str, model_dir: Path) -> Decision:
    """`learned` (calibrated by `make train`, beside the reader) or `hand-fitted` (the rule before it)."""
    if name == "hand-fitted":
        return HAND_FITTED
    if name == "learned":
        return load_decision(model_dir)
    raise ValueError(f"unknown decision {name!r}: choose learned or hand-fitted (QA_DECISION)")


def load_decision(model_dir: Path) -> Decision:
    """The calibrated decision shipped beside the reader's weights."""
    from qa.reader import ReaderUnavailable

    path = model_dir / DECISION_FILE
    try:
        return Decision.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReaderUnavailable(f"The answer/refuse decision {path} is missing or unreadable; run `make train`.") from error
