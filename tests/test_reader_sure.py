"""When the reader is sure: what its answer span must add, and how the hand-fitted rule lets it answer."""

import json

import numpy as np
import pytest

from qa.decision import DECISION_FILE, FEATURES, HAND_FITTED, Decision, load_decision
from qa.ranking import Candidate, span_adds_to, spelled_out
from qa.store import SentenceRecord

FIRST_MODEL = "Chinese smartphone giant Xiaomi's first electric vehicle (EV) model will begin mass production in December."
LICENCE = ("Xiaomi has been discussing licensing issues with officials at the National Development and Reform "
           "Commission (NDRC).")


def span_of(sentence: str, words: str) -> tuple[int, int]:
    start = sentence.index(words)
    return start, start + len(words)


def test_a_sentence_spells_out_the_abbreviations_it_defines():
    assert spelled_out(FIRST_MODEL) == {"EV": ["electric", "vehicle"]}
    assert spelled_out(LICENCE) == {"NDRC": ["National", "Development", "Reform", "Commission"]}  # "and" skipped
    assert spelled_out("Shares rose (AP) on Monday.") == {}  # a byline in brackets is not an abbreviation
    assert spelled_out("The plant (Phase 1) opens in 2024.") == {}


@pytest.mark.parametrize(("question", "sentence", "words", "adds"), [
    # The abbreviation of the question's own "electric … model" names nothing new.
    ("What is Xiaomi's first electric car model called?", FIRST_MODEL, "EV", False),
    ("What is Xiaomi's first electric car model called?", FIRST_MODEL, "Xiaomi's first", False),
    ("When will the first model go into mass production?", FIRST_MODEL, "December", True),
    ("Which government body has Xiaomi been discussing its car-making licence with?", LICENCE, "NDRC", True),
    ("Which government body has Xiaomi been discussing its car-making licence with?", LICENCE,
     "National Development and Reform Commission", True),
    ("Which government body has Xiaomi been discussing its car-making licence with?", LICENCE, "with", False),
    ("Since which version has tempfile.mktemp been deprecated?", "Deprecated since version 2.3: Use mkstemp().",
     "2.3", True),  # a figure is one word, not two digits too short to count
    ("How many phases?", "The plant will be built in 2 phases.", "2", True),
    ("How much is 10 billion yuan in dollars?", "It is 10 billion yuan ($1.5 billion).", "10 billion", False),
])
def test_an_answer_span_must_say_something_the_question_does_not(question, sentence, words, adds):
    assert span_adds_to(question, sentence, span_of(sentence, words)) is adds


def test_without_a_span_there_is_nothing_new():
    assert not span_adds_to("Which body?", LICENCE, None)


def judged(*, dense: float, logit: float, kind: float = 0.0, span_is_new: bool = True, start: int = 0,
           coverage: float = 0.3) -> Candidate:
    text = "The default tolerance is 1e-09, which assures that the two values are the same within 9 digits."
    record = SentenceRecord("chunk", "math.html", start, start + len(text), text, np.array([1.0, 0.0], dtype=np.float32))
    return Candidate(record=record, context=text, context_start=start, published="", previous="", dense=dense,
                     coverage=coverage, kind=kind, reader_logit=logit, span_is_new=span_is_new)


def verdicts(decision: Decision, read: list[Candidate]) -> list[bool]:
    for found, probability in zip(read, decision.probabilities(read)):
        found.probability = float(probability)
    return [decision.accepts(found) for found in read]


def test_the_rule_answers_with_a_sentence_the_reader_is_sure_of_when_it_would_refuse():
    # Cosine 0.66 scores 0.33 under the rule alone: refused, although the reader is sure (logit 3.9).
    sure = judged(dense=0.66, logit=3.9)
    assert HAND_FITTED.with_threshold(0.5).rescue_floor == 0.2
    assert Decision(HAND_FITTED.features, HAND_FITTED.weights, HAND_FITTED.bias, 0.5).probability(sure) < 0.5
    assert verdicts(HAND_FITTED, [sure]) == [True]
    assert verdicts(HAND_FITTED, [judged(dense=0.66, logit=2.9)]) == [False]  # the reader is not sure enough
    assert verdicts(HAND_FITTED, [judged(dense=0.66, logit=3.9, span_is_new=False)]) == [False]  # it points at the question
    assert verdicts(HAND_FITTED, [judged(dense=0.66, logit=3.9, kind=-1.0)]) == [False]  # no figure for "how much"
    assert verdicts(HAND_FITTED, [judged(dense=0.50, logit=9.0)]) == [False]  # below the floor: far off topic


