"""A corpus and a gold set from a SQuAD-format file, for questions nobody on the team wrote.

The questions are a fixed-seed random sample. The corpus holds one .txt per article whose
questions were sampled, its paragraphs separated by blank lines, plus a fixed-seed sample
of other articles so that retrieval has to find the right article among many. Each gold
item's evidence is its paragraph with the paragraph's character span in the file, so a
retrieved passage counts at passage level when it overlaps the paragraph the question
was written on.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.evaluation.gold import Evidence, GoldFormatError, GoldItem, write_gold

PARAGRAPH_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class SquadQuestion:
    article: int  # position of the article in the file
    paragraph: int
    id: str
    question: str
    answers: tuple[str, ...]


def read_squad(path: Path) -> list[dict[str, Any]]:
    """The articles of a SQuAD v1.1-format file ({"data": [{"title", "paragraphs": [{"context", "qas"}]}]})."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
        for article in articles:
            for paragraph in article["paragraphs"]:
                if not isinstance(paragraph["context"], str) or not isinstance(paragraph["qas"], list):
                    raise TypeError("context must be text and qas a list")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise GoldFormatError(f"{path} is not a readable SQuAD-format file: {error!r}") from error
    return articles


def squad_questions(articles: list[dict[str, Any]]) -> list[SquadQuestion]:
    """Every question with at least one answer, in file order."""
    questions = []
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(answer["text"].strip() for answer in qa.get("answers", [])
                                              if answer["text"].strip()))
                if answers and qa["question"].strip():
                    questions.append(SquadQuestion(a, p, str(qa["id"]), qa["question"].strip(), answers))
    return questions


def article_file(article: int) -> str:
    return f"article_{article:04d}.txt"


def article_text(article: dict[str, Any]) -> tuple[str, list[int]]:
    """The file text of an article and where each paragraph starts in it."""
    starts, position = [], 0
    for paragraph in article["paragraphs"]:
        starts.append(position)
        position += len(paragraph["context"]) + len(PARAGRAPH_SEPARATOR)
    return PARAGRAPH_SEPARATOR.join(p["context"] for p in article["paragraphs"]), starts


def build_squad_dataset(squad_file: Path, corpus: Path, sample: int, seed: int,
                        articles_total: int) -> list[GoldItem]:
    """Write the corpus folder (replacing the .txt files of an earlier build) and return the gold items.

    Args:
        squad_file: a SQuAD v1.1-format JSON file.
        corpus: the folder to write one .txt per article into.
        sample: how many questions to draw.
        seed: the seed of both draws, questions and extra articles.
        articles_total: how many articles the corpus should hold at least; articles without a
            sampled question fill it up to this number.
    """
    articles = read_squad(squad_file)
    questions = squad_questions(articles)
    rng = random.Random(seed)
    sampled = sorted(rng.sample(questions, min(sample, len(questions))), key=lambda q: (q.article, q.paragraph))
    asked = sorted({q.article for q in sampled})
    others = sorted(set(range(len(articles))) - set(asked))
    extra = rng.sample(others, min(len(others), max(0, articles_total - len(asked))))

    corpus.mkdir(parents=True, exist_ok=True)
    for stale in corpus.glob("*.txt"):
        stale.unlink()
    paragraph_starts = {}
    for number in sorted([*asked, *extra]):
        text, paragraph_starts[number] = article_text(articles[number])
        (corpus / article_file(number)).write_text(text, encoding="utf-8")

    items = [
        GoldItem(
            id=f"squad-{q.id}", kind="fact", question=q.question, answerable=True, answers=q.answers,
            evidence=(Evidence(article_file(q.article), articles[q.article]["paragraphs"][q.paragraph]["context"],
                               paragraph_starts[q.article][q.paragraph]),),
        )
        for q in sampled
    ]
    write_gold(corpus.parent / f"{corpus.name}_gold.jsonl", items)  # the sample, reusable with --gold
    return items


SPLITS = ("train", "dev", "test")
SPLIT_SHARES = (0.8, 0.1, 0.1)
SPLIT_SEED = 2026


def split_articles(articles: int, domain: str, seed: int = SPLIT_SEED) -> dict[str, list[int]]:
    """Article positions of one SQuAD-format file per split: 80% train, 10% dev, 10% test.

    By article, never by question, so no held-out question has a paragraph the reader saw.
    The draw depends only on the file's domain name and the seed, so training, calibration
    and the joint benchmark agree on it without sharing state.
    """
    order = list(range(articles))
    random.Random(f"{seed}:{domain}").shuffle(order)
    dev_start = round(articles * SPLIT_SHARES[0])
    test_start = dev_start + max(1, round(articles * SPLIT_SHARES[1]))
    return {"train": sorted(order[:dev_start]), "dev": sorted(order[dev_start:test_start]),
            "test": sorted(order[test_start:])}


def domain_of(squad_file: Path) -> str:
    """"nyt" for nyt_v1.0.json, "amazon_reviews" for amazon_reviews_v1.0.json."""
    return squad_file.name.split("_v1")[0].removesuffix(".json")


def build_joint_dataset(squad_files: list[Path], split: str, corpus: Path, sample: int | None,
                        seed: int) -> list[GoldItem]:
    """The joint benchmark of one split: half its articles form the corpus, the other half's questions
    are asked against it (their article removed: the right answer is a refusal).

    Answerable and unanswerable questions come in equal numbers (`sample` of each, or as many as
    the smaller side has). The corpus holds one .txt per article, named `<domain>_<position>.txt`.
    """
    rng = random.Random(f"joint:{seed}:{split}")
    corpus.mkdir(parents=True, exist_ok=True)
    for stale in corpus.glob("*.txt"):
        stale.unlink()
    answerable: list[GoldItem] = []
    unanswerable: list[GoldItem] = []
    for squad_file in squad_files:
        articles, domain = read_squad(squad_file), domain_of(squad_file)
        chosen = split_articles(len(articles), domain)[split]
        in_split = set(chosen)
        rng.shuffle(chosen)
        kept = set(chosen[: (len(chosen) + 1) // 2])
        starts = {number: article_text(articles[number])[1] for number in kept}
        for question in squad_questions(articles):
            if question.article not in in_split:
                continue
            name = f"{domain}_{question.article:04d}.txt"
            if question.article in kept:
                paragraph = articles[question.article]["paragraphs"][question.paragraph]["context"]
                start = starts[question.article][question.paragraph]
                answerable.append(GoldItem(id=f"{domain}-{question.id}", kind="fact", question=question.question,
                                           answerable=True, answers=question.answers,
                                           evidence=(Evidence(name, paragraph, start),)))
            else:
                unanswerable.append(GoldItem(id=f"{domain}-{question.id}", kind="unanswerable",
                                             question=question.question, answerable=False))
        for number in sorted(kept):
            (corpus / f"{domain}_{number:04d}.txt").write_text(article_text(articles[number])[0], encoding="utf-8")
    size = min(len(answerable), len(unanswerable), sample if sample is not None else len(answerable))
    items = rng.sample(answerable, size) + rng.sample(unanswerable, size)
    write_gold(corpus.parent / f"{corpus.name}_gold.jsonl", items)
    return items
