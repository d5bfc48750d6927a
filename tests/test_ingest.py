"""Ingestion against a real persistent Chroma in a tmp dir: incremental, safe on bad input."""

from pathlib import Path

import pytest

from qa import integrity
from qa.embedding import MODEL_ID
from qa.schema import EmptyIndex, IndexMismatch, QAError
from qa.store import ChromaStore, index_signature
from qa.store_writer import StoreWriter

SEEDS_FILES = sorted((Path(__file__).resolve().parents[1] / "seeds").iterdir())


def chunk_texts(engine) -> list[str]:
    return [node.text for node in engine.store.all_chunks()]


def test_first_ingest_indexes_every_file_and_a_second_embeds_nothing(corpus: Path, make_engine):
    engine = make_engine()
    first = engine.ingest()
    assert len(first.added) == 5 and first.chunks_embedded == engine.store.chunk_count() > 0
    again = engine.ingest()
    assert again.chunks_embedded == 0 and len(again.unchanged) == 5 and not again.added
    assert set(engine.indexed_files()) == {f"seeds/{p.name}" for p in corpus.iterdir()}


def test_an_ingest_that_wrote_checks_the_sqlite_so_the_next_start_need_not(corpus: Path, make_engine):
    """quick_check reads the whole sqlite (3 s at 100k chunks): the ingest that changed it pays, not the
    start after it. An ingest that changed nothing publishes nothing: no other process reloads for it, and
    the sqlite stays as it was checked."""
    engine = make_engine()
    engine.ingest()
    folder = engine.settings.index_dir
    assert integrity._unchanged(folder)
    generation = engine.store.generation
    engine.store.close()  # chromadb saves its graphs on letting go, and leaves the sqlite alone
    assert integrity._unchanged(folder)

    engine = make_engine()
    assert not engine.ingest().changed
    engine.store.close()
    assert integrity._unchanged(folder)
    assert make_engine().store.generation == generation

    (corpus / "new.md").write_text("# Tesla\n\nTesla opened a gigafactory in Shanghai in 2019.\n")
    engine = make_engine()
    assert engine.ingest().added == ["seeds/new.md"]
    assert integrity._unchanged(folder) and engine.store.generation == generation + 1


def test_added_changed_and_deleted_files(corpus: Path, make_engine):
    engine = make_engine()
    engine.ingest()
    (corpus / "new.md").write_text("# Tesla\n\nTesla opened a gigafactory in Shanghai in 2019.\n")
    changed = corpus / "001_52ba53fcb0081ea9.txt"
    changed.write_text(changed.read_text().replace("CATL and BYD’s FinDreams Battery", "Panasonic and LG"))
    (corpus / "004_ae9ab8651fee1745.txt").unlink()

    report = engine.ingest()
    assert report.added == ["seeds/new.md"]
    assert report.updated == ["seeds/001_52ba53fcb0081ea9.txt"]
    assert report.removed == ["seeds/004_ae9ab8651fee1745.txt"]
    assert len(report.unchanged) == 3
    assert report.chunks_embedded == sum(1 for n in engine.store.all_chunks()
                                         if n.metadata["source"] in ("seeds/new.md", "seeds/001_52ba53fcb0081ea9.txt"))
    texts = "\n".join(chunk_texts(engine))
    assert "Panasonic and LG" in texts and "FinDreams" not in texts  # old chunks of the changed file are gone
    assert "3 lakh" in texts  # 002 still says it
    assert not any(n.metadata["source"].endswith("004_ae9ab8651fee1745.txt") for n in engine.store.all_chunks())
    answer = engine.ask("Where did Tesla open a gigafactory?")
    assert not answer.refused and answer.citations[0].source == "seeds/new.md"
    keyword_ids = {row[0] for row in engine.retriever.keyword_index._connection().execute("SELECT chunk_id FROM chunks")}
    assert keyword_ids == {n.id_ for n in engine.store.all_chunks()}  # the keyword index has no orphans


def test_a_half_finished_update_is_resumed_by_the_next_ingest_without_embedding_again(
        corpus: Path, make_engine, monkeypatch):
    engine = make_engine()
    engine.ingest()
    target = corpus / "000_6b80f3ed1ad5cbb5.txt"
    old_hash = engine.indexed_files()["seeds/000_6b80f3ed1ad5cbb5.txt"].content_hash
    target.write_text(target.read_text() + "\nXiaomi hired 500 engineers.\n")

    def crash(*args, **kwargs):
        raise RuntimeError("killed after writing the chunks, before recording the file")

    # A crash after the new version's chunks are written, before the file is recorded as that version.
    monkeypatch.setattr(StoreWriter, "finish_files", crash)
    with pytest.raises(RuntimeError):
        engine.ingest()
    monkeypatch.undo()
    record = engine.store.file_records()["seeds/000_6b80f3ed1ad5cbb5.txt"]
    assert record.content_hash == old_hash and record.pending and record.pending != old_hash
    assert engine.indexed_files()["seeds/000_6b80f3ed1ad5cbb5.txt"].content_hash == old_hash  # still the old one
    report = engine.ingest()
    assert report.updated == ["seeds/000_6b80f3ed1ad5cbb5.txt"] and report.chunks_embedded == 0  # resumed
    chunks = engine.store.chunks_of("seeds/000_6b80f3ed1ad5cbb5.txt")
    assert {n.metadata["content_hash"] for n in chunks} == {record.pending}
    assert engine.indexed_files()["seeds/000_6b80f3ed1ad5cbb5.txt"].chunks == len(chunks)


