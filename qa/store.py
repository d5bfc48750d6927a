"""The Chroma store: chunks with their vectors, a manifest of files, and a state record naming the live build.

With qa/store_clients.py (which opens and replaces the clients), the only code that imports
chromadb; the values it reads, and the paging, are in `qa.store_records`. A local folder
(PersistentClient) or a `chroma run` server (HttpClient) holds the same collections:

- `<c>-state`: one record, `state`: the live build, the one being rebuilt, and a generation
  bumped by every ingest, delete and rebuild, which every process checks before a question.
- `<c>-<build>-chunks`: chunk text, span, source and content hash, with the chunk vector;
  its collection metadata records the settings that built it (the signature).
- `<c>-<build>-files`: one record per file: the content hash whose chunks are all written,
  the hash being written (pending) and the chunk count. Listing files reads only these.

A rebuild writes a new build and swaps the state's pointer at the end, so the old index
answers until the new one is complete. Every full read is paged: Chroma refuses a get() of
more than 32,766 records with metadata ("too many SQL variables").
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chromadb.errors import NotFoundError
from llama_index.core.schema import TextNode

from qa.config import Settings
from qa.integrity import check_index, check_written, repair
from qa.schema import IndexMismatch, StoreUnavailable
from qa.store_clients import Clients
from qa.store_records import (  # noqa: F401 (re-exported: the store's public values)
    LAYOUT_VERSION,
    PAGE,
    PLACEHOLDER,
    STATE_ID,
    FileRecord,
    IndexedFile,
    SentenceRecord,
    index_signature,
    local_folder,
    location,
    paged,
)
from qa.store_records import node as _node

if TYPE_CHECKING:
    from qa.store_writer import StoreWriter

def _reports_outage(retry: bool) -> Callable[[Callable], Callable]:
    """A server that went away (or a folder that broke) is a StoreUnavailable, not a traceback. Reads
    are retried once after reopening: another process may have swapped the build in between."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def guarded(self: ChromaStore, *args: Any, **kwargs: Any) -> Any:
            for attempt in range(2 if retry else 1):
                try:
                    return method(self, *args, **kwargs)
                except (IndexMismatch, StoreUnavailable):
                    raise
                except Exception as error:
                    if attempt or not retry:
                        raise self.failure(error) from error
                self.refresh(reconnect=True)
            raise AssertionError("unreachable")

        return guarded

    return decorate


