"""The index checks of qa/integrity.py and qa/hnsw_files.py on hand-built HNSW and SQLite files, and on real Chroma folders."""

from __future__ import annotations

import os
import pickle
import sqlite3
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import TextNode

from qa import integrity
from qa.config import Settings
from qa.hnsw_files import Damage, VectorSegment, check_hnsw
from qa.integrity import (
    CHECKED_FILE,
    SQLITE_FILE,
    IndexWatch,
    check_index,
    check_written,
    read_segments,
    remember_checked,
    repair,
    set_aside,
)
from qa.schema import IndexCorrupt
from qa.store import ChromaStore

SEGMENT = "0b18c6cc-f6b0-42f0-86fc-323a54780ad8"
DIM, M = 4, 2  # maxM0 = 4 neighbours on level 0, maxM = 2 above


def write_segment(folder: Path, count: int = 8, levels: dict[int, int] | None = None, deleted: tuple[int, ...] = ()) -> VectorSegment:
    """A small, valid graph as chroma's hnswlib saves it: element i has label i + 1 and id f"c{i}"."""
    levels = {3: 2, 5: 1} if levels is None else levels
    folder.mkdir(parents=True, exist_ok=True)
    links0 = 2 * M * 4 + 4
    label_offset = links0 + DIM * 4
    element_size = label_offset + 8
    rng = np.random.default_rng(0)
    level0 = bytearray()
    for element in range(count):
        neighbours = [(element + step) % count for step in range(1, 2 * M + 1)][: count - 1]
        vector = rng.normal(size=DIM).astype("<f4")
        vector /= np.linalg.norm(vector)
        record = struct.pack("<HBB", len(neighbours), 1 if element in deleted else 0, 0)
        record += struct.pack(f"<{2 * M}I", *(neighbours + [0] * (2 * M - len(neighbours))))
        level0 += record + vector.tobytes() + struct.pack("<Q", element + 1)
    assert len(level0) == count * element_size
    top = max(levels.values(), default=0)
    entry = next((element for element, level in levels.items() if level == top), 0)
    link_lists = bytearray()
    for element in range(count):
        level = levels.get(element, 0)
        link_lists += struct.pack("<I", level * (M * 4 + 4))
        for _ in range(level):
            link_lists += struct.pack(f"<HH{M}I", 1, 0, entry if element != entry else (entry + 1) % count, 0)
    header = struct.pack("<i6Q2i3QdQ", 1, 0, 16, count, element_size, label_offset, links0, top, entry,
                         M, 2 * M, M, 1.44, 100)
    (folder / "header.bin").write_bytes(header)
    (folder / "data_level0.bin").write_bytes(bytes(level0))
    (folder / "length.bin").write_bytes(np.ones(count, dtype="<f4").tobytes())
    (folder / "link_lists.bin").write_bytes(bytes(link_lists))
    live = [element for element in range(count) if element not in deleted]
    meta = {"dimensionality": DIM, "total_elements_added": count, "max_seq_id": None, "id_to_seq_id": {},
            "id_to_label": {f"c{e}": e + 1 for e in live}, "label_to_id": {e + 1: f"c{e}" for e in live}}
    (folder / "index_metadata.pickle").write_bytes(pickle.dumps(meta))
    return VectorSegment(folder.name, DIM, count, frozenset(f"c{e}" for e in live), frozenset())


def patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def damage_of(folder: Path, segment: VectorSegment) -> str:
    with pytest.raises(Damage) as caught:
        check_hnsw(folder, segment)
    return str(caught.value)


