"""Questions about API documentation for the reader's training: entries read from source, questions checked, and
the file they make is train data only. The model that writes questions is a deterministic stand-in here."""

import ast
import json
import random

import pytest

from qa.training.api_questions import (
    API_QUESTIONS_COUNT,
    ApiEntry,
    api_entries,
    ask_about,
    clean_docstring,
    entry_context,
    render_signature,
    write_squad,
)
from qa.training.data import API_QUESTIONS_FILE, SQUAD_FILES, Pair, load_split, repeated

MODULE = '''
"""A module."""

def wrap(text, width=70, *, placeholder=" [...]", **kwargs):
    """Wrap a single paragraph of text into lines of at most width characters.

    Whitespace is collapsed first.

    Parameters
    ----------
    width : int
        Not part of the prose.
    """

def _private(x):
    """Never read."""

class Queue:
    """A first-in, first-out queue of :class:`Item` objects.

    It is safe to share between **threads**.
    """

    def __init__(self, maxsize=0):
        pass

    def put(self, item, block=True, timeout=None):
        """Put ``item`` into the queue."""

def old_name():
    """Deprecated alias of wrap."""
'''


@pytest.fixture
def package(tmp_path):
    folder = tmp_path / "textkit"
    (folder / "tests").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "wrapping.py").write_text(MODULE)
    (folder / "_internal.py").write_text(MODULE)
    (folder / "tests" / "test_wrapping.py").write_text(MODULE)
    (folder / "broken.py").write_text("def (:\n")
    return folder


def test_entries_are_public_documented_api_rendered_as_the_python_docs_do(package):
    entries = list(api_entries(package))
    assert [e.head for e in entries] == [
        "textkit.wrapping.wrap(text, width=70, *, placeholder=' [...]', **kwargs)",
        "class textkit.wrapping.Queue(maxsize=0)",
        "textkit.wrapping.Queue.put(item, block=True, timeout=None)",
    ]
    assert {e.module for e in entries} == {"textkit.wrapping"}
    assert entries[0].description == ["Wrap a single paragraph of text into lines of at most width characters.",
                                      "Whitespace is collapsed first."]
    assert entry_context(entries[1]) == ("class textkit.wrapping.Queue(maxsize=0): A first-in, first-out queue of "
                                         "Item objects. It is safe to share between threads.")


def test_docstring_prose_stops_at_the_first_section_and_loses_its_markup():
    doc = "Return :func:`~pkg.thing` of ``x``, *fast*.\n\n>>> thing(1)\n\nArgs:\n    x: a number."
    assert clean_docstring(doc) == ["Return pkg.thing of x, fast."]


def test_signatures_keep_defaults_and_drop_self():
    tree = ast.parse("def f(self, a, /, b=2, *args, c, d='x', **kw): pass")
    assert render_signature(tree.body[0].args, method=True) == "a, b=2, *args, c, d='x', **kw"


def test_long_descriptions_are_cut_after_a_whole_sentence():
    entry = ApiEntry("m", "f", "m.f()", ["First sentence here. " * 50 + "Last."])
    context = entry_context(entry)
    assert len(context) <= 800 and context.endswith("here.")


def test_a_question_names_where_its_answer_is_and_one_that_gives_its_answer_away_is_dropped(package):
    wrap = next(iter(api_entries(package)))
    context = entry_context(wrap)
    prompts = []

    def asked(reply, seed=0):
        return ask_about(wrap, random.Random(seed), lambda prompt: prompts.append(prompt) or reply)

    kinds = set()
    for seed in range(8):
        question = asked("What does it use unless I say otherwise?", seed)
        assert context[question.answer_start: question.answer_start + len(question.answer)] == question.answer
        assert (question.kind, question.answer) in {("find", "wrap"), ("default", "70"), ("default", "' [...]'")}
        kinds.add(question.kind)
        if question.kind == "default":
            parameter = "width" if question.answer == "70" else "placeholder"
            assert f"`{parameter}`" in prompts[-1]
    assert kinds == {"find", "default"}
    assert all(context in prompt for prompt in prompts)
    assert asked("Which function is textkit.wrapping.wrap?") is None  # names its answer
    assert asked("How do I wrap text?") is None
    assert asked("Sure! Here is a question") is None  # not a question
    assert asked("Why?") is None  # too short to be one


def test_the_questions_file_is_train_data_only(tmp_path, package):
    entries = list(api_entries(package))
    rng = random.Random(1)
    asked = [(e, ask_about(e, rng, lambda prompt: "How would I do what this describes in my own code?"))
             for e in entries]
    out = tmp_path / "api_questions.json"
    write_squad([(e, q) for e, q in asked if q], out, "stand-in")
    data = json.loads(out.read_text())
    assert [a["title"] for a in data["data"]] == ["textkit.wrapping"]
    assert len(data["data"][0]["paragraphs"]) == 3

    squad = tmp_path / "squad"
    for name in SQUAD_FILES:
        (squad / name).parent.mkdir(parents=True)
        (squad / name).write_text(json.dumps({"data": []}))
    _, train, _ = load_split(squad, "train", [out])
    assert len(train) == 3 and all(q.article.startswith("api_questions:") for q in train)
    for split in ("dev", "test"):
        assert load_split(squad, split, [out])[1] == []


def test_the_committed_questions_are_as_many_as_the_generator_kept_and_point_at_their_answers():
    data = json.loads(API_QUESTIONS_FILE.read_text(encoding="utf-8"))
    questions = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    assert len(questions) == API_QUESTIONS_COUNT
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                assert paragraph["context"][answer["answer_start"]:].startswith(answer["text"])
                assert answer["text"].lower() not in qa["question"].lower()


def test_chosen_groups_are_repeated_at_seeded_places_and_nothing_else_changes():
    groups = [[Pair(f"q{i}", "s", "", 1)] for i in range(20)]
    chosen = {"q3", "q7"}
    mixed = repeated(groups, lambda group: group[0].question in chosen, 3, seed=5)
    counts = {g[0].question: sum(h[0].question == g[0].question for h in mixed) for g in groups}
    assert counts == {f"q{i}": 3 if f"q{i}" in chosen else 1 for i in range(20)}
    assert mixed == repeated(groups, lambda group: group[0].question in chosen, 3, seed=5)
    assert repeated(groups, lambda group: False, 3, seed=5) == groups
