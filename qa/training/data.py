"""Reader training pairs from SQuAD-format question sets (SQuAD-Shifts nyt, amazon, new_wiki).

Each question gives: its positive (the sentence of its paragraph that holds an accepted
answer span whole); the sentence right after it (its context, the sentence before, is
the positive: the reader must judge the candidate, not its context); another sentence of
the same paragraph (same topic, wrong sentence); and the best BM25 matches outside the
paragraph, one in the same article and one in another (what retrieval puts in front of
the reader when the answer is elsewhere or absent, so it learns to refuse). A sentence
that contains an accepted answer's text is never a negative.
Sentences are cut by the engine's own splitter, so training sees what the engine reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.evaluation.squad import domain_of, read_squad, split_articles
from qa.sentences import is_boilerplate, sentence_spans

SQUAD_FILES = ("squad_shifts_nyt/nyt_v1.0.json", "squad_shifts_amazon/amazon_reviews_v1.0.json",
               "squad_shifts_new_wiki/new_wiki_v1.0.json")
# Questions about API documentation written by a local model (qa/training/api_questions.py), train-only.
API_QUESTIONS_FILE = Path(__file__).with_name("api_questions.json")
MIN_WORDS = 4  # the engine never quotes shorter sentences


@dataclass(frozen=True)
class Sentence:
    article: str  # "<domain>:<article position>"
    paragraph: int
    text: str
    context: str  # the sentence before it in its paragraph ("" for the first)


@dataclass(frozen=True)
class Question:
    article: str
    paragraph: int
    text: str
    answers: tuple[tuple[str, int], ...]  # (text, start in the paragraph)


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    context: str
    label: int  # 1: the sentence answers the question
    answer: tuple[int, int] | None = None  # characters of the answer in the folded sentence (positives)


def squad_files(data_dir: Path) -> list[Path]:
    files = [data_dir / name for name in SQUAD_FILES]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"training data not found: {', '.join(missing)}")
    return files


def load_split(data_dir: Path, split: str, extra_train: Sequence[Path] = ()
               ) -> tuple[list[Sentence], list[Question], dict[tuple[str, int], list[tuple[int, int]]]]:
    """Sentences and answerable questions of one split, and each paragraph's sentence spans.

    `extra_train`: SQuAD-format files whose every article is train data (never dev or test, so the
    held-out benchmarks stay the SQuAD-Shifts articles').
    """
    sentences: list[Sentence] = []
    questions: list[Question] = []
    spans: dict[tuple[str, int], list[tuple[int, int]]] = {}
    sources = [(path, None) for path in squad_files(data_dir)] + [(path, "train") for path in extra_train]
    for path, only in sources:
        articles = read_squad(path)
        domain = domain_of(path)
        positions = split_articles(len(articles), domain)[split] if only is None else (
            range(len(articles)) if split == only else [])
        for position in positions:
            key = f"{domain}:{position}"
            for number, paragraph in enumerate(articles[position]["paragraphs"]):
                context = paragraph["context"]
                cut = [(span.start, span.end) for span in sentence_spans(context)]
                spans[(key, number)] = cut
                previous = ""
                for start, end in cut:
                    sentences.append(Sentence(key, number, context[start:end], previous))
                    previous = context[start:end]
                for qa in paragraph["qas"]:
                    answers = tuple((a["text"].strip(), int(a["answer_start"]) + len(a["text"]) - len(a["text"].lstrip()))
                                    for a in qa.get("answers", []) if a["text"].strip())
                    if answers and qa["question"].strip():
                        questions.append(Question(key, number, qa["question"].strip(), answers))
    return sentences, questions, spans


def _usable(sentence: Sentence) -> bool:
    return len(sentence.text.split()) >= MIN_WORDS and not is_boilerplate(sentence.text)


def _contains_answer(sentence: str, question: Question) -> bool:
    lowered = sentence.lower()
    return any(text.lower() in lowered for text, _ in question.answers)


def _folded_span(sentence: str, start: int, end: int) -> tuple[int, int]:
    """Characters [start, end) of `sentence` in its whitespace-folded form."""
    before = " ".join(sentence[:start].split())
    inside = " ".join(sentence[start:end].split())
    offset = len(before) + (1 if before and sentence[start - 1].isspace() else 0)
    return offset, offset + len(inside)


def _positive(question: Question, paragraph: list[Sentence], spans: list[tuple[int, int]]) -> Pair | None:
    for text, start in question.answers:
        for sentence, (left, right) in zip(paragraph, spans):
            if left <= start and start + len(text) <= right:
                answer = _folded_span(sentence.text, start - left, start - left + len(text))
                return Pair(question.text, sentence.text, sentence.context, 1, answer)
    return None


def build_groups(sentences: list[Sentence], questions: list[Question], spans: dict[tuple[str, int], list[tuple[int, int]]],
                 seed: int, show_progress: bool = True) -> list[list[Pair]]:
    """One group per question that has a whole-sentence answer: its positive first, then its hard negatives.

    Groups are what the engine shows the reader (the answer among sentences of its own paragraph and
    the best keyword matches elsewhere), so training can ask for the answer to rank first among them.
    """
    import bm25s
    from tqdm import tqdm

    from qa.retrieve import TOKEN_PATTERN, _stemmer  # the engine's tokenization, so BM25 ranks as at run time

    rng = random.Random(seed)
    by_paragraph: dict[tuple[str, int], list[Sentence]] = {}
    for sentence in sentences:
        by_paragraph.setdefault((sentence.article, sentence.paragraph), []).append(sentence)
    searchable = [s for s in sentences if _usable(s)]
    tokens = bm25s.tokenize([s.text for s in searchable], stopwords="en", stemmer=_stemmer(),
                            token_pattern=TOKEN_PATTERN, show_progress=False)
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    query_tokens = bm25s.tokenize([q.text for q in questions], stopwords="en", stemmer=_stemmer(),
                                  token_pattern=TOKEN_PATTERN, show_progress=False)
    hits, _ = index.retrieve(query_tokens, k=min(20, len(searchable)), show_progress=show_progress, n_threads=2)

    groups: list[list[Pair]] = []
    for number, question in enumerate(tqdm(questions, desc="Building pairs", unit="question", disable=not show_progress)):
        own = (question.article, question.paragraph)
        positive = _positive(question, by_paragraph[own], spans[own])
        if positive is None:  # the answer crosses a sentence boundary: no single sentence answers
            continue
        group = [positive]
        same = [s for s in by_paragraph[own] if _usable(s) and s.text != positive.sentence
                and not _contains_answer(s.text, question)]
        following = [s for s in same if s.context == positive.sentence]
        if following:
            group.append(Pair(question.text, following[0].text, following[0].context, 0))
        others = [s for s in same if s not in following]
        if others:
            choice = rng.choice(others)
            group.append(Pair(question.text, choice.text, choice.context, 0))
        wanted = {"same article": True, "other article": True}
        for hit in hits[number]:
            other = searchable[int(hit)]
            place = "same article" if other.article == question.article else "other article"
            if (wanted[place] and (other.article, other.paragraph) != own
                    and not _contains_answer(other.text, question)):
                group.append(Pair(question.text, other.text, other.context, 0))
                wanted[place] = False
                if not any(wanted.values()):
                    break
        groups.append(group)
    rng.shuffle(groups)
    return groups


def repeated(groups: list[list[Pair]], chosen: Callable[[list[Pair]], bool], times: int, seed: int
             ) -> list[list[Pair]]:
    """`groups` with each chosen group `times` times in all, the copies spread at seeded random places."""
    copies = [group for group in groups if chosen(group) for _ in range(times - 1)]
    if not copies:
        return groups
    mixed = groups + copies
    random.Random(f"repeat:{seed}").shuffle(mixed)
    return mixed


def first_pairs(groups: list[list[Pair]], limit: int) -> list[list[Pair]]:
    """Whole groups, in order, up to `limit` pairs in all."""
    kept, total = [], 0
    for group in groups:
        if total + len(group) > limit:
            break
        kept.append(group)
        total += len(group)
    return kept


def batches(groups: list[list[Pair]], size: int, seed: int) -> list[list[list[Pair]]]:
    """Whole groups packed into batches of at most `size` pairs, of similar length (less padding), in a seeded order."""
    rng = random.Random(seed)
    window = size * 10
    packed: list[list[list[Pair]]] = []
    for first in range(0, len(groups), window):
        ordered = sorted(groups[first:first + window],
                         key=lambda g: sum(len(p.question) + len(p.sentence) + len(p.context) for p in g) / len(g))
        batch: list[list[Pair]] = []
        for group in ordered:
            if batch and sum(map(len, batch)) + len(group) > size:
                packed.append(batch)
                batch = []
            batch.append(group)
        if batch:
            packed.append(batch)
    rng.shuffle(packed)
    return packed
