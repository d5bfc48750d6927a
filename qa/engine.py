"""The one place that wires settings, store, retriever and answerer into a question-answering engine."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
from llama_index.core.schema import QueryBundle

from qa.answer import ANSWERERS, REFUSAL_TEXT, Answerer, Draft, Partial, make_citation
from qa.chunking import SentenceChunker
from qa.config import Settings
from qa.decision import Decision, choose_decision
from qa.documents import (
    SkippedFile,
    parse_document,
    read_source_text,
    save_upload,
    source_name,
    source_path,
    upload_name,
)
from qa.embedding import MODEL_ID, MiniLMEmbedding
from qa.ingest import Ingestor, IngestReport, Progress
from qa.integrity import IndexWatch
from qa.questions import condense, validate_history, validate_question
from qa.ranking import Evidence, SentenceRanker
from qa.reader import Reader, default_model_dir, load_reader
from qa.retrieve import HybridRetriever, keyword_index_for, passage_of
from qa.schema import Answer, DocumentExists, EmptyIndex, Passage, QAError, UnknownDocument
from qa.store import ChromaStore
from qa.store_records import IndexedFile, index_signature

CLOSEST_SHOWN = 3  # passages shown with a refusal

log = logging.getLogger(__name__)


class Engine:
    """Ingests a folder and answers questions about it with cited sentences."""

    def __init__(self, settings: Settings, embedder: MiniLMEmbedding | None = None, rebuilding: bool = False,
                 reader: Reader | None = None) -> None:
        """`rebuilding=True` opens an index built with other settings so `ingest(rebuild=True)` can replace it."""
        self.settings = settings
        self.embedder = embedder or MiniLMEmbedding(embed_batch_size=settings.embed_batch_size)
        model_dir = settings.reader_dir or default_model_dir()
        self.reader = reader or load_reader(model_dir)
        self.decision: Decision = choose_decision(settings.decision, model_dir).with_threshold(settings.refusal_threshold)
        self.ranker = SentenceRanker(self.reader, self.decision, settings.reader_candidates)
        self.chunker = SentenceChunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        self._open_index(rebuilding)
        self.answerer = make_answerer(settings, self.reader)
        self._ingest_lock = threading.Lock()
        self._reopen_lock = threading.Lock()

    def _open_index(self, rebuilding: bool) -> None:
        signature = index_signature(self.settings, getattr(self.embedder, "model_id", MODEL_ID), self.embedder.dimension)
        self.store = ChromaStore(self.settings, signature, check_signature=not rebuilding)
        self.retriever = HybridRetriever(
            self.store, self.embedder, self.settings.dense_top_k, self.settings.keyword_top_k, self.settings.top_k
        )
        self._watch = None if self.settings.chroma_host else IndexWatch(self.settings.index_dir)

    def _follow_index(self, rebuilding: bool = False) -> None:
        """Another process rebuilt the index folder (or this rebuild finds it damaged): open it afresh.
        A folder deleted under this process is an IndexCorrupt naming `qa ingest --rebuild`."""
        with self._reopen_lock:
            if self._watch is not None and self._watch.needs_reopen(rebuilding):
                self.store.close()
                self._open_index(rebuilding)

    def ingest(self, folder: Path | None = None, rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> IngestReport:
        """Index `folder` (the settings' corpus folder by default); one ingestion at a time."""
        with self._ingest_lock:
            self._follow_index(rebuilding=rebuild)
            try:
                return self._ingestor().ingest(folder or self.settings.corpus_dir, rebuild, show_progress, progress)
            finally:
                self.retriever.refresh(sync=True)

    def _ingestor(self) -> Ingestor:
        return Ingestor(self.store, self.chunker, self.embedder, lambda build: keyword_index_for(self.store, build))

    def add_document(self, filename: str, data: bytes, progress: Progress | None = None,
                     replace: bool = False) -> IngestReport:
        """Save an uploaded file into the corpus folder and index it; unreadable files are refused, and so
        is a file of the same name unless `replace` (an identical one is just indexed)."""
        try:
            name = upload_name(filename)
        except ValueError as error:
            raise QAError(f"{filename} was not added: {error}") from error
        if len(data) > self.settings.max_file_bytes:
            raise QAError(f"{name} was not added: larger than {self.settings.max_file_bytes} bytes")
        parsed = parse_document(name, data)
        if isinstance(parsed, SkippedFile):
            raise QAError(f"{name} was not added: {parsed.reason}")
        existing = self.settings.corpus_dir / name
        if not replace and existing.exists() and existing.read_bytes() != data:
            raise DocumentExists(f"{name} already exists in the corpus folder; replace it or rename the upload.")
        save_upload(self.settings.corpus_dir, name, data)
        return self.ingest(progress=progress)

    def remove_document(self, source: str) -> IngestReport:
        """Delete an indexed file (a name from `indexed_files()`) from the corpus folder and the index."""
        folder = self.settings.corpus_dir
        try:
            path = source_path(folder, source)
        except ValueError as error:
            raise QAError(f"{source} was not removed: {error}") from error
        if source not in self.indexed_files() or not path.is_file() or source_name(folder, path) != source:
            raise UnknownDocument(f"{source} is not a file of the corpus folder {folder}")
        data = path.read_bytes()
        path.unlink()
        try:
            return self.ingest()
        except QAError:
            save_upload(path.parent, path.name, data)  # the index still holds it: keep the two in line
            raise

    def indexed_files(self) -> dict[str, IndexedFile]:
        return self.store.indexed_files()

    def delete_document(self, source: str, from_disk: bool = False) -> None:
        """Drop a source from the index, and its file from the corpus folder if `from_disk`
        (otherwise the next re-index brings it back)."""
        if from_disk:
            self.remove_document(source)
            return
        if source not in self.indexed_files():
            raise UnknownDocument(f"{source} is not in the index")
        with self._ingest_lock:
            self._ingestor().remove(source)
            self.retriever.refresh(sync=True)

    def chunks_of(self, source: str) -> list[Passage]:
        """The indexed chunks of one source, in document order."""
        return [Passage(source, node.start_char_idx or 0, node.end_char_idx or 0, node.get_content(), 0.0, node.id_)
                for node in self.store.chunks_of(source)]

    def document_text(self, source: str) -> str:
        """The plain text of a source as it was indexed; citations' offsets point into it."""
        try:
            return read_source_text(self.settings.corpus_dir, source, self.settings.max_file_bytes)
        except (OSError, ValueError) as error:
            raise QAError(f"{source} cannot be opened: {error}") from error

    def evidence(self, question: str, history: Sequence[str] = (), sources: Collection[str] | None = None) -> Evidence:
        """Checked question, retrieved chunks and their sentences ranked by the reader; no answer yet.

        `sources`, when given, limits the evidence to those files (names as in `indexed_files()`).
        """
        question = validate_question(question, self.settings.max_question_chars)
        self._follow_index()
        history = validate_history(history, self.settings.max_question_chars)
        if self.retriever.chunk_count == 0:
            raise EmptyIndex("The index is empty. Add documents and run `qa ingest` (or re-index in the chat).")
        standalone = condense(question, history)
        query_vector = np.asarray(self.embedder.get_query_embedding(standalone), dtype=np.float32)
        hits = self.retriever.restricted_to(sources).retrieve(QueryBundle(standalone, embedding=query_vector.tolist()))
        sentences = self.retriever.sentences_of(hits)
        # A follow-up's standalone form leads with the earlier question; its own words say what is asked now.
        own = [] if standalone == question else [self.embedder.get_query_embedding(question)]
        question_vectors = np.asarray([query_vector, *own], dtype=np.float32)
        return self.ranker.rank(question, standalone, question_vectors, hits, sentences, self.retriever.term_statistics)

    def ask(self, question: str, history: Sequence[str] = (), sources: Collection[str] | None = None) -> Answer:
        """Answer `question`; `history` is the user's earlier questions in this conversation."""
        return self.respond(self.evidence(question, history, sources))

    def respond(self, evidence: Evidence) -> Answer:
        """The answer the evidence supports, or a refusal with the closest passages."""
        draft = None
        for update in self.drafts(evidence):
            draft = update if isinstance(update, Draft) else draft
        return self.finish(evidence, draft)

    def drafts(self, evidence: Evidence) -> Iterator[Partial | Draft | None]:
        """The answerer's progress updates (generative ones stream), then its Draft, or None when not asked.

        The decision is taken here, once, for every answerer: the extractive one is asked only when it
        accepts the best sentence; a generative one is asked anyway and applies it to each claim it writes.
        """
        evidence.accepted = self.decision.accepts(evidence.best)
        if not (evidence.accepted or getattr(self.answerer, "asks_anyway", False)):
            yield None
            return
        stream = getattr(self.answerer, "stream", None)
        if stream is None:
            yield self.answerer.compose(evidence)
            return
        yield from stream(evidence)

    def finish(self, evidence: Evidence, draft: Draft | None) -> Answer:
        passages = [passage_of(hit) for hit in evidence.passages]
        dropped, reason = (draft.dropped, draft.reason) if draft is not None else ([], "")
        if draft is None or not draft.text:  # the one place qa refuses
            closest = [make_citation(n, c) for n, c in enumerate(evidence.candidates[:CLOSEST_SHOWN], 1)]
            return Answer(text=REFUSAL_TEXT, citations=closest, refused=True, question=evidence.question,
                          standalone_question=evidence.standalone, passages=passages, dropped=dropped, reason=reason)
        return Answer(text=draft.text, citations=draft.citations, refused=False, question=evidence.question,
                      standalone_question=evidence.standalone, passages=passages, dropped=dropped, reason=reason)

    def stream(self, question: str, history: Sequence[str] = (), sources: Collection[str] | None = None
               ) -> Iterator[Partial | Answer]:
        """Like `ask`, with progress: `Partial(checked, pending)` while a generative answerer writes (the
        checked text is final, the pending line is not), then the Answer, always last."""
        evidence = self.evidence(question, history, sources)
        draft = None
        for update in self.drafts(evidence):
            if isinstance(update, Partial):
                yield update
            else:
                draft = update if isinstance(update, Draft) else draft
        yield self.finish(evidence, draft)

    def conversation(self) -> Conversation:
        return Conversation(self)


class Conversation:
    """A chat with memory: follow-up questions are read in the light of the earlier ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.questions: list[str] = []

    def ask(self, question: str) -> Answer:
        answer = self.engine.ask(question, self.questions)
        self.questions.append(answer.question)
        return answer


def make_answerer(settings: Settings, reader: Reader | None = None) -> Answerer:
    """The answerer the settings name; every answerer composes from the same ranked evidence."""
    try:
        factory = ANSWERERS[settings.answerer]
    except KeyError:
        raise QAError(f"Unknown answerer {settings.answerer!r}; choose one of {', '.join(ANSWERERS)}.") from None
    return factory(settings, reader)
