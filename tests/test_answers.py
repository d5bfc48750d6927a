"""Answers over the seed articles: right facts, exact citations, honest refusals, clear errors."""


import numpy as np
import pytest

from qa.answer import REFUSAL_TEXT, display_sentence, explain_numbers
from qa.documents import read_source_text
from qa.schema import InvalidQuestion

QUESTIONS = [
    ("When will Xiaomi's first EV start mass production?", "December"),
    ("Which battery suppliers did Xiaomi pick?", "CATL"),
    ("What is the factory's annual capacity?", "300,000"),
    ("Who posted spy photos of the car?", "Xiaohongshu"),
    ("Who is Ming-Chi Kuo?", "analyst"),
    ("Which commission did Xiaomi discuss licensing issues with?", "National Development and Reform Commission"),
]
UNANSWERABLE = [
    "What is the top speed of Xiaomi's electric sedan?",
    "How many employees work in Xiaomi's automotive unit?",
    "What was Xiaomi's total revenue last year?",
    "Which chip powers the autonomous driving system in Xiaomi's car?",
]


@pytest.mark.parametrize("question,expected", QUESTIONS)
def test_answers_contain_the_fact_and_cite_it(seeds_engine, question, expected):
    answer = seeds_engine.ask(question)
    assert not answer.refused, answer.text
    assert expected.lower() in answer.text.lower()
    assert any(expected.lower() in c.quote.lower() for c in answer.citations)
    for citation in answer.citations:
        assert f"[{citation.number}]" in answer.text


def test_every_citation_quotes_its_source_exactly(seeds_engine):
    corpus = seeds_engine.settings.corpus_dir
    for question in [q for q, _ in QUESTIONS] + UNANSWERABLE:
        answer = seeds_engine.ask(question)
        assert answer.citations, question
        for citation in answer.citations:
            text = read_source_text(corpus, citation.source)
            assert text[citation.start:citation.end] == citation.quote
            offset = citation.start - citation.context_start
            assert citation.context[offset:offset + len(citation.quote)] == citation.quote
        for passage in answer.passages:
            assert read_source_text(corpus, passage.source)[passage.start:passage.end] == passage.text


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unsupported_questions_are_refused_with_the_closest_passages(seeds_engine, question):
    answer = seeds_engine.ask(question)
    assert answer.refused
    assert answer.text == REFUSAL_TEXT
    assert 1 <= len(answer.citations) <= 3 and answer.passages


def test_disagreeing_sources_each_get_their_own_citation(seeds_engine):
    answer = seeds_engine.ask("How much is Xiaomi's RMB 10 billion initial car investment worth in US dollars?")
    assert answer.text.startswith("The sources give different figures:")
    for figure in ("$1.54 billion", "$1.38 billion", "$1.5 billion"):
        cited = [c for c in answer.citations if figure in c.quote]
        assert cited, figure
        assert f"{figure}) in" in answer.text or figure in answer.text
    assert len({c.source for c in answer.citations}) >= 3


def test_exact_names_and_figures_are_found_by_keyword_search(seeds_engine):
    for query, source in (("Xiaohongshu", "003"), ("7.2382", "003"), ("FinDreams", "001"), ("Project Titan", "002")):
        answer = seeds_engine.ask(query)
        assert any(source in p.source and query in p.text for p in answer.passages), query


def test_paraphrases_find_their_passage(seeds_engine):
    answer = seeds_engine.ask("How much money did Xiaomi first commit to its car venture?")
    assert not answer.refused
    assert "RMB 10 billion" in answer.text


def test_follow_up_questions_use_the_conversation(seeds_engine):
    conversation = seeds_engine.conversation()
    first = conversation.ask("Which battery suppliers did Xiaomi pick?")
    assert "CATL" in first.text
    follow_up = conversation.ask("When was that reported?")
    assert follow_up.standalone_question == "Which battery suppliers did Xiaomi pick? When was that reported?"
    assert "August 17" in follow_up.citations[0].quote
    alone = seeds_engine.ask("When was that reported?")
    assert "August 17" not in (alone.citations[0].quote if alone.citations else "")
    assert seeds_engine.ask("When was that reported?", ["Which battery suppliers did Xiaomi pick?"]).text == follow_up.text


