"""The Chroma clients of one store: opened only on sound files, replaced when other processes change the index.

A local Chroma keeps the vector index it loaded and never sees another process's writes, so a
store follows them by opening a fresh client. Chroma shares one client system per path string:
each client here gets a path of its own, the index folder plus "/." per slot, and a slot is
reused only after its client is closed and its shared system is gone from chromadb's cache
(reusing a cached system would answer from files a rebuild has moved aside).

chromadb's Rust core reads the sqlite file when a client starts, and a garbled one makes it
abort the process (a panic while decoding a text column), so every local client is opened
only after the integrity check (qa/integrity.py) passes; damage is an IndexCorrupt instead.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import chromadb
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings

from qa.config import Settings
from qa.integrity import check_index, remember_checked
from qa.schema import StoreUnavailable
from qa.store_records import location

_slots_lock = threading.Lock()
_slots_in_use: set[int] = set()


class Clients:
    """The client a store reads through, and the one it replaced (closed one replacement later: a
    question in flight may still use it). Two clients at most, each on its own slot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current, slot = self._open()
        self._held: list[tuple[Any, int]] = [(self.current, slot)]  # oldest first, current last

    def _open(self) -> tuple[Any, int]:
        settings = self.settings
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if settings.chroma_host:
            try:
                return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                           settings=chroma_settings), -1
            except Exception as error:  # chromadb raises bare ValueError/ConnectionError variants
                raise StoreUnavailable(f"cannot open {location(settings)}: {error}") from error
        check_index(settings.index_dir, trust_unchanged=True)  # IndexCorrupt, never an abort inside chromadb
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        slot = _take_slot()
        try:
            path = str(settings.index_dir.resolve()) + "/." * slot
            client = chromadb.PersistentClient(path=path, settings=chroma_settings)
        except Exception as error:
            _free_slot(slot)
            raise StoreUnavailable(f"cannot open {location(settings)}: {error}") from error
        remember_checked(settings.index_dir)
        return client, slot

    def reconnect(self) -> None:
        """A fresh client for the index as other processes left it."""
        while len(self._held) > 1:
            _release(*self._held.pop(0))
        fresh, slot = self._open()
        self._held.append((fresh, slot))
        self.current = fresh

    def close(self) -> None:
        """Let go of every client, the retired one too, and of chromadb's cached systems behind them."""
        while self._held:
            _release(*self._held.pop(0))


def _take_slot() -> int:
    with _slots_lock:
        slot = next(n for n in range(len(_slots_in_use) + 1) if n not in _slots_in_use)
        _slots_in_use.add(slot)
        return slot


def _free_slot(slot: int) -> None:
    with _slots_lock:
        _slots_in_use.discard(slot)


def _release(client: Any, slot: int) -> None:
    with contextlib.suppress(Exception):
        client.close()
    if slot >= 0:
        # A reused slot must not find a cached system with the old files open: close() leaves one
        # behind when it fails half-way. One some other client still counts on is left to it.
        identifier = getattr(client, "_identifier", None)
        with SharedSystemClient._refcount_lock:
            unused = identifier not in SharedSystemClient._identifier_to_refcount
            system = SharedSystemClient._identifier_to_system.pop(identifier, None) if unused else None
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()
        _free_slot(slot)
