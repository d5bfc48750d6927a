"""One evaluation run over one gold set: build a private index, ask every question, score the answers.

Our system answers through exactly what users call: `Engine.ask` for single questions,
and `Engine.conversation()` for follow-ups (the earlier questions are asked first).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from qa.config import Settings
from qa.documents import load_corpus
from qa.embedding import MiniLMEmbedding
from qa.engine import Engine
from qa.evaluation.baseline import LlamaIndexBaseline
from qa.evaluation.calibrate import Outcome
from qa.evaluation.gold import GoldItem, locate_evidence
from qa.evaluation.metrics import (
    ItemScore,
    SetCounts,
    accuracy_by_kind,
    accuracy_by_set,
    file_of,
    is_correct,
    score_item,
    summarize,
)
from qa.schema import Answer, QAError

OURS, BASELINE = "qa", "llama-index baseline"
T = TypeVar("T")


@dataclass(frozen=True)
class Dataset:
    label: str  # names the index folder, the plots and the report section
    gold: str  # where the questions come from, for the report
    corpus: Path
    items: list[GoldItem]


@dataclass
class SystemRun:
    """One system's answers to a gold set, scored."""

    name: str
    items: list[GoldItem]
    answers: list[Answer] = field(default_factory=list)
    scores: list[ItemScore] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def add(self, answer: Answer, score: ItemScore, latency: float) -> None:
        self.answers.append(answer)
        self.scores.append(score)
        self.latencies.append(latency)

    def summary(self) -> dict[str, float | int | None]:
        return summarize(self.items, self.scores, self.answers, self.latencies)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        return accuracy_by_kind(self.items, self.scores)

    def by_set(self) -> dict[str, SetCounts]:
        return accuracy_by_set(self.items, self.scores, self.answers)


@dataclass
class DatasetRun:
    dataset: Dataset
    settings: Settings
    systems: list[SystemRun]
    outcomes: list[Outcome] | None = None  # for the threshold sweep, when asked for
    engine_threshold: float = 0.0  # the refusal threshold the engine ran with

    @property
    def ours(self) -> SystemRun:
        return self.systems[0]


def eval_settings(corpus: Path, index_dir: Path) -> Settings:
    """The user's settings (QA_* variables apply, so a change can be measured) with a private local index."""
    return Settings(corpus_dir=corpus, index_dir=index_dir, chroma_host=None)


def timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def ask_ours(engine: Engine, item: GoldItem) -> tuple[Answer, float]:
    """The answer to the item's question as a user gets it, and how long that one ask took."""
    if not item.history:
        return timed(lambda: engine.ask(item.question))
    conversation = engine.conversation()
    for earlier in item.history:
        conversation.ask(earlier)
    return timed(lambda: conversation.ask(item.question))


def evaluate(dataset: Dataset, out_dir: Path, embedder: MiniLMEmbedding, with_baseline: bool = True,
             calibrate: bool = False) -> DatasetRun:
    """Index the corpus under out_dir/index/<label>, answer every gold question with each system, score them."""
    documents, _ = load_corpus(dataset.corpus)
    texts = {file_of(doc.source): doc.text for doc in documents}
    spans = locate_evidence(dataset.items, texts)  # a gold set that does not fit the corpus fails before any work

    settings = eval_settings(dataset.corpus, out_dir / "index" / dataset.label)
    engine = Engine(settings, embedder, rebuilding=True)  # an index of an earlier run may have other settings
    engine.ingest(dataset.corpus, rebuild=True, show_progress=True)
    systems = [SystemRun(OURS, dataset.items)]
    baseline = None
    if with_baseline:
        # The engine's own reader, decision and answerer: only retrieval differs.
        baseline = LlamaIndexBaseline(documents, embedder, engine, show_progress=True)
        systems.append(SystemRun(BASELINE, dataset.items))

    for item in tqdm(dataset.items, desc=f"Asking ({dataset.label})", unit="question"):
        try:
            answer, latency = ask_ours(engine, item)
            systems[0].add(answer, score_item(item, answer, spans[item.id]), latency)
            if baseline is not None:
                answer, latency = timed(lambda question=item.question: baseline.ask(question))
                systems[1].add(answer, score_item(item, answer, spans[item.id]), latency)
        except QAError as error:
            raise QAError(f"gold item {item.id}: {error}") from error

    outcomes = calibration_outcomes(settings, embedder, systems[0]) if calibrate else None
    return DatasetRun(dataset, settings, systems, outcomes, engine.decision.threshold)


def calibration_outcomes(settings: Settings, embedder: MiniLMEmbedding, ours: SystemRun) -> list[Outcome]:
    """Best score and correct-if-answered per question; refused questions are asked again with refusals off.

    The answerer picks the same sentences whatever the threshold, so an answer given in the
    run is the answer at every threshold low enough to let it through.
    """
    never_refusing = Engine(settings.model_copy(update={"refusal_threshold": 0.0}), embedder)
    outcomes = []
    for item, answer, score in zip(ours.items, ours.answers, ours.scores):
        if answer.refused and item.answerable:
            answer, _ = ask_ours(never_refusing, item)
        best = -math.inf if score.best_score is None else score.best_score
        outcomes.append(Outcome(best, item.answerable, item.answerable and is_correct(item, answer)))
    return outcomes
