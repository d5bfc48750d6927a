"""The reader's and the decision's rules on hand-built inputs: spans, pair encoding, checksums, probabilities."""

import json
import shutil

import numpy as np
import pytest

from qa.answer import ExtractiveAnswerer, make_citation
from qa.decision import ALL_FEATURES, DECISION_FILE, Decision, base_features, feature_matrix, load_decision
from qa.ranking import Candidate, Evidence
from qa.reader import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    Reader,
    ReaderUnavailable,
    _unfold,
    best_span,
    default_model_dir,
    encode_pairs,
)
from qa.store import SentenceRecord


def test_best_span_takes_the_best_ordered_pair_inside_the_sentence():
    offsets = np.array([[-1, -1], [0, 3], [4, 11], [12, 14], [15, 22], [-1, -1]])
    start = np.array([9.0, 0.0, 1.0, 0.0, 0.5, 9.0])  # the outside tokens score high and must be ignored
    end = np.array([9.0, 0.0, 0.0, 2.0, 1.0, 9.0])
    assert best_span(start, end, offsets)[:2] == (4, 14)


def test_best_span_never_ends_before_it_starts():
    offsets = np.array([[0, 3], [4, 9]])
    assert best_span(np.array([0.0, 5.0]), np.array([5.0, 0.0]), offsets) in {(0, 3, 5.0), (4, 9, 5.0)}  # never (4, 3)


def test_best_span_without_sentence_tokens_is_none():
    assert best_span(np.zeros(3), np.zeros(3), np.full((3, 2), -1)) is None


def test_unfold_maps_folded_spans_back_to_the_written_sentence():
    sentence = "  The  annual\nNFL  Experience was held at the Moscone Center."
    folded = " ".join(sentence.split())
    for phrase in ("Moscone Center", "annual NFL", "The"):
        first = folded.index(phrase)
        start, end = _unfold(sentence, (first, first + len(phrase)))
        assert " ".join(sentence[start:end].split()) == phrase
    assert _unfold(sentence, (5, 500)) is None


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from qa.embedding import model_folder

    return AutoTokenizer.from_pretrained(model_folder(), local_files_only=True)


def test_pair_encoding_marks_only_the_candidate_sentence(tokenizer):
    sentence = "The NFL Experience was held at the Moscone Center."
    batch, offsets = encode_pairs(tokenizer, ["Where was the NFL Experience?"], [sentence], ["It rained all week."])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    marked = [token for token, (start, _) in zip(tokens, offsets[0]) if start >= 0]
    assert "".join(marked).replace("##", "") == "thenflexperiencewasheldatthemosconecenter."
    assert all(sentence.lower()[s:e] for s, e in offsets[0] if s >= 0)
    assert "rained" in tokens  # the context is read, but never pointed at


def test_long_context_is_cut_before_the_sentence(tokenizer):
    sentence = "Xiaomi picked CATL and BYD as battery suppliers."
    _, offsets = encode_pairs(tokenizer, ["Who supplies batteries?"], [sentence], ["word " * 500], max_length=40)
    inside = offsets[0][offsets[0][:, 0] >= 0]
    assert inside[-1][1] == len(sentence)


def candidate(text, *, source="a.txt", start=0, logit=1.0, probability=0.9, vector=None, span=None):
    record = SentenceRecord("chunk", source, start, start + len(text), text,
                            np.asarray(vector if vector is not None else [1.0, 0.0], dtype=np.float32))
    return Candidate(record=record, context=text, context_start=start, published="", previous="", dense=0.5,
                     coverage=0.5, kind=0.0, terms=frozenset(text.lower().split()), reader_logit=logit,
                     probability=probability, answer_span=span)


def test_the_decision_is_a_logistic_model_over_named_features():
    decision = Decision(("reader_logit", "dense"), (2.0, 1.0), -1.0, 0.5)
    answering = candidate("x y z w", logit=0.5)  # z = -1 + 2*0.5 + 1*0.5 = 0.5
    assert decision.probability(answering) == pytest.approx(1 / (1 + np.exp(-0.5)))
    answering.probability = decision.probability(answering)
    assert decision.accepts(answering)
    assert not decision.with_threshold(0.7).accepts(answering)
    unread = candidate("x y z w", logit=None, probability=0.99)
    assert not decision.accepts(unread) and not decision.accepts(None)


