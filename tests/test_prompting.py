"""The reading of small models' replies and the citation check, on hand-written replies (issue 10's defects)."""

import numpy as np

from qa.claims import clauses, off_point, unsupported_by
from qa.prompting import NOT_FOUND, choose_passages, complete_lines, earlier_part, messages, parse_reply
from qa.ranking import Candidate, Evidence
from qa.store import SentenceRecord


def test_a_marker_after_the_full_stop_belongs_to_the_sentence():
    claims = parse_reply("The factory will make 300,000 vehicles a year. [1] Production starts in 2024. [2]", 3)
    assert [(c.text, c.cited) for c in claims] == [("The factory will make 300,000 vehicles a year.", (1,)),
                                                   ("Production starts in 2024.", (2,))]


def test_markers_anywhere_in_the_sentence_and_lists_of_numbers():
    claims = parse_reply("Xiaomi [1] chose CATL and BYD [2, 3].\nIt invests $10 billion [1][3] over ten years.", 3)
    assert [c.cited for c in claims] == [(1, 2, 3), (1, 3)]
    assert claims[0].text == "Xiaomi chose CATL and BYD." and claims[1].text == "It invests $10 billion over ten years."


def test_a_marker_on_the_next_line_and_out_of_range_numbers():
    claims = parse_reply("Mass production begins in 2024.\n[2]\nSales start in 2025 [9].", 2)
    assert [(c.text, c.cited) for c in claims] == [("Mass production begins in 2024.", (2,)), ("Sales start in 2025.", ())]


def test_bare_markers_and_passage_lists():
    assert [(c.text, c.cited) for c in parse_reply("[1] [2]", 3)] == [("", (1, 2))]
    claims = parse_reply("Passage 3: Xiaomi will build its own factory.\n- Passage 1: The plant is in Yizhuang.", 3)
    assert [(c.text, c.cited) for c in claims] == [("Xiaomi will build its own factory.", (3,)),
                                                   ("The plant is in Yizhuang.", (1,))]
    # The label's number is no figure of the claim: it passes the figure check.
    assert unsupported_by(claims[1].text, "Xiaomi's plant is in Yizhuang, Beijing.") is None


def test_talk_about_the_passages_is_marked_and_according_to_is_read_as_a_citation():
    claims = parse_reply("Passage [1] and [2] both mention the factory.\nAccording to passage 2, the plant is in Yizhuang.", 2)
    assert claims[0].meta and claims[0].cited == (1, 2)
    assert (claims[1].text, claims[1].cited, claims[1].meta) == ("The plant is in Yizhuang.", (2,), False)


def test_not_found_lines_go_and_nothing_is_cut_at_foreign_offsets():
    assert parse_reply(NOT_FOUND, 3) == []
    claims = parse_reply(f"Passage 3: {NOT_FOUND}\nThe plant is in Yizhuang [1].", 3)
    assert all("NOT" not in c.text for c in claims)
    assert [c.text for c in claims if c.text] == ["The plant is in Yizhuang."]


def test_an_echoed_label_is_not_part_of_the_claim():
    claims = parse_reply("(001_52ba53fcb0081ea9.txt, 2022-08-26) The plant is in Yizhuang [1].", 1)
    assert claims[0].text == "The plant is in Yizhuang."


def test_streamed_text_is_checked_by_complete_lines():
    assert complete_lines("One claim [1].\nTwo cla") == ("One claim [1].\n", "Two cla")
    assert complete_lines("no break yet") == ("", "no break yet")


PASSAGE = "According to a report by Bloomberg, Xiaomi is negotiating with BAIC Group to jointly produce electric vehicles."


def test_negation_must_agree_with_the_one_passage():
    assert unsupported_by("Xiaomi is negotiating with BAIC Group to produce electric vehicles.", PASSAGE) is None
    assert "not" in unsupported_by("Xiaomi is not negotiating with BAIC Group.", PASSAGE)
    assert "refuse" in unsupported_by("Xiaomi refused to negotiate with BAIC Group.", PASSAGE)
    denied = "Xiaomi denied that it is negotiating with BAIC Group."
    assert unsupported_by("Xiaomi is negotiating with BAIC Group.", denied) is not None
    assert unsupported_by("Xiaomi denied negotiating with BAIC Group.", denied) is None


