"""results.json (every question, every system) and report.md (tables, plots, failures) for a set of runs."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.embedding import MODEL_ID
from qa.evaluation.calibrate import best_row, row_at, sweep, sweep_table
from qa.evaluation.gold import GoldItem
from qa.evaluation.metrics import ItemScore
from qa.evaluation.plots import plot_accuracy_by_kind, plot_latency, plot_precision_coverage
from qa.evaluation.run import DatasetRun, SystemRun
from qa.schema import Answer

# (summary key, label, format): "%" for rates, "n" for counts, "ms" for latencies, "f" for plain numbers.
METRICS = [
    ("questions", "Questions", "n"),
    ("accuracy", "Accuracy (accepted answer given; refusal when unanswerable)", "%"),
    ("accuracy_answerable", "Accuracy on answerable questions", "%"),
    ("f1", "Token F1 (SQuAD normalisation, best accepted answer)", "%"),
    ("conflict_complete", "Disagreeing sources: every version given", "%"),
    ("file_hit", "Retrieval, file level: hit@k", "%"),
    ("file_recall", "Retrieval, file level: recall@k", "%"),
    ("file_mrr", "Retrieval, file level: MRR", "f"),
    ("passage_hit", "Retrieval, passage level: hit@k", "%"),
    ("passage_recall", "Retrieval, passage level: recall@k", "%"),
    ("passage_mrr", "Retrieval, passage level: MRR", "f"),
    ("passages_per_answer", "k: passages retrieved per question", "f"),
    ("citation_precision", "Citation precision (quote supports its sentence)", "%"),
    ("cites_gold_file", "Answers citing a gold file", "%"),
    ("cites_gold_passage", "Answers citing a gold passage", "%"),
    ("lead_holds_answer", "Answers whose first quote holds the answer", "%"),
    ("refusal_precision", "Refusal precision", "%"),
    ("refusal_recall", "Refusal recall (unanswerable questions refused)", "%"),
    ("answered_unanswerable", "**Unanswerable questions answered (worst failure)**", "n"),
    ("answered_unanswerable_rate", "Share of unanswerable questions answered", "%"),
    ("refused_answerable", "Answerable questions refused", "n"),
    ("latency_p50_ms", "Latency p50", "ms"),
    ("latency_p95_ms", "Latency p95", "ms"),
]


def _format(value: float | int | None, kind: str) -> str:
    if value is None:
        return "n/a"
    return {"%": f"{value:.1%}", "n": f"{value}", "ms": f"{value:.0f} ms", "f": f"{value:.3f}"}[kind]


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({_format(part / whole if whole else None, '%')})"


def summary_table(run: DatasetRun) -> str:
    """Every metric, one column per system."""
    summaries = [system.summary() for system in run.systems]
    lines = ["| metric | " + " | ".join(system.name for system in run.systems) + " |",
             "|---|" + "---:|" * len(run.systems)]
    for key, label, kind in METRICS:
        lines.append(f"| {label} | " + " | ".join(_format(summary[key], kind) for summary in summaries) + " |")
    return "\n".join(lines)


def kind_table(run: DatasetRun) -> str:
    counts = [system.by_kind() for system in run.systems]
    lines = ["| kind | questions | " + " | ".join(system.name for system in run.systems) + " |",
             "|---|---:|" + "---:|" * len(run.systems)]
    for kind, (_, total) in counts[0].items():
        cells = [f"{c[kind][0]}/{total} ({c[kind][0] / total:.0%})" for c in counts]
        lines.append(f"| {kind} | {total} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def set_table(run: DatasetRun) -> str:
    """A pooled benchmark's sets side by side: they differ more than any average shows (README)."""
    counts = [system.by_set() for system in run.systems]
    lines = ["| set | " + " | ".join(f"{s.name}: answerable right | {s.name}: unanswerable answered"
                                      for s in run.systems) + " |",
             "|---|" + "---:|---:|" * len(run.systems)]
    for name in counts[0]:
        cells = [cell for by_set in counts for cell in (_share(by_set[name].right, by_set[name].answerable),
                                                         _share(by_set[name].answered, by_set[name].unanswerable))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def calibration_section(run: DatasetRun, suggested: float, table: bool = True) -> str:
    """The best threshold on this set, what the current and the suggested threshold cost here, the sweep."""
    rows = sweep(run.outcomes or [])
    best, never_refusing = best_row(rows), rows[0]
    lines = [f"Best on this set: refuse when the best sentence scores below **{best.suggested}** (any threshold in "
             f"({best.low:.4f}, {best.high:.4f}] gets {best.correct} of {len(run.outcomes or [])} right, "
             f"{best.answered_unanswerable} unanswerable answered).", ""]
    for label, threshold in {"current": run.engine_threshold, "suggested": suggested}.items():
        row = row_at(rows, threshold)
        lines.append(f"- {label} threshold {threshold}: {row.correct} right, {row.answered_unanswerable} unanswerable "
                     f"answered, {row.refused_answerable} answerable refused, of which "
                     f"{never_refusing.correct_answers - row.correct_answers} would have been answered correctly")
    if table:
        lines += ["", sweep_table(rows, run.engine_threshold)]
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(item: GoldItem, answer: Answer) -> str:
    """A failed question: what was asked and expected, what the system said and cited."""
    lines = [f"- **{item.id}** ({item.kind}): {item.question}"]
    if item.history:
        lines.append(f"  - after: {' / '.join(item.history)}")
    expected = "a refusal" if not item.answerable else " or ".join(f"“{a}”" for a in item.answers)
    if item.must_include:
        expected += "; every one of: " + ", ".join("/".join(group) for group in item.must_include)
    lines.append(f"  - expected: {expected}")
    lines.append(f"  - answered: {'(refused) ' if answer.refused else ''}{_one_line(answer.text)}")
    for citation in answer.citations:
        lines.append(f"  - [{citation.number}] {citation.source} {citation.start}-{citation.end} "
                     f"(score {citation.score}): “{_one_line(citation.quote, 160)}”")
    return "\n".join(lines)


def _failed(item: GoldItem, score: ItemScore) -> bool:
    return not score.correct


def _answered_unanswerable(item: GoldItem, score: ItemScore) -> bool:
    return not item.answerable and not score.correct


def failures(system: SystemRun, fails: Callable[[GoldItem, ItemScore], bool] = _failed) -> list[str]:
    """The questions `fails` picks out, described."""
    return [describe(item, answer) for item, answer, score in zip(system.items, system.answers, system.scores)
            if fails(item, score)]


def _folded(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def dataset_section(run: DatasetRun, out_dir: Path, secondary: bool, suggested: float | None) -> str:
    """One dataset's part of the report; a secondary dataset (SQuAD beside the gold set) folds its long lists."""
    label = run.dataset.label
    plots = {"accuracy by kind": f"{label}-accuracy-by-kind.png", "latency": f"{label}-latency.png"}
    plot_accuracy_by_kind(run, out_dir / plots["accuracy by kind"])
    plot_latency(run, out_dir / plots["latency"])
    parts = [f"## {label}: {len(run.dataset.items)} questions from {run.dataset.gold}, corpus {run.dataset.corpus}"]
    worst = {system.name: failures(system, _answered_unanswerable) for system in run.systems}
    if any(not item.answerable for item in run.dataset.items):
        parts.append("### Unanswerable questions that were answered")
        for name, described in worst.items():
            parts.append(f"**{name}: {len(described)}**\n\n" + ("\n".join(described) if described else "none"))
    if run.outcomes is not None:
        plots["precision against coverage"] = f"{label}-precision-coverage.png"
        plot_precision_coverage(run, out_dir / plots["precision against coverage"], run.engine_threshold)
    parts += ["### Summary", summary_table(run), "### Accuracy by question kind", kind_table(run)]
    if run.ours.by_set():
        parts += ["### By question set", set_table(run)]
    parts += [f"![{title}]({file})" for title, file in plots.items()]
    if run.outcomes is not None and suggested is not None:
        calibration = calibration_section(run, suggested)
        if secondary:
            calibration = _folded("show the sweep", calibration)
        parts += ["### Refusal threshold calibration", calibration]
    for system in run.systems:
        described = failures(system)
        heading = f"### Failures: {system.name} ({len(described)})"
        body = "\n".join(described) or "none"
        if secondary or system is not run.ours:
            body = _folded(f"show {len(described)} failed questions", body)
        parts += [heading, body]
    return "\n\n".join(parts)


def suggested_threshold(runs: list[DatasetRun]) -> float | None:
    """The refusal threshold the gold set (the first run) suggests, when it was calibrated."""
    return best_row(sweep(runs[0].outcomes)).suggested if runs[0].outcomes else None


def write_report(runs: list[DatasetRun], out_dir: Path) -> Path:
    """report.md and its PNGs in out_dir; the first run (the gold set) shows its failures and sweep open."""
    settings = runs[0].settings
    header = [
        "# qa evaluation", "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Model {MODEL_ID}; chunk_size {settings.chunk_size}, "
        f"top_k {settings.top_k}, refusal threshold {runs[0].engine_threshold:.4f} (P(answers)), "
        f"max_answer_sentences {settings.max_answer_sentences}. How each metric is computed: eval/README.md.",
    ]
    suggested = suggested_threshold(runs)
    sections = [dataset_section(run, out_dir, secondary=number > 0, suggested=suggested)
                for number, run in enumerate(runs)]
    path = out_dir / "report.md"
    path.write_text("\n".join(header) + "\n\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def _finite(value: Any) -> Any:
    """JSON has no infinity: scores of -inf (nothing retrieved) become null."""
    return None if isinstance(value, float) and math.isinf(value) else value


def item_record(item: GoldItem, answer: Answer, score: ItemScore, latency: float) -> dict[str, Any]:
    return {
        "id": item.id, "kind": item.kind, "question": item.question, "history": list(item.history),
        "standalone_question": answer.standalone_question, "expected": list(item.answers),
        "answer": answer.text, "refused": answer.refused, "correct": score.correct, "f1": round(score.f1, 4),
        "reason": answer.reason, "dropped": [asdict(dropped) for dropped in answer.dropped],  # generative answerers
        "latency_ms": round(latency * 1000, 1),
        "scores": {key: value for key, value in asdict(score).items() if key not in ("correct", "f1")},
        "citations": [{k: v for k, v in asdict(c).items() if k != "context"} for c in answer.citations],
        "passages": [{k: v for k, v in asdict(p).items() if k != "text"} for p in answer.passages],
    }


def write_results(runs: list[DatasetRun], out_dir: Path) -> Path:
    """results.json: per dataset, per system, the summary and every question's answer and scores."""
    data = {
        "settings": runs[0].settings.model_dump(mode="json", exclude={"llm_api_key", "auth"}),
        "datasets": {
            run.dataset.label: {
                "gold": run.dataset.gold, "corpus": str(run.dataset.corpus),
                "systems": {
                    system.name: {
                        "summary": system.summary(),
                        "accuracy_by_kind": {k: {"correct": c, "total": t} for k, (c, t) in system.by_kind().items()},
                        "by_set": {name: asdict(counts) for name, counts in system.by_set().items()},
                        "items": [item_record(*row) for row in
                                  zip(system.items, system.answers, system.scores, system.latencies)],
                    }
                    for system in run.systems
                },
                "calibration": None if run.outcomes is None else [
                    {**asdict(row), "low": _finite(row.low), "high": _finite(row.high), "correct": row.correct}
                    for row in sweep(run.outcomes)
                ],
            }
            for run in runs
        },
    }
    path = out_dir / "results.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return path
