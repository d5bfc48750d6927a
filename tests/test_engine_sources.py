"""Answers restricted to chosen files, and removing a file from the corpus and the index."""

from __future__ import annotations

import pytest

from qa.schema import QAError, UnknownDocument

QUESTION = "Which battery suppliers did Xiaomi pick?"
BATTERY_FILE = "seeds/001_52ba53fcb0081ea9.txt"


def test_answers_cite_only_the_chosen_files(seeds_engine):
    everything = seeds_engine.ask(QUESTION)
    assert BATTERY_FILE in {citation.source for citation in everything.citations}
    others = sorted(set(seeds_engine.indexed_files()) - {BATTERY_FILE})

    restricted = seeds_engine.ask(QUESTION, sources=others[:2])
    assert {passage.source for passage in restricted.passages} <= set(others[:2])
    assert {citation.source for citation in restricted.citations} <= set(others[:2])

    only = seeds_engine.ask(QUESTION, sources=[BATTERY_FILE])
    assert {passage.source for passage in only.passages} == {BATTERY_FILE}
    assert "CATL" in only.text


def test_no_matching_file_means_no_evidence(seeds_engine):
    answer = seeds_engine.ask(QUESTION, sources=["seeds/nothing.txt"])
    assert answer.refused and answer.passages == []
    assert seeds_engine.ask(QUESTION, sources=[]).passages == []


def test_the_keyword_index_is_shared_not_changed_by_a_filter(seeds_engine):
    seeds_engine.ask(QUESTION, sources=[BATTERY_FILE])
    index = seeds_engine.retriever.keyword_index
    filtered = index.search(QUESTION, 8, sources=[BATTERY_FILE])
    assert filtered and all(chunk_id.startswith(filtered[0][0].split("-")[0]) for chunk_id, _ in filtered)
    assert len({chunk_id.split("-")[0] for chunk_id, _ in index.search(QUESTION, 8)}) > 1
    assert len({passage.source for passage in seeds_engine.ask("Xiaomi").passages}) > 1


def test_remove_document_deletes_file_and_chunks(corpus, make_engine):
    engine = make_engine()
    engine.ingest()
    report = engine.remove_document(BATTERY_FILE)
    assert report.removed == [BATTERY_FILE]
    assert BATTERY_FILE not in engine.indexed_files()
    assert not (corpus / BATTERY_FILE.split("/", 1)[1]).exists()
    assert all(passage.source != BATTERY_FILE for passage in engine.ask(QUESTION).passages)


@pytest.mark.parametrize("name", ["seeds/none.txt", "seeds/../seeds/003_f0269a577e7ba432.txt", "other/003_f0269a577e7ba432.txt"])
def test_remove_document_refuses_names_it_did_not_index(corpus, make_engine, name):
    engine = make_engine()
    engine.ingest()
    with pytest.raises(QAError):
        engine.remove_document(name)
    assert len(engine.indexed_files()) == 5 and (corpus / "003_f0269a577e7ba432.txt").exists()


def test_the_last_file_stays_when_the_index_cannot_be_emptied(tmp_path, make_engine):
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "only.txt").write_text("The only document says the meeting is on May 3.", encoding="utf-8")
    engine = make_engine()
    engine.ingest()
    with pytest.raises(QAError, match="No readable documents"):
        engine.remove_document("seeds/only.txt")
    assert (folder / "only.txt").exists() and "seeds/only.txt" in engine.indexed_files()
    with pytest.raises(UnknownDocument):
        engine.remove_document("seeds/gone.txt")
