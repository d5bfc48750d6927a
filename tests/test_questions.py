"""Question checks and follow-up detection, on hand-written questions."""

import pytest

from qa.questions import condense, is_follow_up, validate_question
from qa.schema import InvalidQuestion, UnsupportedLanguage


@pytest.mark.parametrize("question", [
    "When was that reported?", "And what price did he think it would sell for?", "When was that company founded?",
    "How many phases will it be built in?", "Which rival model does it resemble?", "And BYD?",
    "What about Lei Jun?", "According to that same outlet, when will the car be officially launched?",
    "What happens if I set it to None?", "Does it return True when the file is missing?",
    "Over what period?", "For how long?", "In which year?",
])
def test_questions_that_lean_on_the_last_one_are_follow_ups(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "How much will Xiaomi invest in the car business?", "Who leads Xiaomi's car business?",
    "Which battery suppliers did Xiaomi pick?", "When was BAIC Group founded?",
    "how much money is xiaomi putting into cars", "What happens to batteries in winter?",
])
def test_questions_that_name_their_subject_stand_alone(question):
    assert not is_follow_up(question)


def test_a_standalone_question_is_not_glued_to_the_last_one():
    history = ["Which battery suppliers did Xiaomi pick?"]
    assert condense("How much will Xiaomi invest in the car business?", history) == (
        "How much will Xiaomi invest in the car business?")
    assert condense("When was that reported?", history) == "Which battery suppliers did Xiaomi pick? When was that reported?"


@pytest.mark.parametrize("question", ["小米的第一辆车什么时候量产？", "Когда начнется производство?", "متى يبدأ الإنتاج؟"])
def test_questions_in_scripts_the_models_cannot_read_say_so(question):
    with pytest.raises(UnsupportedLanguage, match="English only"):
        validate_question(question, 2000)


def test_english_with_a_foreign_name_is_fine():
    assert validate_question("What does 小米 mean in Xiaomi's name?", 2000) == "What does 小米 mean in Xiaomi's name?"
    assert validate_question("Où est la usine de Xiaomi?", 2000)  # Latin script: read, even if not English


def test_unsupported_language_is_an_invalid_question():
    assert issubclass(UnsupportedLanguage, InvalidQuestion)
