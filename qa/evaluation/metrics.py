"""Scoring: one answer against its gold item, and a run of them summed up.

Pure functions over qa's `Answer` and the gold spans, so they are tested on hand-made
answers without a model.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.evaluation.gold import GoldItem, GoldSpan
from qa.schema import Answer

SUPPORT_OVERLAP = 0.5  # share of an answer sentence's tokens its citation's quote must contain
_MARKER = re.compile(r"\[(\d+)\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation) | set("‘’“”…–—")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD token F1 between two strings."""
    predicted, true = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((Counter(predicted) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)


def contains_any(text: str, accepted: Sequence[str]) -> bool:
    """Whether any accepted string occurs in the text, ignoring case."""
    lowered = text.lower()
    return any(answer.lower() in lowered for answer in accepted)


def strip_markers(text: str) -> str:
    return " ".join(_MARKER.sub(" ", text).split())


def marked_sentences(text: str) -> dict[int, str]:
    """The answer sentence carrying each [n] marker: the text between the previous marker and this one."""
    sentences: dict[int, str] = {}
    position = 0
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        sentences[number] = f"{sentences.get(number, '')} {text[position:match.start()]}".strip()
        position = match.end()
    return sentences


def supports(quote: str, sentence: str) -> bool:
    """Whether most of what the answer sentence says is in the quote (token overlap >= SUPPORT_OVERLAP)."""
    claimed = set(normalize_answer(sentence).split())
    if not claimed:
        return False
    return len(claimed & set(normalize_answer(quote).split())) / len(claimed) >= SUPPORT_OVERLAP


def file_of(source: str) -> str:
    """The path inside the corpus folder of a source name ("seeds/003_x.txt" -> "003_x.txt")."""
    return source.split("/", 1)[1] if "/" in source else source


def overlaps(source: str, start: int, end: int, gold: GoldSpan) -> bool:
    return file_of(source) == gold.source and start < gold.end and gold.start < end


@dataclass(frozen=True)
class Retrieval:
    hit: bool
    recall: float
    reciprocal_rank: float


def rank_metrics(relevant: Sequence[bool], found: int, wanted: int) -> Retrieval:
    """hit, recall (found of wanted gold units) and reciprocal rank of the first relevant result."""
    first = next((rank for rank, is_relevant in enumerate(relevant, 1) if is_relevant), None)
    return Retrieval(first is not None, found / wanted if wanted else 0.0, 1.0 / first if first else 0.0)


def file_retrieval(answer: Answer, gold_files: frozenset[str]) -> Retrieval:
    """Retrieval at file level: the files of the passages in order of first appearance."""
    files = list(dict.fromkeys(file_of(passage.source) for passage in answer.passages))
    return rank_metrics([f in gold_files for f in files], len(gold_files & set(files)), len(gold_files))


def passage_retrieval(answer: Answer, spans: Sequence[GoldSpan]) -> Retrieval:
    """Retrieval at passage level: a passage is relevant when it overlaps a gold quote's span."""
    relevant = [any(overlaps(p.source, p.start, p.end, g) for g in spans) for p in answer.passages]
    found = sum(any(overlaps(p.source, p.start, p.end, g) for p in answer.passages) for g in spans)
    return rank_metrics(relevant, found, len(spans))


@dataclass(frozen=True)
class ItemScore:
    """How one answer did. None marks a measure that does not apply to the item."""

    correct: bool
    f1: float
    best_score: float | None  # the best sentence score (citations[0].score), what the refusal threshold cuts
    conflict_complete: bool | None = None
    file: Retrieval | None = None
    passage: Retrieval | None = None
    citations: int = 0  # citations of an answer (a refusal's closest passages are not claims)
    supported_citations: int = 0
    cites_gold_file: bool | None = None
    cites_gold_passage: bool | None = None
    lead_holds_answer: bool | None = None  # an answer's first quote holds an accepted answer: what a reader sees first


def is_correct(item: GoldItem, answer: Answer) -> bool:
    """Accuracy: a refusal for an unanswerable item, otherwise an accepted answer in the text."""
    if not item.answerable:
        return answer.refused
    return not answer.refused and contains_any(answer.text, item.answers)


def score_item(item: GoldItem, answer: Answer, spans: Sequence[GoldSpan]) -> ItemScore:
    correct = is_correct(item, answer)
    if not item.answerable:
        f1 = float(correct)  # SQuAD 2.0: a correct abstention scores 1
    elif answer.refused:
        f1 = 0.0
    else:
        f1 = max(token_f1(strip_markers(answer.text), accepted) for accepted in item.answers)
    best = answer.citations[0].score if answer.citations else None
    conflict = None
    if item.must_include:
        conflict = not answer.refused and all(contains_any(answer.text, group) for group in item.must_include)
    retrieval = {}
    if item.evidence:
        retrieval = {"file": file_retrieval(answer, item.gold_files), "passage": passage_retrieval(answer, spans)}
    if answer.refused:
        return ItemScore(correct, f1, best, conflict, **retrieval)
    sentences = marked_sentences(answer.text)
    supported = sum(supports(c.quote, sentences[c.number]) for c in answer.citations if c.number in sentences)
    cites_file = cites_passage = None
    if item.evidence:
        cites_file = any(file_of(c.source) in item.gold_files for c in answer.citations)
        cites_passage = any(overlaps(c.source, c.start, c.end, g) for c in answer.citations for g in spans)
    lead = None
    if item.answerable and answer.citations:
        lead = contains_any(answer.citations[0].quote, item.answers)
    return ItemScore(correct, f1, best, conflict, **retrieval, citations=len(answer.citations),
                     supported_citations=supported, cites_gold_file=cites_file, cites_gold_passage=cites_passage,
                     lead_holds_answer=lead)


def _mean(values: Sequence[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def summarize(items: Sequence[GoldItem], scores: Sequence[ItemScore], answers: Sequence[Answer],
              latencies: Sequence[float]) -> dict[str, float | int | None]:
    """The run's headline numbers; None where a measure has no items to be measured on."""
    answerable = [s for item, s in zip(items, scores) if item.answerable]
    refusals = [(item, answer) for item, answer in zip(items, answers) if answer.refused]
    unanswerable = [answer for item, answer in zip(items, answers) if not item.answerable]
    with_files = [s.file for s in scores if s.file]
    with_passages = [s.passage for s in scores if s.passage]
    seconds = np.asarray(latencies, dtype=float)
    return {
        "questions": len(items),
        "accuracy": _mean([s.correct for s in scores]),
        "accuracy_answerable": _mean([s.correct for s in answerable]),
        "f1": _mean([s.f1 for s in scores]),
        "conflict_complete": _mean([s.conflict_complete for s in scores]),
        "file_hit": _mean([r.hit for r in with_files]),
        "file_recall": _mean([r.recall for r in with_files]),
        "file_mrr": _mean([r.reciprocal_rank for r in with_files]),
        "passage_hit": _mean([r.hit for r in with_passages]),
        "passage_recall": _mean([r.recall for r in with_passages]),
        "passage_mrr": _mean([r.reciprocal_rank for r in with_passages]),
        "passages_per_answer": _mean([len(answer.passages) for answer in answers]),
        "citation_precision": _ratio(sum(s.supported_citations for s in scores), sum(s.citations for s in scores)),
        "cites_gold_file": _mean([s.cites_gold_file for s in scores]),
        "cites_gold_passage": _mean([s.cites_gold_passage for s in scores]),
        "lead_holds_answer": _mean([s.lead_holds_answer for s in scores]),
        # Without unanswerable questions every refusal is a miss, which refused_answerable already counts.
        "refusal_precision": _ratio(sum(not item.answerable for item, _ in refusals), len(refusals))
        if unanswerable else None,
        "refusal_recall": _ratio(sum(answer.refused for answer in unanswerable), len(unanswerable)),
        "answered_unanswerable": sum(not answer.refused for answer in unanswerable),
        "answered_unanswerable_rate": _ratio(sum(not answer.refused for answer in unanswerable), len(unanswerable)),
        "refused_answerable": sum(answer.refused for item, answer in zip(items, answers) if item.answerable),
        "latency_p50_ms": float(np.percentile(seconds, 50) * 1000) if len(seconds) else None,
        "latency_p95_ms": float(np.percentile(seconds, 95) * 1000) if len(seconds) else None,
    }


def accuracy_by_kind(items: Sequence[GoldItem], scores: Sequence[ItemScore]) -> dict[str, tuple[int, int]]:
    """(correct, total) per question kind, in the order kinds first appear."""
    counts: dict[str, tuple[int, int]] = {}
    for item, score in zip(items, scores):
        correct, total = counts.get(item.kind, (0, 0))
        counts[item.kind] = (correct + score.correct, total + 1)
    return counts


@dataclass(frozen=True)
class SetCounts:
    """One question set of a benchmark that pools several (the joint benchmark's nyt, amazon_reviews, new_wiki)."""

    right: int  # answerable questions answered correctly
    answerable: int
    answered: int  # unanswerable questions answered
    unanswerable: int


def question_set(item: GoldItem) -> str:
    """The set an item comes from, named by its id's prefix ("nyt-5d70…" is from nyt)."""
    return item.id.split("-", 1)[0]


def accuracy_by_set(items: Sequence[GoldItem], scores: Sequence[ItemScore],
                    answers: Sequence[Answer]) -> dict[str, SetCounts]:
    """Per question set, sorted by name; empty when the items all come from one set (a gold file)."""
    if len({question_set(item) for item in items}) < 2:
        return {}
    counts: dict[str, list[int]] = {}
    for item, score, answer in zip(items, scores, answers):
        tally = counts.setdefault(question_set(item), [0, 0, 0, 0])
        if item.answerable:
            tally[0] += score.correct
            tally[1] += 1
        else:
            tally[2] += not answer.refused
            tally[3] += 1
    return {name: SetCounts(*tally) for name, tally in sorted(counts.items())}
