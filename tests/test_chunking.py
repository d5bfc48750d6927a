import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.chunking import SentenceChunker, count_tokens_function, to_llama_documents
from qa.documents import load_corpus
from qa.sentences import is_boilerplate, sentence_spans

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def sentences(text):
    return [text[s.start:s.end] for s in sentence_spans(text)]


def test_sentences_survive_abbreviations_and_numbers():
    text = ("Xiaomi plans to partner with Beijing Automotive Group Co. in order to build cars. "
            "It may buy the No. 2 plant from Mr. Li for $1.5 billion. Kuo said so.")
    assert sentences(text) == [
        "Xiaomi plans to partner with Beijing Automotive Group Co. in order to build cars.",
        "It may buy the No. 2 plant from Mr. Li for $1.5 billion.",
        "Kuo said so.",
    ]


def test_line_breaks_end_headlines_and_inline_cross_links_are_cut_off():
    text = "Xiaomi to Work with BAIC\n\nIt plans cars by 2024. Also Read - iPhone 14 to launch soon\nNext line."
    assert sentences(text) == ["Xiaomi to Work with BAIC", "It plans cars by 2024.", "Also Read - iPhone 14 to launch soon",
                               "Next line."]
    assert is_boilerplate("Also Read - iPhone 14 to launch soon")
    assert is_boilerplate("(Image credit: Xiaomi)") and is_boilerplate("Image credits- First Post")
    assert not is_boilerplate("($1 = RMB 7.2382)")


@pytest.mark.parametrize("size,overlap", [(160, 32), (64, 16), (40, 0)])
def test_chunks_are_whole_sentences_within_budget_with_exact_spans(size, overlap):
    documents, _ = load_corpus(SEEDS)
    chunker = SentenceChunker(chunk_size=size, chunk_overlap=overlap)
    count = count_tokens_function()
    nodes = chunker.get_nodes_from_documents(to_llama_documents(documents))
    texts = {d.source: d.text for d in documents}
    for node in nodes:
        text = texts[node.metadata["source"]]
        assert text[node.start_char_idx:node.end_char_idx] == node.text
        starts = {s.start for s, _ in chunker.units(text)}
        ends = {s.end for s, _ in chunker.units(text)}
        assert node.start_char_idx in starts and node.end_char_idx in ends, "a chunk cut a sentence"
        assert count(node.text) <= size + 2  # units are counted one by one; joining them can add a token
    for document in documents:
        mine = [n for n in nodes if n.metadata["source"] == document.source]
        assert mine[0].start_char_idx == sentence_spans(document.text)[0].start
        assert mine[-1].end_char_idx == sentence_spans(document.text)[-1].end
        units = [span for span, _ in chunker.units(document.text)]
        for before, after in zip(mine, mine[1:]):
            between = document.text[before.end_char_idx:after.start_char_idx]
            assert after.start_char_idx < before.end_char_idx or not between.strip(), "a gap between chunks"
            if after.start_char_idx < before.end_char_idx:
                assert count(document.text[after.start_char_idx:before.end_char_idx]) <= overlap + 2
            elif overlap:
                last = [u for u in units if u.end == before.end_char_idx][0]
                assert count(document.text[last.start:last.end]) > overlap, "a short last sentence should repeat"


def test_sentence_longer_than_a_chunk_is_cut_at_words():
    text = " ".join(f"word{i}" for i in range(400)) + "."
    chunker = SentenceChunker(chunk_size=50, chunk_overlap=0)
    spans = chunker.chunk_spans(text)
    assert len(spans) > 3
    assert all(count_tokens_function()(text[s.start:s.end]) <= 50 for s in spans)
    assert "".join(text[s.start:s.end] + " " for s in spans).strip() == text


def test_overlap_must_be_smaller_than_chunk():
    with pytest.raises(ValueError):
        SentenceChunker(chunk_size=32, chunk_overlap=32)


def test_token_counting_works_with_the_network_off(tmp_path):
    """A fresh interpreter with sockets disabled and an empty tiktoken cache still counts tokens."""
    script = (
        "import socket\n"
        "def off(*a, **k): raise OSError('network is off in this test')\n"
        "socket.socket.connect = off\nsocket.create_connection = off\n"
        "from qa.chunking import count_tokens_function\n"
        "print(count_tokens_function()('Xiaomi will build 300,000 cars a year.'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)  # no cache left over from earlier runs
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "13"


def test_a_dateline_is_cut_from_the_first_sentence_and_kept_as_the_documents_date():
    from qa.sentences import published_date

    text = " date 2022-08-26 Xiaomi is reportedly in talks. It plans cars."
    assert sentences(text) == ["date 2022-08-26", "Xiaomi is reportedly in talks.", "It plans cars."]
    assert published_date(text) == "2022-08-26"
    assert published_date("Xiaomi said on 2022-08-26 that") == ""
