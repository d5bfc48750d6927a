"""Which accepted sentence opens an answer (qa/leads.py), on hand-built sentences."""

import numpy as np
import pytest

from qa.decision import Decision
from qa.leads import defined_term, defines, is_session_line, may_lead
from qa.ranking import Candidate
from qa.store import SentenceRecord


def accepted(text: str, *, logit: float, probability: float, start: int = 0) -> Candidate:
    record = SentenceRecord("chunk", "collections.html", start, start + len(text), text,
                            np.array([1.0, 0.0], dtype=np.float32))
    return Candidate(record=record, context=text, context_start=start, published="", previous="", dense=0.8,
                     coverage=0.5, kind=0.0, reader_logit=logit, probability=probability)


@pytest.mark.parametrize(("question", "term"), [
    ("What is a namedtuple?", "namedtuple"),
    ("What's an OrderedDict?", "OrderedDict"),
    ("What does lru_cache do?", "lru_cache"),
    ("What does enumerate() do?", "enumerate"),
    ("what is json.dumps", "json.dumps"),
    ("What is it?", None),  # a follow-up's pronoun names nothing to look up
    ("What is the default tolerance of isclose?", None),
    ("Which function quotes a string for the shell?", None),
])
def test_what_is_questions_name_the_term_they_ask_about(question, term):
    assert defined_term(question) == term


@pytest.mark.parametrize(("sentence", "term", "is_definition"), [
    ("class collections.OrderedDict([items]): Return an instance of a dict subclass.", "OrderedDict", True),
    ("@functools.lru_cache(maxsize=128, typed=False): Decorator to wrap a function.", "lru_cache", True),
    ("bisect.bisect(a, x, lo=0, hi=len(a), *, key=None): Similar to bisect_left().", "bisect", True),
    ("exception json.JSONDecodeError(msg, doc, pos): Subclass of ValueError.", "JSONDecodeError", True),
    ("json.dumps(obj, *, skipkeys=False): Serialize obj to a JSON formatted str.", "json.dumps", True),
    ("shutil.copytree(src, dst): Recursively copy an entire directory tree.", "copy", False),  # another name
    ("A regular dict can emulate OrderedDict's od.popitem(last=True): see below.", "OrderedDict", False),
])
def test_a_definition_list_entry_defines_its_term(sentence, term, is_definition):
    assert defines(sentence, term) is is_definition


def test_a_what_is_question_opens_with_the_accepted_definition_of_its_term():
    aside = accepted("A regular dict can emulate OrderedDict's od.popitem(last=True) with d.popitem().", logit=0.6,
                     probability=0.95)
    definition = accepted("class collections.OrderedDict([items]): Return an instance of a dict subclass.", logit=0.2,
                          probability=0.9, start=100)
    example = accepted(">>> od = OrderedDict.fromkeys('abcde')", logit=3.0, probability=0.92, start=200)
    read = [aside, definition, example]
    picks = Decision(("dense",), (1.0,), 0.0, 0.5, reader_picks=True)
    assert picks.order(read)[0] is example  # the reader's favourite
    assert picks.order(read, may_lead("What is an OrderedDict?", read))[0] is definition
    # Another question about the same page: prose still comes before the example.
    assert picks.order(read, may_lead("How do I pop the last item of an OrderedDict?", read))[0] is aside
    assert picks.order(read, may_lead("What is an OrderedDict?", [aside, example]))[0] is aside  # none accepted


def test_session_lines_are_the_prompt_and_its_continuation():
    assert is_session_line(">>> c = Counter()") and is_session_line("... for i, elem in enumerate(arg):")
    assert is_session_line(">>>") and not is_session_line("...and then it rose.")
    assert not is_session_line("Use >>> to start a session.")
