"""Is a local Chroma index folder sound? Checked before chromadb opens it, since some damage crashes it.

Chroma keeps a local index as `chroma.sqlite3` (records, settings, a queue of recent writes) and
one folder per vector segment holding an hnswlib graph (header.bin, data_level0.bin, length.bin,
link_lists.bin, index_metadata.pickle). chromadb's Rust core trusts those files: a garbled graph
makes it read out of bounds and the process dies (SIGSEGV), which no `except` can catch; a
zeroed or missing one loads, and dense search quietly returns wrong or no chunks. So the files
are checked here against each other and against what the sqlite records, in one pass of numpy
over each file (no subprocess), and damage is an `IndexCorrupt` naming `qa ingest --rebuild`,
which moves the broken files aside and builds afresh.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.schema import IndexCorrupt

log = logging.getLogger(__name__)

SQLITE_FILE = "chroma.sqlite3"
HNSW_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
_HNSW_TYPE = "urn:chroma:segment/vector/hnsw-local-persisted"
# hnswlib's header as chroma's fork persists it: version, offsetLevel0, max_elements,
# cur_element_count, size_data_per_element, label_offset, offsetData, maxlevel, enterpoint_node,
# maxM, maxM0, M, mult, ef_construction.
_HEADER = struct.Struct("<i6Q2i3QdQ")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"collections", "segments", "embeddings", "max_seq_id", "embeddings_queue"}


def rebuild_hint(folder: Path) -> str:
    return (f"The index in {folder} is damaged ({{}}). Run `qa ingest --rebuild`: it moves the damaged "
            "files aside and builds a fresh index from the corpus folder.")


class Damage(Exception):
    """What is wrong, in a few words; `check_index` turns it into an IndexCorrupt."""


@dataclass(frozen=True)
class VectorSegment:
    id: str
    dimension: int | None
    persisted_seq: int  # the last write the graph on disk includes; 0: never written to disk
    ids: frozenset[str]  # the record ids the graph must hold, as far as the sqlite can tell
    pending: frozenset[str]  # ids written after the graph was saved (chroma replays them on open)


def check_index(folder: Path, retry_after: float = 1.0) -> None:
    """Raise IndexCorrupt when the index in `folder` is damaged; a folder without an index is fine.

    A failed check is repeated once after `retry_after` seconds: another process may have been
    half-way through saving the graph."""
    for attempt in range(2):
        try:
            return _check(Path(folder))
        except Exception as error:  # Damage, or files so odd that reading them failed some other way
            if attempt or retry_after <= 0:
                damage = error if isinstance(error, Damage) else f"{type(error).__name__}: {error}"
                raise IndexCorrupt(rebuild_hint(folder).format(damage)) from None
            time.sleep(retry_after)


def _check(folder: Path) -> None:
    database = folder / SQLITE_FILE
    if not database.exists():
        orphans = [path.name for path in _segment_folders(folder)]
        if orphans:
            raise Damage(f"{SQLITE_FILE} is missing but vector segments {', '.join(orphans)} are there")
        return
    for segment in read_segments(database):
        check_hnsw(folder / segment.id, segment)


def _segment_folders(folder: Path) -> list[Path]:
    # Chroma names each segment's folder by its UUID.
    return [path for path in folder.glob("*-*-*-*-*") if path.is_dir() and len(path.name) == 36] if folder.is_dir() else []


def read_segments(database: Path) -> list[VectorSegment]:
    """The local HNSW segments the sqlite file knows, after checking the file itself."""
    _check_sqlite_header(database)
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as error:
        raise Damage(f"{SQLITE_FILE} cannot be opened: {error}") from None
    connection.text_factory = lambda raw: raw.decode("utf-8", "replace")  # damage reports quote garbled bytes
    try:
        return _read_segments(connection)
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) and _transient(error):
            log.warning("index check skipped: %s", error)  # busy or locked: chromadb will wait or say so
            return []
        raise Damage(f"{SQLITE_FILE}: {error}") from None
    except UnicodeDecodeError:  # SQLite's own error message quoted garbled bytes
        raise Damage(f"{SQLITE_FILE} fails SQLite's check") from None
    finally:
        connection.close()


def _transient(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text or "readonly" in text or "read-only" in text


def _check_sqlite_header(database: Path) -> None:
    size = database.stat().st_size
    with database.open("rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise Damage(f"{SQLITE_FILE} is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid when its change counters agree (SQLite file format 1.3.8).
    if header[24:28] == header[92:96] and pages and size < pages * page_size:
        raise Damage(f"{SQLITE_FILE} is truncated ({size} of {pages * page_size} bytes)")


def _read_segments(connection: sqlite3.Connection) -> list[VectorSegment]:
    (verdict,), *more = connection.execute("PRAGMA quick_check").fetchall()
    if verdict != "ok":
        raise Damage(f"{SQLITE_FILE} fails SQLite's check: {verdict[:200]}{' ...' if more else ''}")
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return []  # created, never written: chromadb sets it up
    if missing := _TABLES - tables:
        raise Damage(f"{SQLITE_FILE} lacks the tables {', '.join(sorted(missing))}")
    persisted = dict(connection.execute("SELECT segment_id, seq_id FROM max_seq_id").fetchall())
    segments = []
    rows = connection.execute(
        "SELECT s.id, s.collection, c.dimension FROM segments s JOIN collections c ON c.id = s.collection "
        "WHERE s.type = ?", (_HNSW_TYPE,)).fetchall()
    for segment_id, collection, dimension in rows:
        metadata_segments = [row[0] for row in connection.execute(
            "SELECT id FROM segments WHERE collection = ? AND scope = 'METADATA'", (collection,))]
        stored = {row[0] for row in connection.execute(
            f"SELECT embedding_id FROM embeddings WHERE segment_id IN ({','.join('?' * len(metadata_segments))})",
            metadata_segments)}
        seq = _seq(persisted.get(segment_id))
        pending = {row[0] for row in connection.execute(
            "SELECT id FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ?", (f"%/{collection}", seq))}
        segments.append(VectorSegment(segment_id, dimension, seq, frozenset(stored), frozenset(pending)))
    return segments


def _seq(value: object) -> int:
    if value is None:
        return 0
    return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)  # older chroma: 8-byte blobs


def check_hnsw(folder: Path, segment: VectorSegment) -> None:
    """The graph in `folder` is whole, consistent, and holds the records the sqlite says it should."""
    if segment.persisted_seq == 0 and not folder.exists():
        return  # never saved: chroma builds it from the queue
    missing = [name for name in (*HNSW_FILES, "index_metadata.pickle") if not (folder / name).is_file()]
    if segment.persisted_seq == 0 and missing:
        return
    if missing:
        raise Damage(f"vector segment {segment.id} lacks {', '.join(missing)}")
    header = _read_header(folder / "header.bin", segment)
    labels = _check_level0(folder / "data_level0.bin", header, segment)
    _check_norms(folder / "length.bin", header)
    _check_upper_levels(folder / "link_lists.bin", header)
    _check_ids(folder / "index_metadata.pickle", labels, segment)


@dataclass(frozen=True)
class _Header:
    count: int
    capacity: int
    element_size: int
    label_offset: int
    data_offset: int
    max_level: int
    entry_point: int
    max_m: int
    max_m0: int


def _read_header(path: Path, segment: VectorSegment) -> _Header:
    raw = path.read_bytes()
    if len(raw) != _HEADER.size:
        raise Damage(f"{path.parent.name}/header.bin has {len(raw)} bytes, not {_HEADER.size}")
    (version, offset0, capacity, count, element_size, label_offset, data_offset, max_level, entry_point,
     max_m, max_m0, m, mult, _ef) = _HEADER.unpack(raw)
    dimension = (label_offset - data_offset) // 4
    sound = (
        version == 1 and offset0 == 0 and 2 <= m <= 4096 and max_m == m and max_m0 == 2 * m
        and data_offset == max_m0 * 4 + 4 and element_size == label_offset + 8 and label_offset > data_offset
        and (segment.dimension is None or dimension == segment.dimension)
        and count <= capacity and 0 <= max_level < 64 and (count == 0 or 0 <= entry_point < count)
        and np.isfinite(mult)
    )
    if not sound:
        raise Damage(f"{path.parent.name}/header.bin is not a valid HNSW header")
    return _Header(count, capacity, element_size, label_offset, data_offset, max_level, entry_point, max_m, max_m0)


def _check_level0(path: Path, header: _Header, segment: VectorSegment) -> np.ndarray:
    """Neighbour counts and ids in range, vectors finite: the labels of the live elements."""
    name = f"{path.parent.name}/{path.name}"
    size = path.stat().st_size
    if size % header.element_size or size < header.count * header.element_size:
        raise Damage(f"{name} has {size} bytes, too few or not whole elements for {header.count}")
    rows = np.fromfile(path, dtype=np.uint8, count=header.count * header.element_size)
    rows = rows.reshape(header.count, header.element_size)
    counts = rows[:, :2].copy().view("<u2").ravel()
    flags = rows[:, 2]
    neighbours = rows[:, 4:header.data_offset].copy().view("<u4")
    used = np.arange(header.max_m0) < counts[:, None]
    vectors = rows[:, header.data_offset:header.label_offset].copy().view("<f4")
    labels = rows[:, header.label_offset:].copy().view("<u8").ravel()
    if (counts > header.max_m0).any() or (flags > 1).any() or (neighbours[used] >= header.count).any():
        raise Damage(f"{name} has links out of range")
    if not np.isfinite(vectors).all():
        raise Damage(f"{name} holds vectors that are not numbers")
    live = labels[flags == 0]
    if len(np.unique(live)) != len(live):
        raise Damage(f"{name} gives several vectors one label")
    return live


def _check_norms(path: Path, header: _Header) -> None:
    norms = np.fromfile(path, dtype="<f4")  # the length of each vector before it was normalised
    if path.stat().st_size % 4 or len(norms) < header.count or not np.isfinite(norms[:header.count]).all():
        raise Damage(f"{path.parent.name}/{path.name} does not match the graph")


def _check_upper_levels(path: Path, header: _Header) -> None:
    """link_lists.bin: per element, a byte count then that many bytes of upper-level links."""
    name = f"{path.parent.name}/{path.name}"
    raw = path.read_bytes()
    block = header.max_m * 4 + 4
    position = 0
    lists = []
    for element in range(header.count):
        if position + 4 > len(raw):
            raise Damage(f"{name} ends early")
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        if length % block or length // block > header.max_level or position + length > len(raw):
            raise Damage(f"{name} has a bad entry for element {element}")
        if length:
            lists.append(raw[position:position + length])
        if element == header.entry_point and length // block != header.max_level:
            raise Damage(f"{name} does not match the entry point")
        position += length
    if position != len(raw):
        raise Damage(f"{name} has {len(raw) - position} bytes too many")
    if lists:
        blocks = np.frombuffer(b"".join(lists), dtype=np.uint8).reshape(-1, block)
        counts = blocks[:, :2].copy().view("<u2").ravel()
        ids = blocks[:, 4:].copy().view("<u4")
        used = np.arange(header.max_m) < counts[:, None]
        if (counts > header.max_m).any() or (ids[used] >= header.count).any():
            raise Damage(f"{name} has links out of range")


class _PlainUnpickler(pickle.Unpickler):
    """index_metadata.pickle holds dicts, ints and strings; nothing in it may name a class."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"unexpected {module}.{name}")