def test_empty_corpus_missing_folder_and_all_binary_leave_the_index_alone(tmp_path: Path, corpus: Path, make_engine):
    engine = make_engine()
    engine.ingest()
    before = sorted(chunk_texts(engine))
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "blob.txt").write_bytes(bytes(range(256)) * 10)
    for folder in (tmp_path / "empty", tmp_path / "missing", junk, corpus / "000_6b80f3ed1ad5cbb5.txt"):
        with pytest.raises(QAError) as error:
            engine.ingest(folder)
        assert str(folder.name) in str(error.value)
    assert sorted(chunk_texts(engine)) == before


def test_bad_files_in_a_corpus_are_skipped_and_reported(corpus: Path, make_engine):
    (corpus / "photo.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    (corpus / "slides.pptx").write_bytes(b"PK\x03\x04")
    report = make_engine().ingest()
    assert {s.source for s in report.skipped} == {"seeds/photo.txt", "seeds/slides.pptx"}
    assert len(report.added) == 5
    assert "skipped seeds/photo.txt: binary or not decodable as text" in report.summary()


def test_asking_an_empty_index_says_so(corpus, make_engine):
    with pytest.raises(EmptyIndex, match="qa ingest"):
        make_engine().ask("Anything?")


def test_store_built_with_other_settings_is_refused_until_rebuilt(corpus: Path, make_engine):
    make_engine().ingest()
    with pytest.raises(IndexMismatch) as error:
        make_engine(chunk_size=100)
    assert "chunk_size: index has 160, settings say 100" in str(error.value)
    assert "qa ingest --rebuild" in str(error.value)


def test_store_built_with_another_model_is_refused(corpus: Path, make_engine):
    engine = make_engine()
    engine.ingest()
    other = index_signature(engine.settings, "BAAI/bge-small-en-v1.5", 384)
    with pytest.raises(IndexMismatch, match="embed_model: index has 'sentence-transformers/all-MiniLM-L6-v2'"):
        ChromaStore(engine.settings, other)
    assert index_signature(engine.settings, MODEL_ID, 384) == engine.store.signature


def test_rebuild_replaces_a_mismatched_store_only_once_the_new_one_is_ready(tmp_path: Path, corpus: Path, make_engine):
    make_engine().ingest()
    rebuilding = make_engine(chunk_size=100, chunk_overlap=20, rebuilding=True)
    with pytest.raises(QAError):
        rebuilding.ingest(tmp_path / "missing", rebuild=True)
    with pytest.raises(IndexMismatch):  # the failed rebuild left the old index as it was
        make_engine(chunk_size=100, chunk_overlap=20)
    report = rebuilding.ingest(rebuild=True)
    assert len(report.added) == 5
    engine = make_engine(chunk_size=100, chunk_overlap=20)
    assert engine.store.chunk_count() == report.chunks_embedded
    assert not engine.ask("Which battery suppliers did Xiaomi pick?").refused


def test_uploads_are_checked_then_saved_inside_the_corpus_and_indexed(tmp_path: Path, corpus: Path, make_engine):
    engine = make_engine()
    engine.ingest()
    report = engine.add_document("../../notes.md", b"# Lighthouse\n\nThe lighthouse was built in 1844.\n")
    assert report.added == ["seeds/notes.md"] and (corpus / "notes.md").exists()
    assert not (tmp_path.parent / "notes.md").exists()
    assert "1844" in engine.ask("When was the lighthouse built?").text
    for name, data, reason in (("scan.txt", bytes(range(256)) * 4, "binary or not decodable as text"),
                               ("slides.pptx", b"PK\x03\x04", "qa reads"),
                               ("..", b"text", "not a usable file name")):
        with pytest.raises(QAError, match=reason):
            engine.add_document(name, data)
    assert sorted(p.name for p in corpus.iterdir()) == sorted([*(p.name for p in SEEDS_FILES), "notes.md"])


def test_the_embedder_is_handed_32_model_batches_at_a_time(tmp_path: Path):
    """It sorts what it is handed by length so each model batch pads little: a window of 8 batches
    padded 3% more tokens than the bare model and made ingestion 5% slower (README, make bench)."""
    from cheap_embedding import HashEmbedding

    from qa.config import Settings
    from qa.engine import Engine

    class Recording(HashEmbedding):
        embed_batch_size = 4
        handed: list[int] = []

        def embed_chunks(self, texts, sentences, on_batch=None):
            self.handed.append(len(texts))
            return super().embed_chunks(texts, sentences, on_batch)

    corpus = tmp_path / "ledgers"
    corpus.mkdir()
    for file in range(8):
        (corpus / f"ledger_{file}.txt").write_text(
            "\n".join(f"Ledger {file} line {line} lists {line + 3} crates of tools." for line in range(100)))
    embedder = Recording()
    report = Engine(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_size=32, chunk_overlap=0),
                    embedder=embedder).ingest()
    assert report.chunks_embedded == sum(embedder.handed) > 2 * 128
    assert embedder.handed[:-1] == [128] * (len(embedder.handed) - 1) and 0 < embedder.handed[-1] <= 128
