"""The eval's metric functions on hand-made answers: each test fails if its metric breaks."""

from dataclasses import replace

import pytest

from qa.evaluation.gold import Evidence, GoldItem, GoldSpan
from qa.evaluation.metrics import (
    SetCounts,
    accuracy_by_set,
    contains_any,
    file_retrieval,
    marked_sentences,
    normalize_answer,
    passage_retrieval,
    score_item,
    summarize,
    supports,
    token_f1,
)
from qa.schema import Answer, Citation, Passage

REFUSAL = "The documents don't say."
GOLD_QUOTE = "Xiaomi is negotiating with BAIC Group to jointly produce electric vehicles."
GOLD = GoldSpan("b.txt", 100, 100 + len(GOLD_QUOTE))


def passage(source: str, start: int, end: int) -> Passage:
    return Passage(source=source, start=start, end=end, text="", score=0.5)


def citation(number: int, quote: str, source: str = "seeds/b.txt", start: int = 100, score: float = 0.7) -> Citation:
    return Citation(number=number, source=source, quote=quote, start=start, end=start + len(quote), score=score)


def item(**fields) -> GoldItem:
    values = {"id": "t-1", "kind": "fact", "question": "Who is Xiaomi talking to?", "answerable": True,
              "answers": ("BAIC", "Beijing Automotive"), "evidence": (Evidence("b.txt", GOLD_QUOTE),)}
    return GoldItem(**{**values, **fields})


UNANSWERABLE = item(id="t-2", kind="unanswerable", answerable=False, answers=(), evidence=())


def test_normalisation_follows_squad():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("“An” apple’s core…") == "apples core"


def test_token_f1():
    assert token_f1("the cat sat", "cat sat down") == pytest.approx(0.8)  # precision 1, recall 2/3
    assert token_f1("BAIC Group", "baic group") == 1.0
    assert token_f1("nothing shared", "BAIC") == 0.0


def test_contains_any_ignores_case():
    assert contains_any("talks with baic group", ["BAIC"])
    assert not contains_any("talks with Chery", ["BAIC", "JAC"])


def test_each_marker_gets_the_sentence_before_it():
    text = "The sources give different figures: One costs $1.5 billion. [1] Another $1.38 billion. [2]"
    assert marked_sentences(text) == {1: "The sources give different figures: One costs $1.5 billion.",
                                      2: "Another $1.38 billion."}


def test_support_needs_half_the_sentence_in_the_quote():
    assert supports("Alpha beta gamma delta.", "alpha beta gamma delta")
    assert supports("alpha beta", "alpha beta gamma delta")  # exactly half
    assert not supports("alpha", "alpha beta gamma delta")
    assert not supports("anything", "")


def test_file_retrieval_ranks_files_by_first_passage():
    answer = Answer(text="", passages=[passage("seeds/a.txt", 0, 50), passage("seeds/a.txt", 50, 90),
                                       passage("seeds/b.txt", 0, 90)])
    result = file_retrieval(answer, frozenset({"b.txt", "c.txt"}))
    assert result.hit and result.reciprocal_rank == 0.5  # b.txt is the second distinct file
    assert result.recall == 0.5
    assert not file_retrieval(answer, frozenset({"c.txt"})).hit


def test_passage_retrieval_needs_overlap_with_the_quote_span():
    far = passage("seeds/b.txt", 0, 90)  # right file, ends before the quote starts
    overlapping = passage("seeds/b.txt", 150, 300)
    other_file = passage("seeds/a.txt", 100, 200)
    result = passage_retrieval(Answer(text="", passages=[far, other_file, overlapping]), [GOLD])
    assert result.hit and result.reciprocal_rank == pytest.approx(1 / 3) and result.recall == 1.0
    assert not passage_retrieval(Answer(text="", passages=[far, other_file]), [GOLD]).hit


def test_correct_cited_answer():
    text = f"{GOLD_QUOTE} [1] Xiaomi also weighs a stake in a Hyundai plant. [2]"
    unrelated = citation(2, "Unrelated words entirely here.", "seeds/a.txt", 0)
    answer = Answer(text=text, citations=[citation(1, GOLD_QUOTE), unrelated],
                    passages=[passage("seeds/b.txt", 90, 300)])
    score = score_item(item(), answer, [GOLD])
    assert score.correct and score.best_score == 0.7
    assert 0 < score.f1 < 0.5  # a whole sentence against a one-word answer
    assert (score.citations, score.supported_citations) == (2, 1)
    assert score.cites_gold_file and score.cites_gold_passage
    assert score.file.hit and score.passage.hit
    assert score.lead_holds_answer
    behind = Answer(text=f"Xiaomi also weighs a stake in a Hyundai plant. [1] {GOLD_QUOTE} [2]",
                    citations=[citation(1, "Xiaomi also weighs a stake in a Hyundai plant."), citation(2, GOLD_QUOTE)])
    assert score_item(item(), behind, [GOLD]).correct and not score_item(item(), behind, [GOLD]).lead_holds_answer


def test_refusing_an_answerable_question_is_wrong():
    answer = Answer(text=REFUSAL, refused=True, citations=[citation(1, GOLD_QUOTE, score=0.3)])
    score = score_item(item(), answer, [GOLD])
    assert not score.correct and score.f1 == 0.0 and score.best_score == 0.3
    assert score.citations == 0  # a refusal's closest passages are not claims
    assert score.lead_holds_answer is None