def test_a_sure_sentence_holding_half_the_question_s_words_is_rescued_however_low_its_cosine():
    # "Where did the meeting take place?" and "While that meeting took place in London, …": cosine 0.25 (the
    # rule scores it far below the floor), but it holds most of the question's weighted words.
    assert verdicts(HAND_FITTED, [judged(dense=0.25, logit=5.5, coverage=0.78)]) == [True]
    assert verdicts(HAND_FITTED, [judged(dense=0.25, logit=5.5, coverage=0.49)]) == [False]  # off topic, for all it knows
    assert verdicts(HAND_FITTED, [judged(dense=0.25, logit=2.9, coverage=0.78)]) == [False]  # the reader is not sure
    assert verdicts(HAND_FITTED, [judged(dense=0.25, logit=5.5, coverage=0.78, span_is_new=False)]) == [False]
    # Lifted to the threshold, it stays behind a sure sentence the rule scores higher.
    low, high = judged(dense=0.25, logit=5.5, coverage=0.78), judged(dense=0.66, logit=3.9, start=200)
    probabilities = HAND_FITTED.probabilities([low, high])
    assert probabilities[1] > probabilities[0] >= 0.5


def test_a_sentence_the_rule_accepts_keeps_the_lead_over_one_only_the_reader_is_sure_of():
    accepted, sure = judged(dense=0.80, logit=-0.5), judged(dense=0.66, logit=3.9, start=200)
    probabilities = HAND_FITTED.probabilities([accepted, sure])
    assert probabilities[0] >= 0.5 > probabilities[1]  # not lifted: the rule answers this question itself
    rescued = HAND_FITTED.probabilities([judged(dense=0.70, logit=3.9), judged(dense=0.66, logit=5.0, start=200)])
    assert rescued[0] > rescued[1] >= 0.5  # both lifted, in the rule's order


def test_the_rescue_floor_survives_the_decision_file(tmp_path):
    (tmp_path / DECISION_FILE).write_text(json.dumps(HAND_FITTED.to_json()))
    assert load_decision(tmp_path) == HAND_FITTED
    plain = Decision(("dense",), (1.0,), 0.0, 0.5)
    (tmp_path / DECISION_FILE).write_text(json.dumps({k: v for k, v in plain.to_json().items() if k != "rescue_floor"}))
    assert load_decision(tmp_path).rescue_floor is None  # decision files written before the rescue


class SpanReader:
    """A deterministic stand-in for the reader: sure of the sentence holding the word it looks for in a question,
    pointing at that word; unsure of everything when it looks for nothing."""

    def __init__(self, word: str | None, **by_question: str | None) -> None:
        self.word = word
        self.by_question = by_question

    def read(self, question, sentences, contexts):
        from qa.reader import Reading

        word = self.by_question.get(question, self.word)
        return [Reading(4.0, span_of(s, word), 10.0) if word and word in s else Reading(-4.0, None) for s in sentences]


SIGNATURE = "The signature is lru_cache(maxsize=128, typed=False) in functools."


def ranked(question: str, standalone: str, reader: SpanReader, text: str = SIGNATURE) -> Candidate:
    from llama_index.core.schema import NodeWithScore, TextNode

    from qa.ranking import SentenceRanker
    from qa.retrieve import TermStatistics

    node = TextNode(id_="c1", text=text, start_char_idx=0, end_char_idx=len(text), metadata={"source": "f.html"})
    record = SentenceRecord("c1", "f.html", 0, len(text), text, np.array([1.0, 0.0], dtype=np.float32))
    ranker = SentenceRanker(reader, HAND_FITTED, reader_candidates=4)
    return ranker.rank(question, standalone, np.array([1.0, 0.0], dtype=np.float32), [NodeWithScore(node=node, score=1.0)],
                       [record], TermStatistics([node])).best


def test_the_ranker_marks_a_span_that_says_something_new():
    default = "What is the default maxsize of lru_cache?"
    candidate = ranked(default, default, SpanReader("128"))
    assert candidate.span_is_new and candidate.own_logit is None  # a question on its own is read once
    assert not ranked(default, default, SpanReader("maxsize")).span_is_new  # the question's own word


def test_the_reader_is_sure_of_a_follow_up_only_reading_its_own_words():
    default = "What is the default maxsize of lru_cache?"
    follow_up = "What happens if I set it to None?"
    # Read joined to the question before it, the reader is sure of that question's answer (128); read in the
    # follow-up's own words it is not: it is not sure.
    answers_the_earlier_one = SpanReader(None, **{f"{default} {follow_up}": "128"})
    candidate = ranked(follow_up, f"{default} {follow_up}", answers_the_earlier_one)
    assert candidate.reader_logit == 4.0 and candidate.own_logit == -4.0
    assert FEATURES["reader_sure"](candidate) == 0.0
    # Sure in the follow-up's own words, pointing at what it does not say: sure, though the joined reading is not.
    disabled = "If maxsize is set to None, the LRU feature is disabled and the cache can grow without bound."
    sure_alone = SpanReader(None, **{follow_up: "the LRU feature is disabled"})
    candidate = ranked(follow_up, f"{default} {follow_up}", sure_alone, disabled)
    assert candidate.reader_logit == -4.0 and candidate.own_logit == 4.0 and candidate.span_is_new
    assert FEATURES["reader_sure"](candidate) == 1.0
    # Sure alone, but of the follow-up's own word: nothing new.
    assert not ranked(follow_up, f"{default} {follow_up}", SpanReader(None, **{follow_up: "None"}), disabled).span_is_new
