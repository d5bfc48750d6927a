"""Writing one build of the store: chunks in batches, the files manifest, the generation, a rebuild's swap.

Works on the collections `qa.store` opened (it imports no chromadb itself). Callers hold the
ingest lock, so generation bumps never race.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llama_index.core.schema import TextNode

from qa.store import ChromaStore
from qa.store_records import LAYOUT_VERSION, PLACEHOLDER, STATE_ID, FileRecord, paged

_WRITE_BATCH = 1000


class StoreWriter:
    """Writes one build; callers hold the ingest lock, so generation bumps never race."""

    def __init__(self, store: ChromaStore, rebuild: bool) -> None:
        self.store = store
        self.rebuild = rebuild
        state = store._state
        if rebuild:
            # A rebuild killed half-way left its build behind: carry on with it rather than embed again.
            self.build = str(state["building"]) if state and state.get("building") else uuid.uuid4().hex[:12]
        else:
            self.build = str(state["active"]) if state else uuid.uuid4().hex[:12]
        self.chunks = self._create(f"{store.prefix}-{self.build}-chunks", store.signature, {"hnsw": {"space": "cosine"}})
        if rebuild and (self.chunks.metadata or {}) != store.signature:  # left by a rebuild with other settings
            store._client.delete_collection(self.chunks.name)
            self.chunks = self._create(self.chunks.name, store.signature, {"hnsw": {"space": "cosine"}})
        self.files = self._create(f"{store.prefix}-{self.build}-files", {"layout_version": LAYOUT_VERSION}, None)
        self.records = store.file_records(self.files)
        self._fresh: set[str] = set()  # sources this run added to the manifest
        self._pending: list[FileRecord] = []  # pending marks not yet written
        if state is None:
            self._write_state({"active": self.build, "building": "", "generation": 1, "layout_version": LAYOUT_VERSION})
        elif rebuild:
            self._write_state({**state, "building": self.build})

    def _create(self, name: str, metadata: dict[str, Any], configuration: dict[str, Any] | None) -> Any:
        return self.store._client.get_or_create_collection(
            name, metadata=metadata, configuration=configuration, embedding_function=None)

    def _write_state(self, state: dict[str, Any]) -> None:
        collection = self._create(f"{self.store.prefix}-state", {"layout_version": LAYOUT_VERSION}, None)
        collection.upsert(ids=[STATE_ID], embeddings=[PLACEHOLDER], metadatas=[state])
        if not self.rebuild or state.get("active") == self.build:
            self.store._adopt(state)  # this process wrote it: its own client sees its writes

    def existing_ids(self, source: str, content_hash: str) -> set[str]:
        """Chunk ids of this version already written (by a run that stopped before finishing the file)."""
        if source in self._fresh:  # not in the manifest before this run: none of its chunks can be in
            return set()
        where = {"$and": [{"source": source}, {"content_hash": content_hash}]}
        return {id_ for id_, _, _ in paged(self.chunks, [], where)}

    def mark_pending(self, source: str, content_hash: str) -> None:
        """Say that `content_hash` of `source` is being written. Held until the next write of chunks
        or records, so a batch of files costs one manifest write, still before any of their chunks."""
        known = self.records.get(source)
        if known is None:
            self._fresh.add(source)
        self._pending.append(FileRecord(source, known.content_hash if known else "", content_hash,
                                        known.chunks if known else 0, known.indexed_at if known else time.time()))
        self.records[source] = self._pending[-1]

    def _write_pending(self) -> None:
        if self._pending:
            self._record(self._pending)
            self._pending = []

    def add_chunks(self, chunks: Sequence[TextNode], vectors: np.ndarray) -> None:
        self._write_pending()
        for first in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[first:first + _WRITE_BATCH]
            self.chunks.upsert(
                ids=[chunk.id_ for chunk in batch],
                embeddings=vectors[first:first + _WRITE_BATCH],
                documents=[chunk.text for chunk in batch],
                metadatas=[{"source": chunk.metadata["source"], "content_hash": chunk.metadata["content_hash"],
                            "start": chunk.start_char_idx, "end": chunk.end_char_idx,
                            "published": chunk.metadata.get("published", ""),
                            "pages": chunk.metadata.get("pages", "")} for chunk in batch],
            )

    def finish_files(self, files: Sequence[tuple[str, str, int]]) -> None:
        """All chunks of these versions (source, content hash, chunk count) are in: drop the other
        versions, then record them as the files', in one manifest write."""
        self._write_pending()
        for source, content_hash, _ in files:
            if source not in self._fresh:  # a file new to the manifest has no other version to drop
                self.chunks.delete(where={"$and": [{"source": source}, {"content_hash": {"$ne": content_hash}}]})
        now = time.time()
        self._record([FileRecord(source, content_hash, "", chunks, now) for source, content_hash, chunks in files])

    def remove_file(self, source: str) -> None:
        """Chunks first, record last: a crash in between leaves a record the next ingest removes again."""
        self._write_pending()
        self.chunks.delete(where={"source": source})
        self.files.delete(ids=[source])
        self.records.pop(source, None)

    def _record(self, records: Sequence[FileRecord]) -> None:
        if not records:
            return
        self.files.upsert(ids=[record.source for record in records], embeddings=[PLACEHOLDER] * len(records),
                          metadatas=[{"source": record.source, "content_hash": record.content_hash,
                                      "pending": record.pending, "chunks": record.chunks,
                                      "indexed_at": record.indexed_at} for record in records])
        self.records.update((record.source, record) for record in records)

    def publish(self) -> None:
        """Tell other processes the index changed (a rebuild publishes only at `commit`)."""
        if self.rebuild:
            return
        state = self.store._read_state() or {"active": self.build, "building": "", "layout_version": LAYOUT_VERSION}
        self._write_state({**state, "generation": int(state.get("generation", 0)) + 1})

    def commit(self, swapped: Callable[[], None] = lambda: None) -> None:
        """Publish; a rebuild swaps the pointer to its build (then calls `swapped`), then drops every other build."""
        if not self.rebuild:
            self.publish()
            return
        state = self.store._read_state() or {"generation": 0}
        self.rebuild = False
        self._write_state({"active": self.build, "building": "", "generation": int(state["generation"]) + 1,
                           "layout_version": LAYOUT_VERSION})
        swapped()
        ours = re.compile(rf"{re.escape(self.store.prefix)}-([0-9a-f]{{12}}-chunks|[0-9a-f]{{12}}-files|chunks)")
        for collection in self.store._client.list_collections():
            name = getattr(collection, "name", collection)
            if ours.fullmatch(name) and name not in (self.chunks.name, self.files.name):
                self.store._client.delete_collection(name)
