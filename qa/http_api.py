"""The JSON API under /api (ask, documents, ingestion) and /healthz, over one Engine."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from qa.answer import Partial
from qa.embedding import MODEL_ID
from qa.engine import Engine
from qa.http_common import ApiError
from qa.schema import Answer, QAError

log = logging.getLogger(__name__)


class AskRequest(BaseModel):
    """A question, the user's earlier questions of the conversation, and optionally the files to answer from."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question; at most max_question_chars characters.")
    history: list[str] = Field([], max_length=100, description="Earlier questions, oldest first, for follow-ups.")
    files: list[str] | None = Field(None, description="Answer only from these files (names as in GET /api/documents).")


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rebuild: bool = Field(False, description="Drop the index and build it anew.")


class IngestStatus(BaseModel):
    state: Literal["idle", "running", "done", "failed"] = "idle"
    rebuild: bool = False
    done: int = Field(0, description="Files read, then chunks embedded, so far.")
    total: int = Field(0, description="Files to read, then chunks to embed.")
    unit: Literal["files", "chunks"] = Field("chunks", description="What done and total count.")
    started_at: float | None = None
    finished_at: float | None = None
    report: dict[str, Any] | None = Field(None, description="What changed, once done.")
    error: str | None = None


class Answering:
    """Engine.ask for HTTP clients: known file names only, at most `concurrency` answers computed at once."""

    def __init__(self, engine: Engine, concurrency: int) -> None:
        self.engine = engine
        self._slots = threading.BoundedSemaphore(concurrency)

    def _check_files(self, files: Sequence[str] | None) -> None:
        if files is not None:
            unknown = sorted(set(files) - set(self.engine.indexed_files()))
            if unknown:
                raise ApiError(400, f"Not indexed: {', '.join(unknown)} (GET /api/documents lists the files).")

    def ask(self, question: str, history: Sequence[str] = (), files: Sequence[str] | None = None) -> Answer:
        self._check_files(files)
        with self._slots:
            return self.engine.ask(question, history, sources=files)

    def stream(self, question: str, history: Sequence[str] = (), files: Sequence[str] | None = None
               ) -> Iterator[Partial | Answer]:
        """Engine.stream under the same rules; the slot is held until the answer is complete."""
        self._check_files(files)
        with self._slots:
            yield from self.engine.stream(question, history, sources=files)


class IngestJob:
    """One background ingestion at a time, and how far it got."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._status = IngestStatus()
        self._lock = threading.Lock()

    def status(self) -> IngestStatus:
        with self._lock:
            return self._status.model_copy()

    def start(self, rebuild: bool) -> IngestStatus:
        with self._lock:
            if self._status.state == "running":
                raise ApiError(409, "An ingestion is already running; GET /api/ingest shows its progress.")
            self._status = IngestStatus(state="running", rebuild=rebuild, started_at=time.time())
        threading.Thread(target=self._run, args=(rebuild,), name="qa-ingest", daemon=True).start()
        return self.status()

    def _progress(self, done: int, total: int, unit: str = "chunks") -> None:
        with self._lock:
            self._status.done, self._status.total, self._status.unit = done, total, unit

    def _run(self, rebuild: bool) -> None:
        outcome: dict[str, Any]
        try:
            report = self.engine.ingest(rebuild=rebuild, progress=self._progress)
            outcome = {"state": "done", "report": asdict(report)}
        except QAError as error:
            outcome = {"state": "failed", "error": str(error)}
        except Exception:  # the log gets the traceback, the client a pointer to it
            log.exception("ingestion failed")
            outcome = {"state": "failed", "error": "Ingestion failed; the server log has the details."}
        with self._lock:
            self._status = self._status.model_copy(update={**outcome, "finished_at": time.time()})


def api_router(engine: Engine, answering: Answering) -> APIRouter:
    """The /api routes over `engine` (add the client guard when including it)."""
    router = APIRouter(prefix="/api", tags=["qa"])
    job = IngestJob(engine)

    @router.post("/ask", response_model=Answer, summary="Answer a question, with cited spans")
    def ask(request: AskRequest) -> Answer:
        return answering.ask(request.question, request.history, request.files)

    @router.get("/documents", summary="The indexed files")
    def documents() -> list[dict[str, Any]]:
        return [asdict(indexed) for _, indexed in sorted(engine.indexed_files().items())]

    @router.post("/documents", status_code=201, summary="Add files (.txt, .md, .html, .pdf, .docx) and index them")
    async def upload(files: Annotated[list[UploadFile], File(description="One or more files")]) -> dict[str, Any]:
        limit = engine.settings.max_file_bytes
        uploads, oversized = [], []
        for upload in files:  # an oversized file is refused by its size, not read
            if upload.size is not None and upload.size > limit:
                oversized.append({"file": upload.filename or "", "reason": f"{upload.filename} was not added: "
                                                                            f"larger than {limit} bytes"})
            else:
                uploads.append((upload.filename or "", await upload.read()))
        return await run_in_threadpool(add_files, engine, uploads, oversized)

    @router.delete("/documents/{name:path}", summary="Remove a file from the corpus folder and the index")
    def remove(name: str) -> dict[str, Any]:
        return {"removed": name, "report": asdict(engine.remove_document(name))}

    @router.post("/ingest", status_code=202, response_model=IngestStatus, summary="Re-index the corpus folder")
    def ingest(request: IngestRequest | None = None) -> IngestStatus:
        return job.start(request.rebuild if request else False)

    @router.get("/ingest", response_model=IngestStatus, summary="Progress of the last ingestion")
    def ingest_status() -> IngestStatus:
        return job.status()

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(rest: str) -> None:
        raise ApiError(404, f"No API route /api/{rest}; see /docs.")

    return router


def add_files(engine: Engine, uploads: list[tuple[str, bytes]],
              rejected: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Add each upload as the chat does (`rejected`: those already refused); a 400 when none could be added."""
    added, rejected, report = [], list(rejected or []), None
    for filename, data in uploads:
        try:
            report = engine.add_document(filename, data)
        except QAError as error:
            rejected.append({"file": filename, "reason": str(error)})
            continue
        added.append(filename)
    if not added:
        raise ApiError(400, "; ".join(item["reason"] for item in rejected) or "No files were sent.")
    return {"added": added, "rejected": rejected, "report": asdict(report)}


def health_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["qa"])

    @router.get("/healthz", summary="Index reachable, chunk count, model")
    def healthz() -> JSONResponse:
        about = {"embedding_model": MODEL_ID, "answerer": engine.settings.answerer}
        try:
            chunks = engine.store.chunk_count()
        except QAError as error:
            return JSONResponse({"status": "unavailable", "index": False, "error": str(error), **about}, 503)
        return JSONResponse({"status": "ok", "index": True, "chunks": chunks, **about})

    return router
