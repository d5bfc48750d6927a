"""Is a local Chroma index folder sound? Checked before chromadb opens it, since some damage crashes it.

Chroma keeps a local index as `chroma.sqlite3` (records, settings, a queue of recent writes) and
one folder per vector segment holding an hnswlib graph (header.bin, data_level0.bin, length.bin,
link_lists.bin, index_metadata.pickle). chromadb's Rust core trusts those files: a garbled graph
makes it read out of bounds and the process dies (SIGSEGV), which no `except` can catch; a
zeroed or missing one loads, and dense search quietly returns wrong or no chunks. So the sqlite
gets SQLite's quick_check, and each graph's files are checked against each other
(qa/hnsw_files.py, one numpy pass per file, no subprocess) and against the records the sqlite
holds. Damage is an `IndexCorrupt` naming `qa ingest --rebuild`, which moves the damaged files
aside and builds afresh.

quick_check reads the whole sqlite file: at 100k chunks that is 490 MB and 3 s of a 12 s start
from a cold disk. A client that opened after a passing check records the file's identity (inode,
size, change times: any write, copy or restore changes one); the next start skips quick_check
while the file still has that identity, and checks everything else as always. An ingest that wrote
runs quick_check itself when it is done and records the same, so the start after it is spared too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

from qa.hnsw_files import Damage, VectorSegment, check_hnsw
from qa.schema import IndexCorrupt

log = logging.getLogger(__name__)

SQLITE_FILE = "chroma.sqlite3"
CHECKED_FILE = "qa.sqlite-checked.json"  # the sqlite's identity when a client last opened it after a passing check
_HNSW_TYPE = "urn:chroma:segment/vector/hnsw-local-persisted"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"collections", "segments", "embeddings", "max_seq_id", "embeddings_queue"}


def rebuild_hint(folder: Path) -> str:
    return (f"The index in {folder} is damaged ({{}}). Run `qa ingest --rebuild`: it moves the damaged "
            "files aside and builds a fresh index from the corpus folder.")


def check_index(folder: Path, retry_after: float = 1.0, graphs: bool = True, trust_unchanged: bool = False) -> None:
    """Raise IndexCorrupt when the index in `folder` is damaged; a folder without an index is fine.

    A failed check is repeated once after `retry_after` seconds: another process may have been
    half-way through saving the graph. `graphs=False` checks the sqlite file alone: a running
    process's chromadb saves its graphs when it chooses, so between saves they lag the sqlite.
    `trust_unchanged` skips SQLite's quick_check when the file is as `remember_checked` saw it."""
    folder = Path(folder)
    for attempt in range(2):
        try:
            return _check(folder, graphs, quick_check=attempt > 0 or not (trust_unchanged and _unchanged(folder)))
        except Exception as error:  # Damage, or files so odd that reading them failed some other way
            if attempt or retry_after <= 0:
                damage = error if isinstance(error, Damage) else f"{type(error).__name__}: {error}"
                raise IndexCorrupt(rebuild_hint(folder).format(damage)) from None
            time.sleep(retry_after)


def _check(folder: Path, graphs: bool = True, quick_check: bool = True) -> None:
    database = folder / SQLITE_FILE
    if not database.exists():
        orphans = [path.name for path in _segment_folders(folder)]
        if orphans:
            raise Damage(f"{SQLITE_FILE} is missing but vector segments {', '.join(orphans)} are there")
        return
    segments = read_segments(database, quick_check)  # checks the sqlite file itself
    if graphs:
        for segment in segments:
            check_hnsw(folder / segment.id, segment)


def _identity(folder: Path) -> list[list[int] | None]:
    """The sqlite file and its journals as the file system knows them; ctime cannot be set back by a copy."""
    identity: list[list[int] | None] = []
    for suffix in ("", "-wal", "-journal"):
        try:
            status = os.stat(folder / f"{SQLITE_FILE}{suffix}")
        except FileNotFoundError:
            identity.append(None)
            continue
        identity.append([status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns])
    return identity


def remember_checked(folder: Path) -> None:
    """After check_index passed and a client opened (chromadb writes the sqlite when it opens): record the
    file's identity, so the next start may skip quick_check. Best effort: a read-only folder is checked each time."""
    folder = Path(folder)
    _remember(folder, _identity(folder))


def check_written(folder: Path) -> None:
    """After this process's ingest wrote the index: quick_check the sqlite now and remember it, so the ingest
    pays for reading the whole file and the next start does not. Best effort: a failed or busy check, or
    another process writing meanwhile, leaves no record, and the next start checks in full."""
    folder = Path(folder)
    before = _identity(folder)
    database = folder / SQLITE_FILE
    try:
        _check_sqlite_header(database)
        with contextlib.closing(_open_read_only(database)) as connection:
            _quick_check(connection)
    except (OSError, sqlite3.Error, Damage) as error:
        log.warning("index not checked after writing (the next start will check it): %s", error)
        return
    if _identity(folder) == before:
        _remember(folder, before)


def _remember(folder: Path, identity: list[list[int] | None]) -> None:
    temporary = folder / f".{CHECKED_FILE}.{os.getpid()}"
    try:
        temporary.write_text(json.dumps(identity), encoding="utf-8")
        os.replace(temporary, folder / CHECKED_FILE)
    except OSError as error:
        log.debug("index check not remembered: %s", error)
        temporary.unlink(missing_ok=True)


