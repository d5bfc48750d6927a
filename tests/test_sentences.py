"""The abbreviation rule of sentence splitting, after it became a bounded look-back (issue 11, item 4)."""

from qa.sentences import _ends_with_abbreviation, sentence_spans


def sentences(text):
    return [text[s.start:s.end] for s in sentence_spans(text)]


def test_abbreviations_and_initials_do_not_end_a_sentence():
    text = ("Co. Ltd. is first. Dr. Smith met J. K. Rowling in the U.S. Army base on Jan. 5 at St. Mary hall. "
            "Prices rose e.g. 5% at the No. 2 plant. Then it ended.")
    assert sentences(text) == [
        "Co. Ltd. is first.",
        "Dr. Smith met J. K. Rowling in the U.S. Army base on Jan. 5 at St. Mary hall.",
        "Prices rose e.g. 5% at the No. 2 plant.",
        "Then it ended.",
    ]


def test_ordinary_words_and_long_runs_end_a_sentence():
    text = "It was a decommissioning. Then a supercalifragilisticexpialidocious. And " + "x" * 5000 + ". End."
    assert sentences(text)[:3] == ["It was a decommissioning.", "Then a supercalifragilisticexpialidocious.",
                                   "And " + "x" * 5000 + "."]
    # The look-back stops at the word: what lies before it (however much) does not matter.
    padded = "a" * 100_000 + " Mr. Li"
    assert _ends_with_abbreviation(padded, padded.index(". Li"))
    assert not _ends_with_abbreviation("a" * 100_000 + "Mr. Li", 100_002)
    assert _ends_with_abbreviation("Mr. Li", 2) and not _ends_with_abbreviation(". Li", 0)