def test_figures_come_from_the_cited_passage_alone():
    first = "One report values the investment at $1.54 billion."
    second = "Another values the investment at $1.38 billion."
    claim = "The investment is valued at $1.54 billion and $1.38 billion."
    assert unsupported_by(claim, first) is not None and unsupported_by(claim, second) is not None
    assert unsupported_by("The investment is valued at $1.54 billion.", first) is None
    assert unsupported_by("The investment is valued at $1.54 Billion.", first) is None  # case and $ do not matter


def test_an_appended_claim_is_checked_as_its_own_clause():
    passage = "Xiaomi Auto finalized two main battery suppliers, namely CATL and BYD's FinDreams Battery."
    assert clauses("Xiaomi chose CATL and BYD, and Xiaomi is bankrupt") == ["Xiaomi chose CATL and BYD", "Xiaomi is bankrupt"]
    assert unsupported_by("Xiaomi's battery suppliers are CATL and BYD's FinDreams Battery.", passage) is None
    assert "bankrupt" in unsupported_by("Xiaomi's battery suppliers are CATL and BYD's FinDreams Battery, "
                                        "and Xiaomi is bankrupt.", passage)


def _candidate(text: str, source: str, vector: list[float], published: str = "") -> Candidate:
    record = SentenceRecord(chunk_id="c", source=source, start=0, end=len(text), text=text,
                            vector=np.asarray(vector, dtype=np.float32))
    return Candidate(record=record, context=text, context_start=0, published=published, previous="",
                     dense=0.5, coverage=0.5, kind=0.0, reader_logit=1.0, probability=0.7)


def test_passages_are_numbered_with_source_and_date_and_syndicated_copies_collapse():
    same = "Xiaomi will build a factory with an annual capacity of 300,000 vehicles."
    candidates = [_candidate(same, "seeds/a.txt", [1, 0, 0], "2022-08-26"),
                  _candidate(same.replace("300,000", "300,000 "), "seeds/b.txt", [0, 1, 0]),
                  _candidate("Xiaomi's plant will sit in Yizhuang, Beijing.", "seeds/c.txt", [0.96, 0.28, 0]),
                  _candidate("Mass production starts last year.", "seeds/d.txt", [0, 0, 1], "2022-08-26")]
    evidence = Evidence("When was that reported?", "Where is the factory? When was that reported?", candidates)
    shown = choose_passages(evidence)
    assert [s.candidate.record.source for s in shown] == ["seeds/a.txt", "seeds/d.txt"]
    prompt = messages(evidence, shown)[1]["content"]
    assert "[1] (a.txt, 2022-08-26) Xiaomi will build" in prompt
    assert "last year (2021)" in prompt  # relative years dated for the model too
    assert earlier_part(evidence) == "Where is the factory?"
    assert prompt.endswith("Earlier question (context only): Where is the factory?\nQuestion: When was that reported?")


def test_passages_named_in_words_and_clauses_with_their_own_markers():
    assert [(c.text, c.cited) for c in parse_reply("Passage 2", 3)] == [("", (2,))]
    claims = parse_reply("Passage 1 and Passage 2 state that Xiaomi will build a base in Yizhuang.", 3)
    assert [(c.text, c.cited, c.meta) for c in claims] == [("Xiaomi will build a base in Yizhuang.", (1, 2), False)]
    claims = parse_reply("It is worth $1.54 billion [1], or $1.38 billion [2].", 3)
    assert [(c.text, c.cited) for c in claims] == [("It is worth $1.54 billion", (1,)), ("or $1.38 billion.", (2,))]


def test_a_claim_must_give_what_the_question_asks_for():
    assert off_point("When will the car be launched?", "National Business Daily reported it.")
    # "when" opening a clause asks for a date as much as "when" opening the question
    assert off_point("According to that same outlet, when will the car be officially launched?", "National Business Daily.")
    assert not off_point("According to that outlet, when will it launch?", "It will be launched in February next year.")
    assert not off_point("What happened when Xiaomi announced it?", "Its shares rose.")  # not a date question
    assert off_point("How many cars a year can the plant build?", "The plant is in Yizhuang.")
    assert off_point("Where is the factory?", "It can build 300,000 cars a year.")
