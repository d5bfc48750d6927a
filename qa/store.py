"""The Chroma store: chunks with their vectors and sentence vectors, and the settings that built them.

The only module that imports chromadb. A local folder (PersistentClient) or a `chroma run`
server (HttpClient) holds the same collection.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode

from qa.config import Settings
from qa.integrity import check_index, repair
from qa.schema import IndexMismatch, StoreUnavailable

# Changing how chunks are cut or stored changes every record: part of the signature like the model.
LAYOUT_VERSION = 3
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
        "layout_version": LAYOUT_VERSION,
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
            if not self.settings.chroma_host:  # damaged files: an IndexCorrupt that says how to recover
                check_index(self.settings.index_dir, retry_after=0)
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
    """Chunks and their sentences in one Chroma collection that records what built it."""

    def __init__(self, settings: Settings, signature: dict[str, Any], check_signature: bool = True) -> None:
        """`check_signature=False` opens a store about to be rebuilt, whatever built it."""
        self.settings = settings
        self.signature = signature
        self._check_signature = check_signature
        if not settings.chroma_host:  # damaged files can crash chromadb: check them first; a rebuild moves them aside
            (check_index if check_signature else repair)(settings.index_dir)
        self._client = _client(settings)
        self._chunks_name = f"{settings.collection}-chunks"
        self._chunks = self._open(self._chunks_name)

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

    def close(self) -> None:
        """Let go of the Chroma client, whose cached state belongs to the folder as it was."""
        with contextlib.suppress(Exception):
            self._client.close()

    @_reports_outage
    def rebuild(self) -> None:
        """Drop everything and start empty with the current signature."""
        with contextlib.suppress(Exception):  # absent already: nothing to drop
            self._client.delete_collection(self._chunks_name)
        self._chunks = self._open(self._chunks_name)
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
        """Write chunks with their sentences' spans and vectors.

        Sentence vectors ride in the chunk's metadata (float16, base64): they are only ever read
        with their chunk, never searched, and a vector index over them would cost as much to
        build as the whole embedding pass.
        """
        now = time.time()
        by_chunk: dict[str, list[SentenceRecord]] = {}
        for record in sentences:
            by_chunk.setdefault(record.chunk_id, []).append(record)
        for first in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[first:first + _WRITE_BATCH]
            self._chunks.upsert(
                ids=[chunk.id_ for chunk in batch],
                embeddings=chunk_vectors[first:first + _WRITE_BATCH],
                documents=[chunk.text for chunk in batch],
                metadatas=[
                    {"source": chunk.metadata["source"], "content_hash": chunk.metadata["content_hash"],
                     "start": chunk.start_char_idx, "end": chunk.end_char_idx, "indexed_at": now,
                     "published": chunk.metadata.get("published", ""), "pages": chunk.metadata.get("pages", ""),
                     **_pack_sentences(by_chunk.get(chunk.id_, []), self.signature["embed_dimension"])}
                    for chunk in batch
                ],
            )

    @_reports_outage
    def delete_source(self, source: str, keep_hash: str | None = None) -> None:
        """Remove a source's chunks, all of them or all but those of `keep_hash`."""
        where: dict[str, Any] = {"source": source}
        if keep_hash is not None:
            where = {"$and": [{"source": source}, {"content_hash": {"$ne": keep_hash}}]}
        self._chunks.delete(where=where)

    @_reports_outage
    def all_chunks(self) -> list[TextNode]:
        """Every chunk as a llama-index node (for keyword search, which needs them in memory)."""
        result = self._chunks.get(include=["documents", "metadatas"])
        return [_node(id_, text, meta) for id_, text, meta in zip(result["ids"], result["documents"], result["metadatas"])]

    @_reports_outage
    def chunks_of(self, source: str) -> list[TextNode]:
        """The chunks of one source, in document order."""
        result = self._chunks.get(where={"source": source}, include=["documents", "metadatas"])
        nodes = [_node(id_, text, meta) for id_, text, meta in zip(result["ids"], result["documents"], result["metadatas"])]
        return sorted(nodes, key=lambda node: node.start_char_idx or 0)

    @_reports_outage
    def nearest_chunks(self, vector: Sequence[float], k: int,
                       sources: Sequence[str] | None = None) -> list[tuple[TextNode, float]]:
        """The k chunks most similar to `vector`, with cosine similarity; only from `sources` when given."""
        count = self._chunks.count()
        if count == 0 or (sources is not None and not sources):
            return []
        where = {"source": {"$in": list(sources)}} if sources is not None else None
        result = self._chunks.query(
            query_embeddings=[list(vector)], n_results=min(k, count), where=where,
            include=["documents", "metadatas", "distances"],
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
        result = self._chunks.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        records = [
            record
            for id_, text, meta in zip(result["ids"], result["documents"], result["metadatas"])
            for record in _unpack_sentences(id_, text, meta, self.signature["embed_dimension"])
        ]
        return sorted(records, key=lambda record: (record.source, record.start, record.chunk_id))


def _pack_sentences(records: Sequence[SentenceRecord], dimension: int) -> dict[str, str]:
    vectors = np.stack([r.vector for r in records]) if records else np.zeros((0, dimension))
    return {"sentence_spans": json.dumps([[r.start, r.end] for r in records]),
            "sentence_vectors": base64.b64encode(vectors.astype(np.float16).tobytes()).decode("ascii")}


def _unpack_sentences(chunk_id: str, text: str, meta: dict[str, Any], dimension: int) -> list[SentenceRecord]:
    spans = json.loads(str(meta["sentence_spans"]))
    vectors = np.frombuffer(base64.b64decode(str(meta["sentence_vectors"])), dtype=np.float16)
    vectors = vectors.reshape(len(spans), dimension).astype(np.float32)
    offset = int(meta["start"])
    return [
        SentenceRecord(chunk_id, str(meta["source"]), start, end, text[start - offset:end - offset], vector)
        for (start, end), vector in zip(spans, vectors)
    ]


def _node(id_: str, text: str, meta: dict[str, Any]) -> TextNode:
    metadata = {"source": meta["source"], "content_hash": meta["content_hash"], "published": meta.get("published", ""),
                "pages": meta.get("pages", "")}
    # Keyword search reads node text "as embedded"; file names and hashes are not content.
    return TextNode(id_=id_, text=text, start_char_idx=int(meta["start"]), end_char_idx=int(meta["end"]),
                    metadata=metadata, excluded_embed_metadata_keys=list(metadata),
                    excluded_llm_metadata_keys=list(metadata))

