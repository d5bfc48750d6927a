"""The refusal-threshold sweep on hand-made outcomes."""

import math

from qa.evaluation.calibrate import Outcome, best_row, row_at, sweep, sweep_table

OUTCOMES = [
    Outcome(0.80, answerable=True, correct_if_answered=True),
    Outcome(0.70, answerable=True, correct_if_answered=True),
    Outcome(0.62, answerable=True, correct_if_answered=False),
    Outcome(0.60, answerable=False, correct_if_answered=False),
    Outcome(0.50, answerable=False, correct_if_answered=False),
    Outcome(-math.inf, answerable=True, correct_if_answered=False),  # nothing retrieved: always refused
]


def test_rows_cover_all_thresholds_and_count_right():
    rows = sweep(OUTCOMES)
    assert rows[0].low == -math.inf and rows[-1].high == math.inf
    assert all(a.high == b.low for a, b in zip(rows, rows[1:]))
    lowest = rows[0]  # answers everything that has a score
    assert (lowest.correct_answers, lowest.correct_refusals, lowest.answered_unanswerable,
            lowest.refused_answerable) == (2, 0, 2, 1)
    highest = rows[-1]  # refuses everything
    assert (highest.correct_answers, highest.correct_refusals, highest.refused_answerable) == (0, 2, 4)


def test_best_threshold_refuses_both_unanswerable_and_keeps_the_right_answers():
    best = best_row(sweep(OUTCOMES))
    assert best.correct == 4 and best.answered_unanswerable == 0
    assert best.low >= 0.60 and best.high <= 0.70
    assert best.contains(best.suggested)


def test_one_row_per_gap_between_scores():
    rows = sweep([Outcome(0.3, True, False), Outcome(0.4, True, False), Outcome(0.9, True, True)])
    assert [(row.low, row.high) for row in rows] == [(-math.inf, 0.3), (0.3, 0.4), (0.4, 0.9), (0.9, math.inf)]
    assert [row.refused_answerable for row in rows] == [0, 1, 2, 3]


def test_table_marks_current_and_best():
    table = sweep_table(sweep(OUTCOMES), current=0.55)
    current_lines = [line for line in table.splitlines() if "current" in line]
    assert len(current_lines) == 1 and "(0.5000, 0.6000]" in current_lines[0]
    assert sum("**best**" in line for line in table.splitlines()) == 1


def test_row_at_finds_the_range_of_a_threshold():
    rows = sweep(OUTCOMES)
    assert row_at(rows, 0.55).low == 0.50 and row_at(rows, 0.60).high == 0.60
    assert row_at(rows, 5.0).high == math.inf