def test_a_sound_graph_passes(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    check_hnsw(tmp_path / SEGMENT, segment)


def test_deleted_elements_are_not_expected_in_the_id_map(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT, deleted=(2, 6))
    check_hnsw(tmp_path / SEGMENT, segment)


def test_a_level0_link_out_of_range_is_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    patch(tmp_path / SEGMENT / "data_level0.bin", 4, struct.pack("<I", 9999))  # element 0's first neighbour
    assert "links out of range" in damage_of(tmp_path / SEGMENT, segment)


def test_a_neighbour_count_over_the_maximum_is_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    patch(tmp_path / SEGMENT / "data_level0.bin", 0, struct.pack("<H", 2 * M + 1))
    assert "links out of range" in damage_of(tmp_path / SEGMENT, segment)


def test_a_zeroed_level0_file_is_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    path = tmp_path / SEGMENT / "data_level0.bin"
    path.write_bytes(bytes(path.stat().st_size))
    assert "one label" in damage_of(tmp_path / SEGMENT, segment)


def test_a_truncated_level0_file_is_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    os.truncate(tmp_path / SEGMENT / "data_level0.bin", 100)
    assert "too few" in damage_of(tmp_path / SEGMENT, segment)


def test_vectors_that_are_not_numbers_are_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    patch(tmp_path / SEGMENT / "data_level0.bin", 2 * M * 4 + 4, struct.pack("<f", float("nan")))
    assert "not numbers" in damage_of(tmp_path / SEGMENT, segment)


@pytest.mark.parametrize("change", ["truncate", "extra", "bad length", "bad link", "entry level"])
def test_upper_level_links_must_match_the_header(tmp_path: Path, change: str) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    path = tmp_path / SEGMENT / "link_lists.bin"
    block = M * 4 + 4
    offset_of_3 = 3 * 4  # elements 0-2 have no upper levels: a 4-byte zero length each
    if change == "truncate":
        os.truncate(path, path.stat().st_size - 3)
    elif change == "extra":
        path.write_bytes(path.read_bytes() + b"\0" * 4)
    elif change == "bad length":
        patch(path, offset_of_3, struct.pack("<I", block + 1))
    elif change == "bad link":
        patch(path, offset_of_3 + 4 + 4, struct.pack("<I", 500))
    else:
        patch(path, offset_of_3, struct.pack("<I", block))  # the entry point (element 3) loses a level
    damage_of(tmp_path / SEGMENT, segment)


@pytest.mark.parametrize("field,value", [(0, 2), (3, 99), (5, 7), (8, 50), (9, 3)])
def test_an_inconsistent_header_is_damage(tmp_path: Path, field: int, value: int) -> None:
    # version, element count over capacity, label offset, entry point out of range, maxM != M
    segment = write_segment(tmp_path / SEGMENT)
    path = tmp_path / SEGMENT / "header.bin"
    values = list(struct.unpack("<i6Q2i3QdQ", path.read_bytes()))
    values[field] = value
    path.write_bytes(struct.pack("<i6Q2i3QdQ", *values))
    assert "header" in damage_of(tmp_path / SEGMENT, segment) or "bytes" in damage_of(tmp_path / SEGMENT, segment)


def test_a_header_of_another_dimension_is_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    other = VectorSegment(segment.id, DIM + 1, segment.persisted_seq, segment.ids, segment.pending)
    assert "header" in damage_of(tmp_path / SEGMENT, other)


def test_norms_that_are_not_numbers_are_damage(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    patch(tmp_path / SEGMENT / "length.bin", 0, struct.pack("<f", float("inf")))
    assert "length.bin" in damage_of(tmp_path / SEGMENT, segment)


def test_the_norms_of_a_graph_that_does_not_normalise_may_be_anything(tmp_path: Path) -> None:
    """An l2 graph's length.bin holds uninitialised bytes (found on a sound 10k-chunk index)."""
    segment = replace(write_segment(tmp_path / SEGMENT), normalised=False)
    patch(tmp_path / SEGMENT / "length.bin", 0, struct.pack("<2f", float("inf"), float("nan")))
    check_hnsw(tmp_path / SEGMENT, segment)
    (tmp_path / SEGMENT / "length.bin").write_bytes(b"\0" * 4)  # still one norm per element
    assert "length.bin" in damage_of(tmp_path / SEGMENT, segment)


@pytest.mark.parametrize("name", ["header.bin", "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle"])
def test_a_missing_file_of_a_saved_graph_is_damage(tmp_path: Path, name: str) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    (tmp_path / SEGMENT / name).unlink()
    assert name in damage_of(tmp_path / SEGMENT, segment)


def test_a_graph_never_saved_may_be_absent(tmp_path: Path) -> None:
    check_hnsw(tmp_path / SEGMENT, VectorSegment(SEGMENT, DIM, 0, frozenset({"c0"}), frozenset({"c0"})))
    assert "lacks" in damage_of(tmp_path / SEGMENT, VectorSegment(SEGMENT, DIM, 5, frozenset(), frozenset()))


def test_a_garbled_id_map_is_damage_and_never_runs_code(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    path = tmp_path / SEGMENT / "index_metadata.pickle"
    path.write_bytes(pickle.dumps({"id_to_label": os.system, "label_to_id": {}}))  # names a function
    assert "cannot be read" in damage_of(tmp_path / SEGMENT, segment)
    path.write_bytes(b"garbage")
    assert "cannot be read" in damage_of(tmp_path / SEGMENT, segment)


def test_the_graph_must_hold_the_records_the_sqlite_holds(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    fewer = VectorSegment(segment.id, DIM, segment.persisted_seq, segment.ids | {"c99"}, frozenset())
    assert "holds 8 of the 9" in damage_of(tmp_path / SEGMENT, fewer)
    # ...unless that record was written after the graph was saved: chroma replays it from its queue.
    check_hnsw(tmp_path / SEGMENT, VectorSegment(segment.id, DIM, 8, segment.ids | {"c99"}, frozenset({"c99"})))


def write_sqlite(folder: Path, segment: VectorSegment) -> Path:
    """The part of chroma.sqlite3 the check reads, filled for one collection."""
    path = folder / "chroma.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE collections (id TEXT, name TEXT, dimension INTEGER);"
            "CREATE TABLE segments (id TEXT, type TEXT, scope TEXT, collection TEXT);"
            "CREATE TABLE embeddings (id INTEGER PRIMARY KEY, segment_id TEXT, embedding_id TEXT, seq_id BLOB);"
            "CREATE TABLE max_seq_id (segment_id TEXT, seq_id BLOB);"
            "CREATE TABLE embeddings_queue (seq_id INTEGER, topic TEXT, id TEXT);")
        db.execute("INSERT INTO collections VALUES ('col', 'qa-chunks', ?)", (DIM,))
        db.execute("INSERT INTO segments VALUES (?, 'urn:chroma:segment/vector/hnsw-local-persisted', 'VECTOR', 'col')",
                   (segment.id,))
        db.execute("INSERT INTO segments VALUES ('meta', 'urn:chroma:segment/metadata/sqlite', 'METADATA', 'col')")
        db.executemany("INSERT INTO embeddings (segment_id, embedding_id, seq_id) VALUES ('meta', ?, 1)",
                       [(id_,) for id_ in sorted(segment.ids)])
        db.execute("INSERT INTO max_seq_id VALUES (?, ?)", (segment.id, segment.persisted_seq))
        db.execute("INSERT INTO embeddings_queue VALUES (?, 'persistent://default/default/col', 'c0')",
                   (segment.persisted_seq,))
        # Enough rows that damage in the middle of the file hits a table page, not free space.
        db.execute("CREATE TABLE filler (text TEXT)")
        db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    return path


def test_check_index_reads_the_segments_from_the_sqlite(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    write_sqlite(tmp_path, segment)
    check_index(tmp_path, retry_after=0)
    (tmp_path / SEGMENT / "length.bin").unlink()
    with pytest.raises(IndexCorrupt, match=r"length\.bin.*qa ingest --rebuild"):
        check_index(tmp_path, retry_after=0)


def test_a_running_process_rechecks_only_the_sqlite_when_it_changed(tmp_path: Path) -> None:
    """Graphs lag the sqlite between chromadb's saves (found at 10k chunks: a sound index named damaged
    right after this process's own ingest); a garbled sqlite is still named at once."""
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    watch = IndexWatch(tmp_path)
    (tmp_path / SEGMENT / "length.bin").unlink()  # as a graph not yet saved looks from outside
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO filler VALUES ('written by an ingest')")
    assert not watch.needs_reopen()
    size = path.stat().st_size
    patch(path, size // 2, np.random.default_rng(1).integers(0, 256, size // 4, dtype=np.uint8).tobytes())
    with pytest.raises(IndexCorrupt, match="(?s)chroma.sqlite3.*qa ingest --rebuild"):
        watch.needs_reopen()


def test_a_truncated_sqlite_is_damage(tmp_path: Path) -> None:
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(IndexCorrupt, match="truncated.*qa ingest --rebuild"):
        check_index(tmp_path, retry_after=0)


def test_a_sqlite_with_a_garbled_header_is_damage(tmp_path: Path) -> None:
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    patch(path, 0, b"\x17" * 100)
    with pytest.raises(IndexCorrupt, match="not an SQLite database"):
        check_index(tmp_path, retry_after=0)


def test_a_sqlite_with_garbled_pages_is_damage(tmp_path: Path) -> None:
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    size = path.stat().st_size
    patch(path, size // 2, np.random.default_rng(1).integers(0, 256, size // 4, dtype=np.uint8).tobytes())
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3"):
        check_index(tmp_path, retry_after=0)


def test_quick_check_is_skipped_only_while_the_sqlite_is_as_a_passing_check_left_it(tmp_path: Path) -> None:
    """quick_check reads the whole file (3 s of a 12 s cold start at 100k chunks); any write to the
    file since it was remembered brings it back, and the graphs are checked either way."""
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    check_index(tmp_path, retry_after=0, trust_unchanged=True)
    remember_checked(tmp_path)
    size = path.stat().st_size
    patch(path, size // 2, np.random.default_rng(1).integers(0, 256, size // 4, dtype=np.uint8).tobytes())
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3"):
        check_index(tmp_path, retry_after=0, trust_unchanged=True)  # written since: checked again
    # Remembered as it is now (only a passing check does this in qa): now the garbled pages go unread,
    # which is the whole saving, while the cheap checks still run.
    remember_checked(tmp_path)
    check_index(tmp_path, retry_after=0, trust_unchanged=True)
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3"):
        check_index(tmp_path, retry_after=0)
    (tmp_path / SEGMENT / "length.bin").unlink()
    with pytest.raises(IndexCorrupt, match=r"length\.bin"):
        check_index(tmp_path, retry_after=0, trust_unchanged=True)


def test_an_ingest_remembers_the_sqlite_only_when_its_own_check_passed_on_the_file_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    path = write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    check_written(tmp_path)
    assert integrity._unchanged(tmp_path)

    size = path.stat().st_size
    patch(path, size // 2, np.random.default_rng(1).integers(0, 256, size // 4, dtype=np.uint8).tobytes())
    check_written(tmp_path)
    assert not integrity._unchanged(tmp_path) and "after writing" in caplog.text
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3"):
        check_index(tmp_path, retry_after=0, trust_unchanged=True)

    # Another process wrote while the check read (the file's identity moved): what was checked is not what is there.
    path.unlink()
    write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    identities = iter([integrity._identity(tmp_path), [[1, 2, 3, 4, 5], None, None]])
    monkeypatch.setattr(integrity, "_identity", lambda folder: next(identities))
    check_written(tmp_path)
    monkeypatch.undo()
    assert not integrity._unchanged(tmp_path)


def test_a_store_remembers_its_checked_sqlite_so_the_next_start_skips_quick_check(tmp_path: Path) -> None:
    """The saving holds only if chromadb leaves the sqlite alone after the client has opened: pinned on a
    real index, written, closed and opened again, and garbled once more after that."""
    store = _store(tmp_path)
    folder = store.settings.index_dir
    _write(store, [f"a{i:04d}" for i in range(30)], np.random.default_rng(0))
    store.close()
    store = _store(tmp_path)
    assert store.chunk_count() == 30
    store.close()
    assert (folder / CHECKED_FILE).is_file()
    assert integrity._unchanged(folder)
    path = folder / SQLITE_FILE
    patch(path, path.stat().st_size // 2, b"\x17" * 4096)
    assert not integrity._unchanged(folder)
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3"):
        _store(tmp_path)


def test_no_index_yet_is_fine_but_segments_without_their_sqlite_are_not(tmp_path: Path) -> None:
    check_index(tmp_path / "absent", retry_after=0)
    check_index(tmp_path, retry_after=0)
    write_segment(tmp_path / SEGMENT)
    with pytest.raises(IndexCorrupt, match="chroma.sqlite3 is missing"):
        check_index(tmp_path, retry_after=0)


def test_set_aside_moves_the_chroma_files_and_keeps_the_history(tmp_path: Path) -> None:
    segment = write_segment(tmp_path / SEGMENT)
    write_sqlite(tmp_path, segment)
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "history.sqlite3").write_bytes(b"chats")
    moved = set_aside(tmp_path)
    assert moved is not None and moved.parent == tmp_path and moved.name.startswith("broken-")
    assert sorted(path.name for path in moved.iterdir()) == sorted([SEGMENT, "chroma.sqlite3"])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["history", moved.name])
    assert set_aside(tmp_path) is None  # nothing left to move


def test_repair_moves_only_a_damaged_index(tmp_path: Path) -> None:
    write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    assert repair(tmp_path) is None
    assert (tmp_path / "chroma.sqlite3").exists()
    (tmp_path / SEGMENT / "header.bin").write_bytes(b"")
    moved = repair(tmp_path)
    assert moved is not None and (moved / SEGMENT / "header.bin").exists()
    assert not (tmp_path / "chroma.sqlite3").exists()
    check_index(tmp_path, retry_after=0)


def test_the_watch_tells_a_replaced_index_from_a_deleted_one(tmp_path: Path) -> None:
    write_sqlite(tmp_path, write_segment(tmp_path / SEGMENT))
    watch = IndexWatch(tmp_path)
    assert not watch.needs_reopen()
    moved = set_aside(tmp_path)
    with pytest.raises(IndexCorrupt, match="deleted or moved while qa was running.*qa ingest --rebuild"):
        watch.needs_reopen()
    assert watch.needs_reopen(rebuilding=True)  # a rebuild in this process starts afresh
    assert moved is not None
    (moved / "chroma.sqlite3").rename(tmp_path / "chroma.sqlite3")  # the very file it opened: nothing to do
    assert not watch.needs_reopen()
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes((tmp_path / "chroma.sqlite3").read_bytes())
    copy.replace(tmp_path / "chroma.sqlite3")  # what another process's rebuild leaves: a new file
    assert watch.needs_reopen()


def _store(tmp_path: Path) -> ChromaStore:
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")
    return ChromaStore(settings, {"embed_model": "test", "embed_dimension": 8, "chunk_size": 160,
                                  "chunk_overlap": 32, "layout_version": 0})


def _write(store: ChromaStore, names: list[str], rng: np.random.Generator) -> None:
    chunks = [TextNode(id_=name, text=f"chunk {name}.", start_char_idx=0, end_char_idx=len(name) + 7,
                       metadata={"source": f"{name[:3]}.txt", "content_hash": "h"}) for name in names]
    vectors = rng.normal(size=(len(names), 8)).astype(np.float32)
    store.writer().add_chunks(chunks, vectors)


def _delete(store: ChromaStore, source: str) -> None:
    store.writer().remove_file(source)


def test_real_chroma_folders_pass_through_adds_deletes_and_replacements(tmp_path: Path) -> None:
    """No false alarms: a real index, saved and with writes pending, after each kind of change."""
    rng = np.random.default_rng(0)
    store = _store(tmp_path)
    folder = store.settings.index_dir
    check_index(folder, retry_after=0)
    _write(store, [f"a{i:04d}" for i in range(30)], rng)  # below chroma's save threshold: no graph yet
    check_index(folder, retry_after=0)
    _write(store, [f"b{i:04d}" for i in range(1500)], rng)  # saved
    check_index(folder, retry_after=0)
    _delete(store, "b00.txt")  # 100 chunks: pending
    _write(store, [f"b{i:04d}" for i in range(1400, 1450)], rng)  # replaced: pending
    check_index(folder, retry_after=0)
    for prefix in ("b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b09", "b10", "b11", "b12"):
        _delete(store, f"{prefix}.txt")  # enough to save the graph with deleted elements
    _write(store, [f"c{i:04d}" for i in range(20)], rng)
    check_index(folder, retry_after=0)
    assert store.chunk_count() == 30 + 200 + 20
    (graph,) = [path for path in folder.iterdir() if (path / "index_metadata.pickle").exists()]
    saved = struct.unpack_from("<3Q", (graph / "header.bin").read_bytes(), 4)[2]
    assert saved > 250  # the saved graph keeps the deleted elements, marked
    spaces = {segment.normalised for segment in read_segments(folder / SQLITE_FILE)}
    assert spaces == {True, False}  # the chunks' cosine graph; the file list's and state's l2 ones
