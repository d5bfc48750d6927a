"""What the store holds, as plain values: file and sentence records, the index signature, paged reads.

No chromadb here (`qa.store` opens the collections): the layout of the collections is described
there; these are the values read from them and the paging every full read goes through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.schema import TextNode

from qa.config import Settings

# Changing how chunks are cut or stored changes every record: part of the signature like the model.
LAYOUT_VERSION = 4
PAGE = 5000  # records per read, well under Chroma's 32,766 SQL variables
STATE_ID = "state"
PLACEHOLDER = [1.0]  # manifest and state records are looked up by id, never searched


@dataclass(frozen=True)
class IndexedFile:
    source: str
    content_hash: str
    chunks: int
    indexed_at: float


@dataclass(frozen=True)
class FileRecord:
    """A file in the manifest: `content_hash` has all its chunks written; `pending` is being written."""

    source: str
    content_hash: str
    pending: str
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


def location(settings: Settings) -> str:
    if settings.chroma_host:
        return f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"the index folder {settings.index_dir}"


def local_folder(settings: Settings) -> Path:
    """Where this process keeps what is derived from the store (keyword index, ingest lock): the index
    folder itself, or with a server one cache folder per server."""
    if settings.chroma_host:
        return settings.index_dir / "server-cache" / f"{settings.chroma_host}_{settings.chroma_port}"
    return settings.index_dir


def paged(collection: Any, include: list[str], where: dict[str, Any] | None = None) -> Iterator[tuple[str, Any, Any]]:
    """(id, document, metadata) of every record, PAGE at a time."""
    offset = 0
    while True:
        result = collection.get(where=where, include=include, limit=PAGE, offset=offset)
        ids = result["ids"]
        documents = result.get("documents") or [None] * len(ids)
        metadatas = result.get("metadatas") or [None] * len(ids)
        yield from zip(ids, documents, metadatas)
        if len(ids) < PAGE:
            return
        offset += PAGE


def node(id_: str, text: str, meta: dict[str, Any]) -> TextNode:
    metadata = {"source": meta["source"], "content_hash": meta["content_hash"], "published": meta.get("published", ""),
                "pages": meta.get("pages", "")}
    # Keyword search reads node text "as embedded"; file names and hashes are not content.
    return TextNode(id_=id_, text=text, start_char_idx=int(meta["start"]), end_char_idx=int(meta["end"]),
                    metadata=metadata, excluded_embed_metadata_keys=list(metadata),
                    excluded_llm_metadata_keys=list(metadata))
