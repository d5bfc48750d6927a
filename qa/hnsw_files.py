"""The files of a saved hnswlib graph as chroma's fork writes them, checked against each other.

One folder per vector segment: header.bin (the fields below), data_level0.bin (per element: a
neighbour count, a deleted flag and up to maxM0 neighbour ids, the vector, the label),
length.bin (each vector's norm before normalising), link_lists.bin (per element: a byte count,
then its upper-level neighbour lists) and index_metadata.pickle (record id <-> label). Every
count and id that chromadb will follow is checked to be in range, since it does not check them.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HNSW_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
# hnswlib's header as chroma's fork persists it: version, offsetLevel0, max_elements,
# cur_element_count, size_data_per_element, label_offset, offsetData, maxlevel, enterpoint_node,
# maxM, maxM0, M, mult, ef_construction.
_HEADER = struct.Struct("<i6Q2i3QdQ")


class Damage(Exception):
    """What is wrong, in a few words; `check_index` turns it into an IndexCorrupt."""


@dataclass(frozen=True)
class VectorSegment:
    id: str
    dimension: int | None
    persisted_seq: int  # the last write the graph on disk includes; 0: never written to disk
    ids: frozenset[str]  # the record ids the graph must hold, as far as the sqlite can tell
    pending: frozenset[str]  # ids written after the graph was saved (chroma replays them on open)
    # Only a cosine graph normalises its vectors and keeps their norms in length.bin; for l2 and ip
    # chroma's fork writes that file's bytes uninitialised, so any value there is sound.
    normalised: bool = True


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
    _check_norms(folder / "length.bin", header, segment.normalised)
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


def _check_norms(path: Path, header: _Header, normalised: bool) -> None:
    norms = np.fromfile(path, dtype="<f4")  # the length of each vector before it was normalised
    garbled = normalised and not np.isfinite(norms[:header.count]).all()
    if path.stat().st_size % 4 or len(norms) < header.count or garbled:
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