def test_a_when_question_is_not_answered_with_a_sentence_that_has_no_date(seeds_engine):
    answer = seeds_engine.ask("When will production start?")
    assert not any("More partnerships" in c.quote for c in answer.citations if not answer.refused)


def test_a_bare_over_what_period_follows_the_question_before(seeds_engine):
    answer = seeds_engine.ask("Over what period?", ["How much money is Xiaomi putting into cars?"])
    assert not answer.refused and "10 years" in answer.text


def test_a_follow_ups_sentences_are_scored_against_its_own_words_too(seeds_engine):
    # "And …" reads as a follow-up, glued to the earlier question; its own words are what find the Apple sentence.
    earlier, question = "Who is Ming-Chi Kuo?", "And when is Apple planning to introduce its first electric car?"
    evidence = seeds_engine.evidence(question, [earlier])
    vectors = [seeds_engine.embedder.get_query_embedding(text) for text in (evidence.standalone, question)]
    for found in evidence.candidates[:5]:
        standalone, own = (float(np.dot(vector, found.record.vector)) for vector in vectors)
        assert found.dense == pytest.approx(max(standalone, own), abs=1e-5)
    assert evidence.standalone == f"{earlier} {question}"
    assert "Apple" in evidence.best.record.text
    assert evidence.best.dense > float(np.dot(vectors[0], evidence.best.record.vector)) + 0.1
    alone = seeds_engine.evidence(earlier)
    assert alone.best.dense == pytest.approx(float(np.dot(seeds_engine.embedder.get_query_embedding(earlier),
                                                          alone.best.record.vector)), abs=1e-5)


def test_a_new_question_opened_with_and_is_answered_from_its_own_words(seeds_engine):
    answer = seeds_engine.ask("And which battery suppliers did Xiaomi pick?", ["Who is Ming-Chi Kuo?"])
    assert answer.standalone_question.startswith("Who is Ming-Chi Kuo?")  # still read as a follow-up
    assert not answer.refused and "CATL" in answer.text


def test_a_new_topic_is_not_mixed_with_the_last_one(seeds_engine):
    answer = seeds_engine.ask("Who is Ming-Chi Kuo?", ["Which battery suppliers did Xiaomi pick?"])
    assert answer.standalone_question == "Who is Ming-Chi Kuo?"


@pytest.mark.parametrize("question,message", [
    ("", "Please type a question"),
    ("   \n\t ", "Please type a question"),
    ("?!?! ...", "no letters or digits"),
    ("x" * 100_000, "100,000 characters long; the limit is 2,000"),
    (b"\x00\x01binary", "must be text"),
    (None, "must be text"),
])
def test_bad_questions_get_a_clear_error(seeds_engine, question, message):
    with pytest.raises(InvalidQuestion, match=message):
        seeds_engine.ask(question)


def test_control_characters_are_dropped_not_fatal(seeds_engine):
    assert "CATL" in seeds_engine.ask("Which battery\x00 suppliers\x1b did Xiaomi pick?").text


def test_numbers_in_indian_notation_are_explained():
    assert explain_numbers("a capacity of 3 lakh units") == "a capacity of 3 lakh (300,000) units"
    assert explain_numbers("an annual output of 3,00,000 vehicles") == "an annual output of 3,00,000 (300,000) vehicles"
    assert explain_numbers("300,000 units") == "300,000 units"
    assert display_sentence("'s car  factory\nin Beijing") == "…'s car factory in Beijing"


def test_indian_numbers_are_explained_in_answers(seeds_engine):
    answer = seeds_engine.ask("How many units will the plant in question have a capacity of, in lakh?")
    assert "3 lakh (300,000)" in answer.text or "3,00,000 (300,000)" in answer.text


def test_relative_years_are_dated_when_the_article_has_a_dateline(seeds_engine):
    from qa.answer import resolve_relative_years

    assert resolve_relative_years("announced last year, built this year, sells next year", "2022-08-26") == (
        "announced last year (2021), built this year (2022), sells next year (2023)")
    assert resolve_relative_years("announced last year", "") == "announced last year"
    answer = seeds_engine.ask("When did Xiaomi announce its interest in making electric vehicles?")
    assert answer.citations[0].source.endswith("004_ae9ab8651fee1745.txt")  # dated 2022-08-26 by its dateline
    assert "last year (2021)" in answer.text and "earlier this year (2022)" in answer.text
    assert "(2021)" not in answer.citations[0].quote  # the quote stays exact