def test_unanswerable_is_right_only_when_refused():
    refused = score_item(UNANSWERABLE, Answer(text=REFUSAL, refused=True), [])
    answered = score_item(UNANSWERABLE, Answer(text="The range is 500 km. [1]", citations=[citation(1, "500 km")]), [])
    assert refused.correct and refused.f1 == 1.0 and refused.file is None
    assert not answered.correct and answered.f1 == 0.0 and answered.cites_gold_file is None


def test_conflict_needs_every_version():
    conflict = item(kind="conflict", answers=("$1.5 billion", "$1.38 billion"),
                    must_include=(("$1.5 billion",), ("$1.38 billion", "1.38 billion")))
    both = score_item(conflict, Answer(text="It is $1.5 billion [1] or 1.38 billion [2]"), [GOLD])
    one = score_item(conflict, Answer(text="It is $1.5 billion [1]"), [GOLD])
    assert both.conflict_complete and both.correct
    assert one.correct and not one.conflict_complete
    assert score_item(item(), Answer(text="BAIC"), [GOLD]).conflict_complete is None


def test_summary_of_a_run():
    items = [item(), item(id="t-3"), UNANSWERABLE, item(id="t-4", kind="unanswerable", answerable=False,
                                                          answers=(), evidence=())]
    answers = [
        Answer(text=f"{GOLD_QUOTE} [1]", citations=[citation(1, GOLD_QUOTE)],
               passages=[passage("seeds/b.txt", 100, 200)]),
        Answer(text=REFUSAL, refused=True, passages=[passage("seeds/a.txt", 0, 10)]),
        Answer(text=REFUSAL, refused=True),
        Answer(text="The range is 500 km. [1]", citations=[citation(1, "The range is 500 km.", "seeds/a.txt", 0)]),
    ]
    scores = [score_item(i, a, [GOLD] if i.evidence else []) for i, a in zip(items, answers)]
    summary = summarize(items, scores, answers, [0.01, 0.02, 0.03, 0.04])
    assert summary["accuracy"] == 0.5 and summary["accuracy_answerable"] == 0.5
    assert summary["file_hit"] == 0.5 and summary["passage_mrr"] == 0.5
    assert summary["refusal_precision"] == 0.5  # two refusals, one of them of an unanswerable question
    assert summary["refusal_recall"] == 0.5
    assert summary["answered_unanswerable"] == 1 and summary["refused_answerable"] == 1
    assert summary["citation_precision"] == 1.0
    assert summary["cites_gold_file"] == 1.0  # over answered questions with evidence only
    assert summary["lead_holds_answer"] == 1.0  # over answered answerable questions only
    assert summary["conflict_complete"] is None
    assert summary["latency_p50_ms"] == pytest.approx(25.0)
    assert summary["latency_p95_ms"] == pytest.approx(38.5)


def test_refusal_precision_needs_unanswerable_questions():
    answers = [Answer(text=REFUSAL, refused=True)]
    scores = [score_item(item(), answers[0], [GOLD])]
    summary = summarize([item()], scores, answers, [0.01])
    assert summary["refusal_precision"] is None and summary["refusal_recall"] is None
    assert summary["refused_answerable"] == 1


def test_a_pooled_benchmark_is_counted_set_by_set():
    right = Answer(text="Xiaomi is negotiating with BAIC Group. [1]", citations=[citation(1, GOLD_QUOTE)])
    refused = Answer(text=REFUSAL, refused=True)
    items = [item(id="nyt-1"), item(id="nyt-2"), item(id="amazon_reviews-1"),
             replace(UNANSWERABLE, id="nyt-3"), replace(UNANSWERABLE, id="amazon_reviews-2")]
    answers = [right, refused, right, refused, right]
    scores = [score_item(i, a, [GOLD] if i.evidence else []) for i, a in zip(items, answers)]
    assert accuracy_by_set(items, scores, answers) == {
        "amazon_reviews": SetCounts(right=1, answerable=1, answered=1, unanswerable=1),
        "nyt": SetCounts(right=1, answerable=2, answered=0, unanswerable=1),
    }
    # A gold file's ids share one prefix ("seeds-001"): no sets to tell apart.
    assert accuracy_by_set([item(id="seeds-001"), item(id="seeds-002")], scores[:2], answers[:2]) == {}


def test_the_report_shows_each_set_of_a_pooled_benchmark_beside_each_system():
    from types import SimpleNamespace

    from qa.evaluation.report import set_table
    from qa.evaluation.run import SystemRun

    items = [item(id="nyt-1"), item(id="new_wiki-1"), replace(UNANSWERABLE, id="nyt-2")]
    ours, theirs = SystemRun("qa", items), SystemRun("baseline", items)
    right = Answer(text="Xiaomi is negotiating with BAIC Group. [1]", citations=[citation(1, GOLD_QUOTE)])
    refused = Answer(text=REFUSAL, refused=True)
    for system, answers in ((ours, [right, refused, refused]), (theirs, [right, right, right])):
        for i, a in zip(items, answers):
            system.add(a, score_item(i, a, [GOLD] if i.evidence else []), 0.01)
    table = set_table(SimpleNamespace(systems=[ours, theirs])).splitlines()
    assert table[0] == ("| set | qa: answerable right | qa: unanswerable answered | baseline: answerable right | "
                        "baseline: unanswerable answered |")
    assert table[2] == "| new_wiki | 0/1 (0.0%) | 0/0 (n/a) | 1/1 (100.0%) | 0/0 (n/a) |"
    assert table[3] == "| nyt | 1/1 (100.0%) | 0/1 (0.0%) | 1/1 (100.0%) | 1/1 (100.0%) |"
