"""The model run by hand must give what sentence-transformers gives, and sentence vectors for every span."""

import numpy as np
import pytest

from qa.sentences import sentence_spans

TEXTS = [
    "Xiaomi will build a factory with an annual capacity of 300,000 EVs.",
    "On August 17, Xiaomi Auto finalized two battery suppliers, CATL and BYD. They lead the field.",
    "short",
]


@pytest.mark.slow
def test_vectors_equal_sentence_transformers(embedder):
    from sentence_transformers import SentenceTransformer

    from qa.embedding import model_folder

    reference = SentenceTransformer(model_folder(), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert np.abs(embedder.encode(TEXTS) - reference).max() < 1e-5


def test_chunk_and_sentence_vectors_from_one_pass(embedder):
    spans = [sentence_spans(text) for text in TEXTS]
    chunks, sentences = embedder.embed_chunks(TEXTS, spans)
    assert np.abs(chunks - embedder.encode(TEXTS)).max() < 1e-5
    assert [len(v) for v in sentences] == [1, 2, 1]
    for vectors in sentences:
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a sentence is closer to itself in context than to an unrelated one
    catl = embedder.encode(["Which battery suppliers did Xiaomi pick?"])[0]
    assert sentences[1][0] @ catl > sentences[0][0] @ catl


def test_sentences_past_the_model_limit_are_embedded_on_their_own(embedder):
    filler = " ".join(["The plant is large."] * 120)  # far beyond 256 word pieces
    tail = "Xiaomi picked CATL as its battery supplier."
    text = f"{filler} {tail}"
    spans = sentence_spans(text)
    _, sentences = embedder.embed_chunks([text], [spans])
    assert np.abs(sentences[0][-1] - embedder.encode([tail])[0]).max() < 1e-5


def test_a_span_vector_is_the_mean_of_the_tokens_inside_it():
    from qa.embedding import _span_means
    from qa.sentences import Span

    tokens = np.array([[9.0, 9.0], [1.0, 3.0], [3.0, 5.0], [5.0, 1.0], [9.0, 9.0], [7.0, 7.0]], dtype=np.float32)
    # [CLS], "ab", "cd" | "ef", [SEP], padding: special tokens and padding have empty offsets
    offsets = np.array([[0, 0], [0, 2], [3, 5], [6, 8], [0, 0], [0, 0]])
    spans = [Span(0, 5), Span(6, 8), Span(9, 12)]  # "ab cd", "ef", "ghi"
    vectors, cut_off = _span_means(tokens, offsets, spans)
    assert vectors[:2].tolist() == [[2.0, 4.0], [5.0, 1.0]]
    assert cut_off == [2]  # no token of "ghi" reached the model
    assert _span_means(tokens, offsets, [])[0].shape == (0, 2)