def test_question_context_judges_each_sentence_beside_the_others_read_for_the_question():
    read = [candidate("a b c d", logit=3.0), candidate("e f g h", logit=1.0), candidate("i j k l", logit=-1.0)]
    for c, dense in zip(read, (0.6, 0.2, 0.1)):
        c.dense = dense
    matrix = feature_matrix(base_features(read))
    column = {name: matrix[:, ALL_FEATURES.index(name)] for name in ALL_FEATURES}
    assert column["logit_gap"].tolist() == [2.0, -2.0, -4.0]  # the best's lead; the others' distance to it
    assert column["logit_share"].sum() == pytest.approx(1.0) and column["logit_share"][0] > 0.8
    assert column["best_dense"].tolist() == pytest.approx([0.6] * 3)
    assert column["mean_dense"].tolist() == pytest.approx([0.3] * 3)
    alone = feature_matrix(base_features(read[:1]))
    assert alone[0, ALL_FEATURES.index("logit_gap")] == 13.0  # against an unread sentence's logit
    assert feature_matrix(base_features([])).shape == (0, len(ALL_FEATURES))
    decision = Decision(("logit_gap",), (1.0,), 0.0, 0.5)
    assert decision.probabilities(read).tolist() == pytest.approx(1 / (1 + np.exp(-np.array([2.0, -2.0, -4.0]))))


def test_decisions_round_trip_and_reject_unknown_features(tmp_path):
    decision = Decision(("reader_logit", "coverage"), (1.5, 0.5), -2.0, 0.42)
    (tmp_path / DECISION_FILE).write_text(json.dumps(decision.to_json()))
    assert load_decision(tmp_path) == decision
    with pytest.raises(ValueError, match="unknown features"):
        Decision(("shoe_size",), (1.0,), 0.0, 0.5)
    with pytest.raises(ReaderUnavailable, match="make train"):
        load_decision(tmp_path / "nowhere")


def test_the_reader_picks_among_the_sentences_the_hand_fitted_rule_accepts(tmp_path):
    likely = candidate("Production of the car starts soon.", logit=-3.7, probability=0.73)
    read_best = candidate("Mass production is due in the first half of 2024.", start=50, logit=3.4, probability=0.52)
    refused = candidate("The car is due in 2024, a report said.", start=99, logit=5.0, probability=0.4)
    read = [refused, likely, read_best]
    picks = Decision(("dense",), (1.0,), 0.0, 0.5, reader_picks=True)
    assert picks.order(read) == [read_best, likely, refused]  # the reader never lifts a refused sentence
    assert Decision(("dense",), (1.0,), 0.0, 0.5).order(read) == [likely, read_best, refused]
    assert picks.with_threshold(0.6).order(read) == [likely, read_best, refused]
    assert picks.pick(np.array([0.4, 0.73, 0.52]), np.array([5.0, -3.7, 3.4])) == 2  # order's first, from arrays
    near_tie = candidate("Mass production is due in 2024, a report said.", start=150, logit=-3.2, probability=0.6)
    assert picks.order([likely, near_tie]) == [likely, near_tie]  # a preference within the reader's noise
    (tmp_path / DECISION_FILE).write_text(json.dumps(picks.to_json()))
    assert load_decision(tmp_path) == picks


def test_a_line_of_an_interactive_session_leads_only_when_no_accepted_prose_can():
    from qa.leads import is_session_line

    example = candidate(">>> Account = namedtuple('Account', ['type', 'balance'])", logit=3.6, probability=0.6)
    definition = candidate("collections.namedtuple(typename, field_names): Returns a new tuple subclass named typename.",
                           start=100, logit=3.5, probability=0.85)
    heading = candidate("namedtuple() Factory Function for Tuples with Named Fields", start=200, logit=-0.3,
                        probability=0.9)
    picks = Decision(("dense",), (1.0,), 0.0, 0.5, reader_picks=True)

    def prose(c):
        return not is_session_line(c.record.text)

    assert picks.order([example, definition, heading])[0] is example  # the reader's favourite, code or not
    assert picks.order([example, definition, heading], prose) == [definition, heading, example]
    unsure = candidate("Named tuples assign meaning to each position.", start=300, logit=0.0, probability=0.3)
    assert picks.order([unsure, example], prose)[0] is example  # no accepted prose: the example still answers


