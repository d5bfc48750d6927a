"""The Chroma store: chunk vectors and sentence vectors, and the settings that built them.

The only module that imports chromadb. A local folder (PersistentClient) or a `chroma run`
server (HttpClient) hold the same two collections.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode

from qa.config import Settings
from qa.schema import IndexMismatch, StoreUnavailable

# Changing how chunks are cut changes every chunk: part of the signature like the model.
CHUNKER_VERSION = 2
_WRITE_BATCH = 2000


@dataclass(frozen=True)
class IndexedFile:
    source: str
    content_hash: str
    chunks: int
    indexed_at: float


@dataclass(frozen=True)
class SentenceRecord:
    """A sentence of a chunk, with its span in the source document and its vector."""

    chunk_id: str
    source: str
    start: int
    end: int
    text: str
    vector: np.ndarray


def index_signature(settings: Settings, model_id: str, dimension: int) -> dict[str, Any]:
    """What must match between the store and the running code for vectors to be comparable."""
    return {
        "embed_model": model_id,
        "embed_dimension": dimension,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "chunker_version": CHUNKER_VERSION,
    }


def _where(settings: Settings) -> str:
    if settings.chroma_host:
        return f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"the index folder {settings.index_dir}"


def _reports_outage(method: Callable) -> Callable:
    """A server that went away (or a folder that broke) mid-session is a StoreUnavailable, not a traceback."""

    @functools.wraps(method)
    def guarded(self: ChromaStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (IndexMismatch, StoreUnavailable):
            raise
        except Exception as error:
            raise StoreUnavailable(f"{_where(self.settings)} failed: {error}") from error

    return guarded


def _client(settings: Settings) -> Any:
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
    except Exception as error:  # chromadb raises bare ValueError/ConnectionError variants
        raise StoreUnavailable(f"cannot open {_where(settings)}: {error}") from error


class ChromaStore:
    """Chunks and their sentences in two Chroma collections that share one signature."""

    def __init__(self, settings: Settings, signature: dict[str, Any], check_signature: bool = True) -> None:
        """`check_signature=False` opens a store about to be rebuilt, whatever built it."""
        self.settings = settings
        self.signature = signature
        self._check_signature = check_signature
        self._client = _client(settings)
        self._chunks_name = f"{settings.collection}-chunks"
        self._sentences_name = f"{settings.collection}-sentences"
        self._chunks = self._open(self._chunks_name)
        self._sentences = self._open(self._sentences_name)

    def _open(self, name: str) -> Any:
        try:
            collection = self._client.get_or_create_collection(
                name, metadata=self.signature, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None,
            )
        except Exception as error:
            raise StoreUnavailable(f"cannot open collection {name}: {error}") from error
        built_with = {key: (collection.metadata or {}).get(key) for key in self.signature}
        if built_with != self.signature and self._check_signature:
            differences = ", ".join(
                f"{key}: index has {built_with[key]!r}, settings say {self.signature[key]!r}"
                for key in self.signature if built_with[key] != self.signature[key]
            )
            raise IndexMismatch(
                f"The index was built with other settings ({differences}). "
                "Rebuild it with `qa ingest --rebuild`, or restore the settings it was built with."
            )
        return collection

    @_reports_outage
    def rebuild(self) -> None:
        """Drop everything and start empty with the current signature."""
        for name in (self._chunks_name, self._sentences_name):
            try:
                self._client.delete_collection(name)
            except Exception:  # absent already: nothing to drop
                pass
        self._chunks = self._open(self._chunks_name)
        self._sentences = self._open(self._sentences_name)
        self._check_signature = True

    @_reports_outage
    def chunk_count(self) -> int:
        return self._chunks.count()

    @_reports_outage
    def indexed_files(self) -> dict[str, IndexedFile]:
        """Every source in the store, with the content hash it was indexed from."""
        metadatas = self._chunks.get(include=["metadatas"])["metadatas"] or []
        files: dict[str, IndexedFile] = {}
        for meta in metadatas:
            source = str(meta["source"])
            seen = files.get(source)
            if seen is not None and seen.content_hash != meta["content_hash"]:
                # Two versions of one file: an ingestion stopped half-way; the next ingest replaces both.
                files[source] = IndexedFile(source, "", seen.chunks + 1, 0.0)
                continue
            files[source] = IndexedFile(
                source, str(meta["content_hash"]), (seen.chunks if seen else 0) + 1, float(meta["indexed_at"])
            )
        return files

    @_reports_outage
    def add(self, chunks: Sequence[TextNode], chunk_vectors: np.ndarray, sentences: Sequence[SentenceRecord]) -> None:
        """Write chunks first and their sentences after; readers only look sentences up by chunk."""
        now = time.time()
        for first in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[first:first + _WRITE_BATCH]
            self._chunks.upsert(
                ids=[chunk.id_ for chunk in batch],
                embeddings=chunk_vectors[first:first + _WRITE_BATCH],
                documents=[chunk.text for chunk in batch],
                metadatas=[
                    {"source": chunk.metadata["source"], "content_hash": chunk.metadata["content_hash"],
                     "start": chunk.start_char_idx, "end": chunk.end_char_idx, "indexed_at": now,
                     "published": chunk.metadata.get("published", "")}
                    for chunk in batch
                ],
            )
        for first in range(0, len(sentences), _WRITE_BATCH):
            batch = sentences[first:first + _WRITE_BATCH]
            self._sentences.upsert(
                ids=[f"{record.chunk_id}:{record.start}" for record in batch],
                embeddings=np.stack([record.vector for record in batch]),
                documents=[record.text for record in batch],
                metadatas=[
                    {"chunk_id": record.chunk_id, "source": record.source, "start": record.start, "end": record.end}
                    for record in batch
                ],
            )

    @_reports_outage
    def delete_source(self, source: str, keep_hash: str | None = None) -> None:
        """Remove a source's chunks, all of them or all but those of `keep_hash`."""
        where: dict[str, Any] = {"source": source}
        if keep_hash is not None:
            where = {"$and": [{"source": source}, {"content_hash": {"$ne": keep_hash}}]}
        chunk_ids = self._chunks.get(where=where, include=[])["ids"]
        if not chunk_ids:
            return
        self._sentences.delete(where={"chunk_id": {"$in": chunk_ids}})
        self._chunks.delete(ids=chunk_ids)

    @_reports_outage
    def all_chunks(self) -> list[TextNode]:
        """Every chunk as a llama-index node (for keyword search, which needs them in memory)."""
        result = self._chunks.get(include=["documents", "metadatas"])
        return [_node(id_, text, meta) for id_, text, meta in zip(result["ids"], result["documents"], result["metadatas"])]

    @_reports_outage
    def nearest_chunks(self, vector: Sequence[float], k: int) -> list[tuple[TextNode, float]]:
        """The k chunks most similar to `vector`, with cosine similarity."""
        count = self._chunks.count()
        if count == 0:
            return []
        result = self._chunks.query(
            query_embeddings=[list(vector)], n_results=min(k, count), include=["documents", "metadatas", "distances"],
        )
        return [
            (_node(id_, text, meta), 1.0 - float(distance))
            for id_, text, meta, distance in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    @_reports_outage
    def sentences_of(self, chunk_ids: Sequence[str]) -> list[SentenceRecord]:
        """The sentences of these chunks, with their vectors, in document order."""
        if not chunk_ids:
            return []
        result = self._sentences.get(
            where={"chunk_id": {"$in": list(chunk_ids)}}, include=["documents", "metadatas", "embeddings"],
        )
        records = [
            SentenceRecord(str(meta["chunk_id"]), str(meta["source"]), int(meta["start"]), int(meta["end"]), text,
                           np.asarray(vector, dtype=np.float32))
            for text, meta, vector in zip(result["documents"], result["metadatas"], result["embeddings"])
        ]
        return sorted(records, key=lambda record: (record.source, record.start, record.chunk_id))


def _node(id_: str, text: str, meta: dict[str, Any]) -> TextNode:
    return TextNode(
        id_=id_, text=text, start_char_idx=int(meta["start"]), end_char_idx=int(meta["end"]),
        metadata={"source": meta["source"], "content_hash": meta["content_hash"], "published": meta.get("published", "")},
    )