def _check_ids(path: Path, live_labels: np.ndarray, segment: VectorSegment) -> None:
    name = f"{path.parent.name}/{path.name}"
    try:
        with path.open("rb") as file:
            meta = _PlainUnpickler(file).load()
        id_to_label = dict(meta["id_to_label"])
        label_to_id = dict(meta["label_to_id"])
    except Exception:  # any damage shows up as some exception of the unpickler
        raise Damage(f"{name} cannot be read") from None
    if set(label_to_id) != {int(label) for label in live_labels} or len(id_to_label) != len(label_to_id):
        raise Damage(f"{name} does not match the graph's {len(live_labels)} vectors")
    # Writes after the graph was saved are replayed from the queue; all other ids must agree.
    held = set(id_to_label) - segment.pending
    expected = segment.ids - segment.pending
    if held != expected:
        raise Damage(f"the vector segment {segment.id} holds {len(held)} of the {len(expected)} records it should")


def set_aside(folder: Path) -> Path | None:
    """Move the index's Chroma files (not the chat history beside them) into `folder`/broken-<time>/."""
    folder = Path(folder)
    parts = [folder / f"{SQLITE_FILE}{suffix}" for suffix in ("", "-journal", "-wal", "-shm")]
    parts = [path for path in parts if path.exists()] + _segment_folders(folder)
    if not parts:
        return None
    target = folder / time.strftime("broken-%Y%m%d-%H%M%S")
    while target.exists():
        target = target.with_name(target.name + "x")
    target.mkdir()
    for path in parts:
        shutil.move(str(path), str(target / path.name))
    return target