def test_a_sentence_the_reader_thinks_far_less_of_does_not_join():
    amounts = candidate("Xiaomi will invest $10 billion over 10 years.", logit=3.8, probability=0.62)
    again = candidate("Its first phase costs RMB 10 billion.", start=100, logit=1.7, probability=0.61, vector=[0.0, 1.0])
    aside = candidate("The first car is due in the first half of 2024.", start=200, logit=-3.8, probability=0.6,
                      vector=[0.6, 0.8])
    chosen = ExtractiveAnswerer(max_sentences=4).select(Evidence("q", "q", [amounts, again, aside]))
    assert chosen == [amounts, again]  # as likely by the score, but 7.6 logits below the lead


def test_a_sentence_joins_on_its_own_likelihood_whatever_its_place():
    best = candidate("Xiaomi picked CATL as its battery supplier.", probability=0.9)
    unlikely = candidate("The plant is in Beijing's Yizhuang district.", start=100, probability=0.55, vector=[0.0, 1.0])
    likely = candidate("BYD's FinDreams will also supply batteries.", start=200, probability=0.8, vector=[0.6, 0.8])
    chosen = ExtractiveAnswerer(max_sentences=4).select(Evidence("q", "q", [best, unlikely, likely]))
    assert chosen == [best, likely]  # the reader put the unlikely one second; the likely one still joins


def test_a_second_sentence_joins_only_when_nearly_as_likely_and_new():
    best = candidate("Xiaomi picked CATL as its battery supplier.", probability=0.8)
    close = candidate("BYD's FinDreams will also supply batteries.", start=100, probability=0.65, vector=[0.0, 1.0])
    weak = candidate("The plant is in Beijing's Yizhuang district.", start=200, probability=0.3, vector=[0.6, 0.8])
    same = candidate("Xiaomi picked CATL as its battery supplier.", source="b.txt", probability=0.75)
    answerer = ExtractiveAnswerer(max_sentences=4)
    chosen = answerer.select(Evidence("q", "q", [best, same, close, weak]))
    assert chosen == [best, close]
    draft = answerer.compose(Evidence("q", "q", [best, same, close, weak]))
    assert draft.text == ("Xiaomi picked CATL as its battery supplier. [1] BYD's FinDreams will also supply batteries. [2]")
    assert [c.number for c in draft.citations] == [1, 2]


def test_the_different_figures_lead_in_needs_two_sources_stating_different_amounts():
    first = candidate("The initial investment is RMB 10 billion ($1.54 billion).", probability=0.9)
    other = candidate("The initial investment is RMB 10 billion ($1.38 billion).", source="b.txt", probability=0.2)
    answerer = ExtractiveAnswerer(max_sentences=4)
    how_much = "How much is the initial investment worth in dollars?"
    draft = answerer.compose(Evidence(how_much, how_much, [first, other]))
    assert draft.text.startswith("The sources give different figures:") and len(draft.citations) == 2
    same_source = candidate("The initial investment is RMB 10 billion ($1.38 billion).", start=300, probability=0.2)
    assert not answerer.compose(Evidence(how_much, how_much, [first, same_source])).text.startswith("The sources")
    unrelated = candidate("Xiaomi sold 3 million phones in May.", source="b.txt", probability=0.6, vector=[0.0, 1.0])
    assert not answerer.compose(Evidence(how_much, how_much, [first, unrelated])).text.startswith("The sources")
    who = "Who leads Xiaomi's car business?"  # the amounts differ, but nobody asked for one
    assert answerer.compose(Evidence(who, who, [first, other])).text == f"{first.record.text} [1]"


def test_citations_carry_the_answer_span_in_source_offsets():
    text = "The annual NFL Experience was held at the Moscone Center in San Francisco."
    located = candidate(text, start=1000, span=(text.index("Moscone"), text.index(" in San")))
    citation = make_citation(1, located, with_answer=True)
    assert (citation.answer_start, citation.answer_end) == (1000 + text.index("Moscone"), 1000 + text.index(" in San"))
    assert make_citation(1, located).answer_start is None  # a refusal's closest passages point at nothing
    whole = candidate(text, span=(0, len(text)))
    assert make_citation(1, whole, with_answer=True).answer_start is None


