"""Bring the store in line with a folder: embed new and changed files, drop deleted ones.

Streaming and crash-safe: files are hashed before they are parsed (an unchanged file costs one
read), chunks are embedded and written a batch at a time (memory stays bounded), and a file's
version becomes its recorded one only after all its chunks are in. Killed at any point, the
next ingest finds the file pending or changed, keeps the chunks already written (their ids
say which version they belong to) and embeds only the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import TextNode
from tqdm import tqdm

from qa.chunking import SentenceChunker, to_llama_documents
from qa.documents import (
    SUPPORTED_SUFFIXES,
    SkippedFile,
    content_hash,
    parse_document,
    read_file,
    scan_corpus,
    source_name,
)
from qa.embedding import MiniLMEmbedding
from qa.keyword_index import KeywordIndex
from qa.schema import QAError
from qa.sentences import sentence_spans
from qa.store import ChromaStore
from qa.store_records import local_folder
from qa.store_writer import StoreWriter

log = logging.getLogger(__name__)
# progress(done, total, unit): "files" while reading the folder, then "chunks" while embedding.
Progress = Callable[[int, int, str], None]
# During a long ingest, files finished by a write of chunks are published to other processes, at most
# this often (a publish sends every process sharing the index to reload it).
PUBLISH_SECONDS = 2.0


class IngestBusy(QAError):
    """Another ingestion holds this index."""


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged",
                 f"{len(self.removed)} removed", f"{len(self.skipped)} skipped",
                 f"{self.chunks_embedded} chunk{'' if self.chunks_embedded == 1 else 's'} embedded"]
        lines = [", ".join(parts)]
        lines += [f"  skipped {item.source}: {item.reason}" for item in self.skipped]
        return "\n".join(lines)


@contextlib.contextmanager
def ingest_lock(store: ChromaStore) -> Iterator[None]:
    """One ingestion per index on this machine: a second is refused with a message, never interleaved."""
    folder = local_folder(store.settings)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{store.prefix}.ingest.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IngestBusy(f"Another ingestion ({holder}) is updating this index; "
                             "wait for it to finish, then run it again.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _kill_point(name: str) -> None:
    """Test hook: QA_TEST_KILL_AT=name:n kills this process the n-th time it passes `name`."""
    target = os.environ.get("QA_TEST_KILL_AT")
    if not target:
        return
    point, _, count = target.partition(":")
    if point == name:
        _KILL_COUNTS[name] = _KILL_COUNTS.get(name, 0) + 1
        if _KILL_COUNTS[name] >= int(count or 1):
            os.kill(os.getpid(), 9)


_KILL_COUNTS: dict[str, int] = {}


def no_documents(folder: Path) -> str:
    return (f"No readable documents in {folder} (qa reads {', '.join(SUPPORTED_SUFFIXES)} files); "
            "the index was left as it was.")


@dataclass
class _OpenFile:
    source: str
    content_hash: str
    chunks: list[TextNode]
    waiting: int  # chunks not yet written


class Ingestor:
    """Chunks, embeds and stores documents; unchanged files (same content hash) are not even parsed."""

    def __init__(self, store: ChromaStore, chunker: SentenceChunker, embedder: MiniLMEmbedding,
                 keywords: Callable[[str], KeywordIndex]) -> None:
        """`keywords(build)` opens the keyword index of a build."""
        self.store = store
        self.chunker = chunker
        self.embedder = embedder
        self.keywords = keywords

    def ingest(self, folder: Path, rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> IngestReport:
        """Index `folder`. A bad folder leaves the index as it was; a rebuild replaces the index only
        once the new one is complete."""
        try:
            paths, skipped = scan_corpus(folder)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise QAError(str(error)) from error
        if not paths:
            raise QAError(no_documents(folder))
        with ingest_lock(self.store):
            writer = self.store.writer(rebuild)
            self._refuse_other_folder(folder, writer)
            run = _Run(self, writer, self.keywords(writer.build), show_progress, progress)
            for entry in skipped:
                run.skip(entry)
            return run.run(folder, paths)

    def remove(self, source: str) -> None:
        """Drop one source from the index (its file stays where it is)."""
        with ingest_lock(self.store):
            writer = self.store.writer()
            writer.remove_file(source)
            self.keywords(writer.build).remove_file(source)
            writer.publish()

    def _refuse_other_folder(self, folder: Path, writer: StoreWriter) -> None:
        # Sources are named "<folder name>/<path>": an index holds one folder. Ingesting another
        # would remove every file of the first, so that takes an explicit --rebuild.
        prefix = f"{folder.resolve().name}/"
        foreign = sorted(source for source in writer.records if not source.startswith(prefix))
        if foreign and not writer.rebuild:
            raise QAError(
                f"The index holds the documents of another folder ({foreign[0]}, {len(foreign)} files); indexing "
                f"{folder} would remove them. Run `qa ingest --rebuild {folder}` to replace the index with it, "
                "or give it an index of its own (QA_INDEX_DIR or QA_COLLECTION)."
            )


class _Run:
    """One ingestion: files in folder order, chunks embedded a batch at a time across files."""

    def __init__(self, ingestor: Ingestor, writer: StoreWriter, keywords: KeywordIndex, show_progress: bool,
                 progress: Progress | None) -> None:
        self.ingestor, self.writer, self.keywords, self.progress = ingestor, writer, keywords, progress
        self.report = IngestReport()
        self.open: list[_OpenFile] = []
        self.queue: list[tuple[_OpenFile, TextNode]] = []
        # The embedder sorts each flush by length so its model batches pad little: a window of 32
        # model batches embedded the bench corpus 5% faster than 8 did, and still writes every ~15 s.
        self.batch = max(ingestor.embedder.embed_batch_size * 32, 64)
        self.bar = tqdm(unit="chunk", desc="Embedding", disable=not show_progress)
        self.published = time.monotonic()
        self.chunks_total = 0

    def run(self, folder: Path, paths: list[Path]) -> IngestReport:
        settings = self.ingestor.store.settings
        records = self.writer.records
        seen: set[str] = set()
        for done, path in enumerate(paths, 1):
            if self.progress:
                self.progress(done, len(paths), "files")
            source = source_name(folder, path)
            data = read_file(path, source, settings.max_file_bytes)
            if isinstance(data, SkippedFile):
                self.skip(data)
                continue
            digest = content_hash(data)
            known = records.get(source)
            if known is not None and known.content_hash == digest and not known.pending:
                seen.add(source)
                self.report.unchanged.append(source)
                continue
            _kill_point("parse")
            parsed = parse_document(source, data)
            if isinstance(parsed, SkippedFile):
                self.skip(parsed)
                continue
            seen.add(source)
            (self.report.updated if known is not None and known.content_hash else self.report.added).append(source)
            self._start_file(parsed)
        if not seen:
            raise QAError(no_documents(folder))
        self._flush(everything=True)
        for source in sorted(set(records) - seen):
            _kill_point("remove")
            self.writer.remove_file(source)
            self.keywords.remove_file(source)
            self.report.removed.append(source)
        # Publishing an unchanged index would send every other process to reload it for nothing.
        if self.report.changed or self.writer.rebuild:
            _kill_point("commit")
            self.writer.commit(swapped=lambda: _kill_point("swapped"))
            self.ingestor.store.check_written()
        self.bar.close()
        log.info("ingested %s: %s", folder, self.report.summary())
        return self.report

    def skip(self, skipped: SkippedFile) -> None:
        log.warning("skipped %s: %s", skipped.source, skipped.reason)
        self.report.skipped.append(skipped)

    def _start_file(self, document) -> None:
        chunks = [node for node in self.ingestor.chunker.get_nodes_from_documents(to_llama_documents([document]))
                  if isinstance(node, TextNode)]
        self.writer.mark_pending(document.source, document.content_hash)
        written = self.writer.existing_ids(document.source, document.content_hash)
        todo = [chunk for chunk in chunks if chunk.id_ not in written]
        entry = _OpenFile(document.source, document.content_hash, chunks, len(todo))
        self.open.append(entry)
        self.queue.extend((entry, chunk) for chunk in todo)
        self.chunks_total += len(todo)
        self.bar.total = self.chunks_total
        self._flush()

    def _flush(self, everything: bool = False) -> None:
        while self.queue and (everything or len(self.queue) >= self.batch):
            batch, self.queue = self.queue[:self.batch], self.queue[self.batch:]
            _kill_point("embed")
            texts = [chunk.text for _, chunk in batch]
            spans = [sentence_spans(text) for text in texts]
            # One pass gives chunk vectors and sentence vectors (late chunking); the latter are
            # cached beside the keyword index, so questions need not embed sentences.
            vectors, sentence_vectors = self.ingestor.embedder.embed_chunks(texts, spans, self._embedded)
            _kill_point("write")
            self.writer.add_chunks([chunk for _, chunk in batch], vectors)
            self.keywords.put_sentences(
                (chunk.id_, chunk.metadata["source"], [(span.start, span.end) for span in chunk_spans], chunk_vectors)
                for (_, chunk), chunk_spans, chunk_vectors in zip(batch, spans, sentence_vectors))
            for entry, _ in batch:
                entry.waiting -= 1
            self.report.chunks_embedded += len(batch)
            self.bar.update(len(batch))
            self._finish_files()
        self._finish_files()

    def _embedded(self, done_in_batch: int) -> None:
        """Progress while a batch is embedded: chunks appear as they go, not once per batch."""
        if self.progress:
            self.progress(self.report.chunks_embedded + done_in_batch, self.chunks_total, "chunks")

    def _finish_files(self) -> None:
        finished = [entry for entry in self.open if entry.waiting == 0]
        self.open = [entry for entry in self.open if entry.waiting > 0]
        if finished:
            _kill_point("finish")
            self.writer.finish_files([(entry.source, entry.content_hash, len(entry.chunks)) for entry in finished])
        for entry in finished:
            self.keywords.replace_file(entry.source, entry.content_hash, [(c.id_, c.text) for c in entry.chunks])
        if finished and time.monotonic() - self.published > PUBLISH_SECONDS:
            self.writer.publish()
            self.published = time.monotonic()