class ChromaStore:
    """The live build's chunks and manifest; `refresh()` follows other processes' changes."""

    def __init__(self, settings: Settings, signature: dict[str, Any], check_signature: bool = True) -> None:
        """`check_signature=False` opens a store about to be rebuilt, whatever built it."""
        self.settings = settings
        self.signature = signature
        self.check_signature = check_signature
        self.prefix = settings.collection
        self._lock = threading.RLock()
        if not settings.chroma_host and not check_signature:
            repair(settings.index_dir)  # a rebuild moves damaged files aside; Clients checks before opening
        self._clients = Clients(settings)
        self._state: dict[str, Any] | None = None
        self._chunks: Any = None
        self._files: Any = None
        try:
            self._adopt(self._read_state())
        except (IndexMismatch, StoreUnavailable):
            raise
        except Exception as error:
            raise StoreUnavailable(f"cannot open {location(settings)}: {error}") from error

    @property
    def _client(self) -> Any:
        return self._clients.current

    def failure(self, error: Exception) -> StoreUnavailable:
        """What a failed call means: damaged local files are an IndexCorrupt that says how to recover."""
        if not self.settings.chroma_host:
            check_index(self.settings.index_dir, retry_after=0)
        return StoreUnavailable(f"{location(self.settings)} failed: {error}")

    # -- following the live build ----------------------------------------------------------------
    def _read_state(self) -> dict[str, Any] | None:
        try:
            collection = self._client.get_collection(f"{self.prefix}-state")
            result = collection.get(ids=[STATE_ID], include=["metadatas"])
        except NotFoundError:
            result = None
        except Exception as error:
            if "does not exist" in str(error):
                result = None
            else:
                raise self.failure(error) from error
        if not result or not result["ids"]:
            self._refuse_old_layout()
            return None
        return dict(result["metadatas"][0])

    def _refuse_old_layout(self) -> None:
        if not self.check_signature:
            return
        names = {getattr(c, "name", c) for c in self._client.list_collections()}
        if f"{self.prefix}-chunks" in names:
            raise IndexMismatch(
                f"The index in {location(self.settings)} was built by an older version of qa (layout 3, now "
                f"{LAYOUT_VERSION}). Rebuild it with `qa ingest --rebuild`."
            )

    def _adopt(self, state: dict[str, Any] | None) -> None:
        """Open the collections `state` names (none: no index yet)."""
        if state is None:
            self._state, self._chunks, self._files = None, None, None
            return
        build = str(state["active"])
        chunks = self._client.get_collection(f"{self.prefix}-{build}-chunks")
        self._check(chunks)
        self._chunks = chunks
        self._files = self._client.get_collection(f"{self.prefix}-{build}-files")
        self._state = state

    def _check(self, collection: Any) -> None:
        built_with = {key: (collection.metadata or {}).get(key) for key in self.signature}
        if built_with != self.signature and self.check_signature:
            differences = ", ".join(
                f"{key}: index has {built_with[key]!r}, settings say {self.signature[key]!r}"
                for key in self.signature if built_with[key] != self.signature[key]
            )
            raise IndexMismatch(
                f"The index was built with other settings ({differences}). "
                "Rebuild it with `qa ingest --rebuild`, or restore the settings it was built with."
            )

    @property
    def build(self) -> str | None:
        """The live build's id (None: no index yet)."""
        return None if self._state is None else str(self._state["active"])

    @property
    def building(self) -> str | None:
        """The build a rebuild is writing, if one is under way (or was killed)."""
        return str(self._state["building"]) if self._state and self._state.get("building") else None

    @property
    def generation(self) -> int:
        return 0 if self._state is None else int(self._state["generation"])

    def refresh(self, reconnect: bool = False) -> bool:
        """Follow changes made by other processes; True when the index changed since the last look."""
        try:
            with self._lock:
                state = self._read_state()
                if state == self._state and not reconnect:
                    return False
                if not self.settings.chroma_host and (self._state is not None or reconnect):
                    self._clients.reconnect()
                self._adopt(state)
                return True
        except (IndexMismatch, StoreUnavailable):
            raise
        except Exception as error:
            raise self.failure(error) from error

    def check_written(self) -> None:
        """After an ingest wrote a local index: check its sqlite now, so that the next start need not."""
        if not self.settings.chroma_host:
            check_written(self.settings.index_dir)

    def close(self) -> None:
        """Let go of the Chroma clients, whose cached state belongs to the folder as it was."""
        with self._lock:
            self._clients.close()

    # -- reads -------------------------------------------------------------------------------
    @_reports_outage(retry=True)
    def chunk_count(self) -> int:
        return 0 if self._chunks is None else self._chunks.count()

    def file_records(self, collection: Any = None) -> dict[str, FileRecord]:
        """The manifest, pending versions included (metadata only, paged)."""
        collection = collection if collection is not None else self._files
        if collection is None:
            return {}
        return {
            str(meta["source"]): FileRecord(str(meta["source"]), str(meta["content_hash"]), str(meta["pending"]),
                                            int(meta["chunks"]), float(meta["indexed_at"]))
            for _, _, meta in paged(collection, ["metadatas"])
        }

    @_reports_outage(retry=True)
    def indexed_files(self) -> dict[str, IndexedFile]:
        """Every file with a complete version in the index, with the content hash it was indexed from."""
        return {source: IndexedFile(source, record.content_hash, record.chunks, record.indexed_at)
                for source, record in self.file_records().items() if record.content_hash}

    @_reports_outage(retry=True)
    def all_chunks(self) -> list[TextNode]:
        """Every chunk as a llama-index node (paged; for tests and checks, not for answering)."""
        if self._chunks is None:
            return []
        return [_node(id_, text, meta) for id_, text, meta in paged(self._chunks, ["documents", "metadatas"])]

    @_reports_outage(retry=True)
    def chunks_of(self, source: str, content_hash: str | None = None) -> list[TextNode]:
        """The chunks of one source (of one version of it, when given), in document order."""
        if self._chunks is None:
            return []
        where: dict[str, Any] = {"source": source}
        if content_hash is not None:
            where = {"$and": [where, {"content_hash": content_hash}]}
        nodes = [_node(id_, text, meta) for id_, text, meta in paged(self._chunks, ["documents", "metadatas"], where)]
        return sorted(nodes, key=lambda node: node.start_char_idx or 0)

    @_reports_outage(retry=True)
    def chunks_by_id(self, chunk_ids: Sequence[str]) -> dict[str, TextNode]:
        if self._chunks is None or not chunk_ids:
            return {}
        result = self._chunks.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        return {id_: _node(id_, text, meta) for id_, text, meta in zip(result["ids"], result["documents"], result["metadatas"])}

    @_reports_outage(retry=True)
    def nearest_chunks(self, vector: Sequence[float], k: int,
                       sources: Sequence[str] | None = None) -> list[tuple[TextNode, float]]:
        """The k chunks most similar to `vector`, with cosine similarity; only from `sources` when given."""
        if self._chunks is None or (sources is not None and not sources):
            return []
        # No count() first to cap k: Chroma 1.x returns what it holds, and counting costs ~9 ms at 100k chunks.
        where = {"source": {"$in": list(sources)}} if sources is not None else None
        result = self._chunks.query(
            query_embeddings=[list(vector)], n_results=k, where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (_node(id_, text, meta), 1.0 - float(distance))
            for id_, text, meta, distance in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
            if text is not None and meta is not None  # a record deleted while the query ran
        ]

    # -- writes ------------------------------------------------------------------------------
    def writer(self, rebuild: bool = False) -> StoreWriter:
        """A writer into the live build, or (`rebuild`) into a new one that replaces it at `commit()`."""
        from qa.store_writer import StoreWriter

        self.refresh()
        return StoreWriter(self, rebuild)