def repair(folder: Path) -> Path | None:
    """For `qa ingest --rebuild`: a damaged index is moved aside (and said so) so a fresh one can be built."""
    try:
        check_index(folder, retry_after=0)
    except IndexCorrupt as error:
        moved = set_aside(folder)
        log.warning("%s Moved the damaged index to %s; building a fresh one.", str(error).split(" Run ")[0], moved)
        return moved
    return None


class IndexWatch:
    """Notices when the index folder under a running process is deleted or replaced by another's rebuild."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.folder / SQLITE_FILE)
        except OSError:
            return None
        return status.st_dev, status.st_ino

    def needs_reopen(self, rebuilding: bool = False) -> bool:
        """True when another process's rebuild put a new index in place of the one opened, or when a
        rebuild finds the index damaged or gone; IndexCorrupt when it is gone and nobody rebuilds it."""
        now = self._identity()
        if now != self.identity and now is not None:
            return True
        if rebuilding:
            try:
                check_index(self.folder, retry_after=0)
            except IndexCorrupt:
                return True
            return now != self.identity
        if now != self.identity:
            raise IndexCorrupt(
                f"The index in {self.folder} was deleted or moved while qa was running. Run `qa ingest --rebuild` "
                "to build it again from the corpus folder; this session picks it up when it is done.")
        return False
