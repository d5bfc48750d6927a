"""The refusal-threshold sweep: which threshold gets the most gold questions right.

The answerer refuses when its best sentence scores below the threshold, and the best
score is `Answer.citations[0].score` for answers and refusals alike. So one run that
records, per question, the best score and whether the answer would be correct if given
(refused questions are asked once more with refusals switched off) replays every
threshold without asking again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    best_score: float  # -inf when nothing was retrieved: refused at any threshold
    answerable: bool
    correct_if_answered: bool  # the answer given with refusals switched off contains an accepted answer


@dataclass(frozen=True)
class SweepRow:
    """Every threshold above `low` and up to `high` (refuse when score < threshold) gives these counts."""

    low: float
    high: float
    correct_answers: int
    correct_refusals: int
    answered_unanswerable: int
    refused_answerable: int

    @property
    def correct(self) -> int:
        return self.correct_answers + self.correct_refusals

    @property
    def suggested(self) -> float:
        """A threshold inside the range, away from both edges, rounded when rounding keeps it inside."""
        if math.isinf(self.low):
            return round(self.high - 0.01, 3)
        if math.isinf(self.high):
            return round(self.low + 0.01, 3)
        middle = (self.low + self.high) / 2
        rounded = round(middle, 3)
        return rounded if self.low < rounded <= self.high else middle

    def contains(self, threshold: float) -> bool:
        return self.low < threshold <= self.high


def _counts(outcomes: Sequence[Outcome], threshold: float) -> tuple[int, int, int, int]:
    answered = [o for o in outcomes if o.best_score >= threshold]
    refused = [o for o in outcomes if o.best_score < threshold]
    return (sum(o.answerable and o.correct_if_answered for o in answered), sum(not o.answerable for o in refused),
            sum(not o.answerable for o in answered), sum(o.answerable for o in refused))


def sweep(outcomes: Sequence[Outcome]) -> list[SweepRow]:
    """One row per range of thresholds between consecutive best scores, lowest first.

    Any threshold in (low, high] refuses exactly the questions scoring <= low; every step
    moves at least one question from answered to refused, so no two rows are alike.
    """
    scores = sorted({o.best_score for o in outcomes if not math.isinf(o.best_score)})
    edges = [-math.inf, *scores, math.inf]
    return [SweepRow(low, high, *_counts(outcomes, high)) for low, high in zip(edges, edges[1:])]


def best_row(rows: Sequence[SweepRow]) -> SweepRow:
    """Most questions right; among equals, fewest answered unanswerable questions, then the widest range."""
    return max(rows, key=lambda r: (r.correct, -r.answered_unanswerable, min(r.high - r.low, 1e9)))


def row_at(rows: Sequence[SweepRow], threshold: float) -> SweepRow:
    """The row of the range that holds `threshold`."""
    return next(row for row in rows if row.contains(threshold))


def sweep_table(rows: Sequence[SweepRow], current: float) -> str:
    """The sweep as a Markdown table; the current threshold's row and the best row are marked."""
    best = best_row(rows)
    lines = ["| refuse when best score < t, for t in | correct answers | correct refusals | total correct "
             "| answered unanswerable | refused answerable | |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        marks = [mark for mark, on in (("current", row.contains(current)), ("**best**", row is best)) if on]
        lines.append(f"| ({row.low:.4f}, {row.high:.4f}] | {row.correct_answers} | {row.correct_refusals} | "
                     f"{row.correct} | {row.answered_unanswerable} | {row.refused_answerable} | {' '.join(marks)} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class CoveragePoint:
    threshold: float
    coverage: float  # share of all questions answered
    precision: float  # share of answered questions answered correctly (an answered unanswerable is wrong)


def precision_coverage(outcomes: Sequence[Outcome]) -> list[CoveragePoint]:
    """Precision against coverage as the threshold sweeps the best scores, from answering all to one."""
    points = []
    for threshold in sorted({o.best_score for o in outcomes if not math.isinf(o.best_score)}):
        answered = [o for o in outcomes if o.best_score >= threshold]
        correct = sum(o.answerable and o.correct_if_answered for o in answered)
        points.append(CoveragePoint(threshold, len(answered) / len(outcomes), correct / len(answered)))
    return points
