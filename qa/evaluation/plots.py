"""The report's two plots, drawn with matplotlib's Figure API (the Agg renderer, no display, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from qa.evaluation.calibrate import precision_coverage
from qa.evaluation.run import DatasetRun


def plot_accuracy_by_kind(run: DatasetRun, path: Path) -> None:
    """Grouped bars: accuracy per question kind, one bar per system, question counts under the kinds."""
    kinds = list(run.ours.by_kind())
    figure = Figure(figsize=(max(6.0, 1.1 * len(kinds) + 2), 4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(run.systems)
    positions = np.arange(len(kinds))
    for number, system in enumerate(run.systems):
        counts = system.by_kind()
        values = [counts[kind][0] / counts[kind][1] for kind in kinds]
        bars = axes.bar(positions + (number - (len(run.systems) - 1) / 2) * width, values, width, label=system.name)
        axes.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7)
    totals = run.ours.by_kind()
    axes.set_xticks(positions, [f"{kind}\n(n={totals[kind][1]})" for kind in kinds], fontsize=8)
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("accuracy")
    axes.set_title(f"Accuracy by question kind: {run.dataset.label}")
    axes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, dpi=120)


def plot_latency(run: DatasetRun, path: Path) -> None:
    """Histogram of seconds per question, one outline per system."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    milliseconds = [np.asarray(system.latencies) * 1000 for system in run.systems]
    bins = np.histogram_bin_edges(np.concatenate(milliseconds), bins=30)
    for system, values in zip(run.systems, milliseconds):
        axes.hist(values, bins=bins, histtype="step", linewidth=1.5,
                  label=f"{system.name} (p50 {np.percentile(values, 50):.0f} ms)")
    axes.set_xlabel("milliseconds per question")
    axes.set_ylabel("questions")
    axes.set_title(f"Latency: {run.dataset.label}")
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=120)


def plot_precision_coverage(run: DatasetRun, path: Path, threshold: float) -> None:
    """Precision of the answers given against the share of questions answered, as the refusal threshold moves."""
    points = precision_coverage(run.outcomes or [])
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    axes.plot([p.coverage for p in points], [p.precision for p in points], linewidth=1.5, label="qa")
    current = [p for p in points if p.threshold >= threshold][:1]
    if current:
        axes.plot([current[0].coverage], [current[0].precision], "o", color="black",
                  label=f"threshold {threshold:.3f}: {current[0].coverage:.0%} answered, {current[0].precision:.0%} right")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("coverage (share of questions answered)")
    axes.set_ylabel("precision (answered correctly)")
    axes.set_title(f"Precision against coverage: {run.dataset.label}")
    axes.legend(fontsize=8, loc="lower left")
    figure.savefig(path, dpi=120)
