"""Bring the store in line with a folder: embed new and changed files, drop deleted ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import TextNode
from tqdm import tqdm

from qa.chunking import SentenceChunker, to_llama_documents
from qa.documents import SkippedFile, load_corpus
from qa.embedding import MiniLMEmbedding
from qa.schema import QAError
from qa.sentences import Span, sentence_spans
from qa.store import ChromaStore, SentenceRecord

log = logging.getLogger(__name__)
# progress(done, total, unit): "files" while reading the folder, then "chunks" while embedding.
Progress = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_embedded: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged",
                 f"{len(self.removed)} removed", f"{len(self.skipped)} skipped",
                 f"{self.chunks_embedded} chunk{'' if self.chunks_embedded == 1 else 's'} embedded"]
        lines = [", ".join(parts)]
        lines += [f"  skipped {item.source}: {item.reason}" for item in self.skipped]
        return "\n".join(lines)


class Ingestor:
    """Chunks, embeds and stores documents; unchanged files (same content hash) cost nothing."""

    def __init__(self, store: ChromaStore, chunker: SentenceChunker, embedder: MiniLMEmbedding) -> None:
        self.store = store
        self.chunker = chunker
        self.embedder = embedder

    def ingest(self, folder: Path, rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> IngestReport:
        """Index `folder`. Everything is read and embedded before the store is touched, so a
        bad folder or a failure half-way leaves the previous index as it was."""
        try:
            on_file = (lambda done, total: progress(done, total, "files")) if progress else None
            documents, skipped = load_corpus(folder, self.store.settings.max_file_bytes, on_file)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise QAError(str(error)) from error
        if not documents:
            raise QAError(
                f"No readable documents in {folder} (qa reads .txt, .md and .html files); the index was left as it was."
            )
        report = IngestReport(skipped=skipped)
        indexed = {} if rebuild else self.store.indexed_files()
        todo = []
        for document in documents:
            known = indexed.get(document.source)
            if known is None:
                report.added.append(document.source)
            elif known.content_hash != document.content_hash:
                report.updated.append(document.source)
            else:
                report.unchanged.append(document.source)
                continue
            todo.append(document)
        hashes = {document.source: document.content_hash for document in documents}
        report.removed = sorted(source for source in indexed if source not in hashes)

        chunks = [node for node in self.chunker.get_nodes_from_documents(to_llama_documents(todo))
                  if isinstance(node, TextNode)]
        chunk_vectors, sentences = self._embed(chunks, show_progress, progress)
        report.chunks_embedded = len(chunks)

        if rebuild:
            self.store.rebuild()
        # New versions go in before old ones go out: a crash in between leaves two versions of a
        # file, which the next ingest detects and repairs, never a file with no version.
        self.store.add(chunks, chunk_vectors, [record for chunk_records in sentences for record in chunk_records])
        for source in report.updated:
            self.store.delete_source(source, keep_hash=hashes[source])
        for source in report.removed:
            self.store.delete_source(source)
        log.info("ingested %s: %s", folder, report.summary())
        return report

    def _embed(self, chunks: list[TextNode], show_progress: bool, progress: Progress | None):
        import numpy as np

        spans = [sentence_spans(chunk.text) for chunk in chunks]
        vectors = np.zeros((len(chunks), self.embedder.dimension), dtype=np.float32)
        records: list[list[SentenceRecord]] = [[] for _ in chunks]
        # Longest first across the whole corpus, as sentence-transformers does: batches pad least.
        order = sorted(range(len(chunks)), key=lambda i: -len(chunks[i].text))
        step = self.embedder.embed_batch_size
        bar = tqdm(total=len(chunks), unit="chunk", desc="Embedding", disable=not show_progress)
        for first in range(0, len(order), step):
            batch = order[first:first + step]
            batch_vectors, sentence_vectors = self.embedder.embed_chunks(
                [chunks[i].text for i in batch], [spans[i] for i in batch])
            vectors[batch] = batch_vectors
            for index, chunk_sentence_vectors in zip(batch, sentence_vectors):
                records[index] = [_record(chunks[index], span, vector)
                                  for span, vector in zip(spans[index], chunk_sentence_vectors)]
            bar.update(len(batch))
            if progress:
                progress(min(first + step, len(chunks)), len(chunks), "chunks")
        bar.close()
        return vectors, records


def _record(chunk: TextNode, span: Span, vector) -> SentenceRecord:
    offset = chunk.start_char_idx or 0
    return SentenceRecord(
        chunk_id=chunk.id_, source=chunk.metadata["source"], start=offset + span.start, end=offset + span.end,
        text=chunk.text[span.start:span.end], vector=vector,
    )