def test_damaged_or_missing_weights_are_refused_at_load(tmp_path):
    model = tmp_path / "reader"
    shutil.copytree(default_model_dir(), model)
    data = bytearray((model / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ReaderUnavailable, match="checksum"):
        Reader(model)
    (model / MANIFEST_FILE).unlink()
    with pytest.raises(ReaderUnavailable, match="manifest"):
        Reader(model)


def test_the_reader_reads_pairs_at_the_length_it_was_trained_at(tmp_path, monkeypatch):
    import qa.reader

    model = tmp_path / "reader"
    shutil.copytree(default_model_dir(), model)
    manifest = json.loads((model / MANIFEST_FILE).read_text())
    manifest["max_length"] = 24
    (model / MANIFEST_FILE).write_text(json.dumps(manifest))
    widths = []

    def recording(*args):
        batch, offsets = real(*args)
        widths.append(batch["input_ids"].shape[1])
        return batch, offsets

    real = qa.reader.encode_pairs
    monkeypatch.setattr(qa.reader, "encode_pairs", recording)
    long_context = "The new ferry entered service in May after two years of delays and a long legal dispute."
    Reader(model).read("How many passengers will it carry?", ["It will carry 300 passengers a day."], [long_context])
    del manifest["max_length"]  # a manifest that does not say: 80, the length every earlier reader was trained at
    (model / MANIFEST_FILE).write_text(json.dumps(manifest))
    Reader(model).read("How many passengers will it carry?", ["It will carry 300 passengers a day."], [" ".join([long_context] * 6)])
    assert widths == [24, 80]


class KeywordReader:
    """A deterministic stand-in for the cross-encoder: answers when the sentence holds the marked word."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[str] = []

    def read(self, question, sentences, contexts):
        from qa.reader import Reading

        self.seen += list(sentences)
        return [Reading(4.0 if self.word in s else -4.0, None) for s in sentences]


def test_the_ranker_reads_the_best_few_and_orders_them_by_probability():
    from llama_index.core.schema import NodeWithScore, TextNode

    from qa.ranking import SentenceRanker
    from qa.retrieve import TermStatistics

    texts = [f"Sentence number {n} talks about ferries and boats." for n in range(6)]
    texts[4] = "The ferry carries exactly 300 passengers every day."
    chunk_text = " ".join(texts)
    node = TextNode(id_="c1", text=chunk_text, start_char_idx=0, end_char_idx=len(chunk_text),
                    metadata={"source": "f.txt", "published": ""})
    records, position = [], 0
    for n, text in enumerate(texts):
        vector = np.array([1.0, 0.0]) if n < 3 else np.array([0.6, 0.8])  # the first three look closest
        records.append(SentenceRecord("c1", "f.txt", position, position + len(text), text, vector.astype(np.float32)))
        position += len(text) + 1
    reader = KeywordReader("300")
    ranker = SentenceRanker(reader, Decision(("reader_logit",), (1.0,), 0.0, 0.5), reader_candidates=5)
    evidence = ranker.rank("How many passengers?", "How many passengers?", np.array([1.0, 0.0], dtype=np.float32),
                           [NodeWithScore(node=node, score=1.0)], records, TermStatistics([node]))
    assert len(reader.seen) == 5  # only the five best by the cheap features were read
    assert evidence.best.record.text == texts[4] and evidence.best.probability == pytest.approx(1 / (1 + np.exp(-4)))
    assert evidence.candidates[1].probability < 0.5
    unread = [c for c in evidence.candidates if c.reader_logit is None]
    assert len(unread) == 1 and evidence.candidates[-1] is unread[0] and unread[0].probability == 0.0
    assert evidence.best.previous == texts[3]  # the reader saw the sentence before it


def test_a_citation_marks_its_answer_inside_the_quote():
    from qa.schema import Citation

    quote = "The annual NFL Experience was held at the Moscone Center."
    start = 500
    answer = start + quote.index("Moscone Center")
    cited = Citation(1, "a.txt", quote, start, start + len(quote), 0.9, answer_start=answer, answer_end=answer + 14)
    assert cited.quote_marked() == "The annual NFL Experience was held at the **Moscone Center**."
    assert cited.quote_marked("<strong>", "</strong>").count("<strong>Moscone Center</strong>") == 1
    assert Citation(1, "a.txt", quote, start, start + len(quote), 0.9).quote_marked() == quote


def test_the_hand_fitted_decision_is_the_old_rule_in_probabilities(tmp_path):
    from qa.decision import HAND_FITTED, choose_decision

    for dense, coverage, kind in [(0.6, 0.5, 1.0), (0.7, 0.2, 0.0), (0.74, 0.3, -1.0), (0.5, 0.9, 1.0)]:
        found = candidate("x y z w", logit=0.0)
        found.dense, found.coverage, found.kind = dense, coverage, kind
        found.probability = HAND_FITTED.probability(found)
        old_score = 0.7 * dense + 0.4 * coverage ** 3 + 0.05 * kind
        assert HAND_FITTED.accepts(found) == (old_score >= 0.542), (dense, coverage, kind)
    assert choose_decision("hand-fitted", tmp_path) is HAND_FITTED
    with pytest.raises(ValueError, match="learned or hand-fitted"):
        choose_decision("coin-toss", tmp_path)


def test_a_sentence_that_lacks_what_is_asked_and_that_the_reader_doubts_is_never_accepted():
    from qa.decision import HAND_FITTED

    def judged(kind: float, logit: float) -> bool:
        found = candidate("More partnerships are expected before the actual production starts.", logit=logit)
        found.dense, found.coverage, found.kind = 0.42, 1.0, kind  # every word of "When will production start?"
        found.probability = HAND_FITTED.probability(found)
        return HAND_FITTED.accepts(found)

    assert not judged(kind=-1.0, logit=-3.7)  # no date, and the reader disagrees
    assert judged(kind=-1.0, logit=0.5)  # the kind check alone misses dates written as words: not enough
    assert judged(kind=0.0, logit=-3.7)  # an open question: the reader alone does not overrule the score


def test_a_follow_ups_sentences_are_judged_against_both_forms_of_the_question():
    from llama_index.core.schema import NodeWithScore, TextNode

    from qa.ranking import candidates_of
    from qa.retrieve import TermStatistics

    text = "Important warning: the default value is evaluated only once."
    node = TextNode(id_="c1", text=text, start_char_idx=0, end_char_idx=len(text), metadata={"source": "f.txt"})
    record = SentenceRecord("c1", "f.txt", 0, len(text), text, np.array([0.6, 0.8], dtype=np.float32))
    hits, statistics = [NodeWithScore(node=node, score=1.0)], TermStatistics([node])
    standalone = "How do I give an argument a default value? How many times is that default value evaluated?"
    alone = candidates_of(standalone, standalone, np.array([1.0, 0.0], dtype=np.float32), hits, [record], statistics)
    both = candidates_of("How many times is that default value evaluated?", standalone,
                         np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32), hits, [record], statistics)
    assert alone[0].dense == pytest.approx(0.6)
    assert both[0].dense == pytest.approx(0.8)  # the follow-up's own words are closer than the standalone form


@pytest.mark.parametrize(("question", "sentence", "kind"), [
    ("How many times is the default value evaluated?", "The default value is evaluated only once.", 1.0),
    ("Roughly how many cars have come off the line?", "Dozens of cars have come off the line.", 1.0),
    ("In how many phases will the plant be built?", "The plant will be built in two phases.", 1.0),
    ("How many phases, two or three?", "The plant will be built in two phases.", -1.0),  # only what is not asked
    ("How much will the car cost?", "One of the cars is cheap.", -1.0),  # "one" is a pronoun here
    ("How much will the car cost?", "It will cost 250k yuan.", 1.0),
])
def test_amounts_written_as_words_answer_how_many(question, sentence, kind):
    from qa.ranking import kind_match

    assert kind_match(question, sentence) == kind


@pytest.mark.parametrize(("question", "sentence", "kind"), [
    ("Over what period?", "It will invest $10 billion over the next 10 years.", 1.0),
    ("How long will the trial production last?", "Trial production will run for a few more weeks.", 1.0),
    ("How long does the warranty run?", "The warranty runs for an eight-year period.", 1.0),
    ("How long does the warranty run?", "The warranty covers the battery.", -1.0),
    ("For what period is the licence valid?", "The licence is valid for one year.", 1.0),
    ("How long ago was it founded?", "It was founded in 1958.", 1.0),  # a date, not a duration
    ("How long is the car?", "The car is long and low.", -1.0),
])
def test_durations_answer_how_long(question, sentence, kind):
    from qa.ranking import kind_match

    assert kind_match(question, sentence) == kind