def _unchanged(folder: Path) -> bool:
    try:
        remembered = json.loads((folder / CHECKED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    unchanged = remembered == _identity(folder)
    if unchanged:
        log.debug("%s is as it was when last checked: quick_check skipped", folder / SQLITE_FILE)
    return unchanged


def _segment_folders(folder: Path) -> list[Path]:
    # Chroma names each segment's folder by its UUID.
    return [path for path in folder.glob("*-*-*-*-*") if path.is_dir() and len(path.name) == 36] if folder.is_dir() else []


def read_segments(database: Path, quick_check: bool = True) -> list[VectorSegment]:
    """The local HNSW segments the sqlite file knows, after checking the file itself."""
    _check_sqlite_header(database)
    try:
        connection = _open_read_only(database)
    except sqlite3.Error as error:
        raise Damage(f"{SQLITE_FILE} cannot be opened: {error}") from None
    try:
        return _read_segments(connection, quick_check)
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) and _transient(error):
            log.warning("index check skipped: %s", error)  # busy or locked: chromadb will wait or say so
            return []
        raise Damage(f"{SQLITE_FILE}: {error}") from None
    except UnicodeDecodeError:  # SQLite's own error message quoted garbled bytes
        raise Damage(f"{SQLITE_FILE} fails SQLite's check") from None
    finally:
        connection.close()


def _open_read_only(database: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    connection.text_factory = lambda raw: raw.decode("utf-8", "replace")  # damage reports quote garbled bytes
    return connection


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


def _quick_check(connection: sqlite3.Connection) -> None:
    (verdict,), *more = connection.execute("PRAGMA quick_check").fetchall()
    if verdict != "ok":
        raise Damage(f"{SQLITE_FILE} fails SQLite's check: {verdict[:200]}{' ...' if more else ''}")


def _read_segments(connection: sqlite3.Connection, quick_check: bool = True) -> list[VectorSegment]:
    if quick_check:
        _quick_check(connection)
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return []  # created, never written: chromadb sets it up
    if missing := _TABLES - tables:
        raise Damage(f"{SQLITE_FILE} lacks the tables {', '.join(sorted(missing))}")
    persisted = dict(connection.execute("SELECT segment_id, seq_id FROM max_seq_id").fetchall())
    segments = []
    columns = {row[1] for row in connection.execute("PRAGMA table_info(collections)")}
    # Older chromadb lacks these columns; the distance is then unknown.
    configuration, schema = (f"c.{name}" if name in columns else "NULL" for name in ("config_json_str", "schema_str"))
    rows = connection.execute(
        f"SELECT s.id, s.collection, c.dimension, {configuration}, {schema} FROM segments s "
        "JOIN collections c ON c.id = s.collection WHERE s.type = ?", (_HNSW_TYPE,)).fetchall()
    for segment_id, collection, dimension, configuration, schema_text in rows:
        metadata_segments = [row[0] for row in connection.execute(
            "SELECT id FROM segments WHERE collection = ? AND scope = 'METADATA'", (collection,))]
        stored = {row[0] for row in connection.execute(
            f"SELECT embedding_id FROM embeddings WHERE segment_id IN ({','.join('?' * len(metadata_segments))})",
            metadata_segments)}
        seq = _seq(persisted.get(segment_id))
        # Ids written after the graph or the records were last brought up to date are in flux.
        settled = min([seq, *(_seq(persisted.get(segment)) for segment in metadata_segments)])
        pending = {row[0] for row in connection.execute(
            "SELECT id FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ?", (f"%/{collection}", settled))}
        segments.append(VectorSegment(segment_id, dimension, seq, frozenset(stored), frozenset(pending),
                                      normalised=_space(configuration, schema_text) == "cosine"))
    return segments


def _space(configuration: str | None, schema: str | None) -> str | None:
    """The collection's distance, from its schema (chromadb >= 1.1) or its configuration (before)."""
    try:
        if schema:
            return json.loads(schema)["keys"]["#embedding"]["float_list"]["vector_index"]["config"]["space"]
        return (json.loads(configuration or "{}").get("hnsw_configuration") or {}).get("space")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # unknown: the norms are not held to anything


def _seq(value: object) -> int:
    if value is None:
        return 0
    return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)  # older chroma: 8-byte blobs


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
    """Notices when the index folder under a running process is deleted, replaced by another's rebuild,
    or its sqlite file changed in place (then checked: chromadb may answer from pages it cached)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.identity, self.stamp = self._look()

    def _look(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        try:
            status = os.stat(self.folder / SQLITE_FILE)
        except OSError:
            return None, None
        return (status.st_dev, status.st_ino), (status.st_mtime_ns, status.st_size)

    def needs_reopen(self, rebuilding: bool = False) -> bool:
        """True when another process's rebuild put a new index in place of the one opened, or when a
        rebuild finds the index damaged or gone; IndexCorrupt when it is gone and nobody rebuilds it."""
        now, stamp = self._look()  # one stat per question: this runs before every answer
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
        if stamp != self.stamp:  # written since the last look: by an ingest, or damaged in place
            # The sqlite alone: a garbled one aborts chromadb; the graphs were checked when the client
            # opened, and this process's own unsaved writes make them lag behind it until chromadb saves.
            check_index(self.folder, graphs=False)
            self.stamp = stamp
        return False
