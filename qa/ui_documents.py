"""The documents panel: the indexed files, uploads (never replacing a file unasked), re-indexing,
deleting, a file's chunks, and a whole document with a cited span marked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from qa import ui_render as render
from qa.engine import Engine
from qa.ingest import IngestReport
from qa.schema import DocumentExists, QAError
from qa.ui_chat import Building

EMPTY_INDEX = "The index is empty: add files here or put them in the corpus folder and press Re-index."
DELETE_MODES = ["Only from the index (re-indexing brings it back)", "From the index and the corpus folder"]


def _progress(progress: gr.Progress, desc: str) -> Callable[..., None]:
    def report(done: int, total: int, unit: str = "chunks") -> None:
        progress((done, total), desc=f"{desc}: {unit}", unit=unit)

    return report


def _report(report: IngestReport) -> list[str]:
    return [f"{item.source}: {item.reason}" for item in report.skipped]


def _discard(path: str) -> None:
    """Remove Gradio's temporary copy of an upload (and its folder, once empty): the corpus has its own copy."""
    try:
        Path(path).unlink(missing_ok=True)
        Path(path).parent.rmdir()
    except OSError:
        pass  # not empty, or already gone


class Documents:
    """Handlers of the documents panel; each returns the table, the report and the file pickers."""

    def __init__(self, engine: Engine, building: Building) -> None:
        self.engine = engine
        self.building = building

    def show(self, message: str = "", sources: list[str] | None = None) -> tuple:
        """(table rows, report, document picker, search-only-in picker)."""
        files = self.engine.indexed_files()
        names = sorted(files)
        if not names and not message:
            message = render.notice(EMPTY_INDEX)
        chosen = [name for name in sources or [] if name in files]
        return (render.file_rows(files), message, gr.update(choices=names, value=names[0] if names else None),
                gr.update(choices=names, value=chosen))

    def _read(self, path: str) -> bytes:
        """An upload's bytes, its size checked on disk first: an oversized file is never read into memory."""
        limit = self.engine.settings.max_file_bytes
        try:
            if Path(path).stat().st_size > limit:
                raise QAError(f"{Path(path).name} was not added: larger than {limit} bytes")
            return Path(path).read_bytes()
        except OSError as error:
            raise QAError(f"{Path(path).name} was not added: the upload could not be read ({error.strerror})") from None

    def upload(self, paths: list[str] | None, sources: list[str] | None, progress=gr.Progress()) -> tuple:  # noqa: B008 (Gradio's idiom)
        """Add uploaded files; a name already in the folder waits for Replace or Keep (nothing is overwritten)."""
        ok, bad, waiting = [], [], []
        with self.building:
            for path in paths or []:
                name = Path(path).name
                try:
                    report = self.engine.add_document(name, self._read(path),
                                                      progress=_progress(progress, f"Indexing {name}"))
                except DocumentExists as error:
                    waiting.append(path)  # kept until the user answers Replace or Keep
                    bad.append(str(error))
                    continue
                except QAError as error:
                    bad.append(str(error))
                    _discard(path)
                    continue
                _discard(path)
                ok.append(f"{name} added. Index: {report.summary().splitlines()[0]}")
                bad += _report(report)
        return (*self.show(render.status(ok, bad), sources), None, waiting, gr.update(visible=bool(waiting)))

    def replace(self, waiting: list[str], sources: list[str] | None, progress=gr.Progress()) -> tuple:  # noqa: B008 (Gradio's idiom)
        """The user said yes: replace the waiting files."""
        ok, bad = [], []
        with self.building:
            for path in waiting or []:
                name = Path(path).name
                try:
                    report = self.engine.add_document(name, self._read(path), replace=True,
                                                      progress=_progress(progress, f"Indexing {name}"))
                except QAError as error:
                    bad.append(str(error))
                    continue
                finally:
                    _discard(path)
                ok.append(f"{name} replaced. Index: {report.summary().splitlines()[0]}")
        return (*self.show(render.status(ok, bad), sources), [], gr.update(visible=False))

    def keep(self, waiting: list[str], sources: list[str] | None) -> tuple:
        names = ", ".join(Path(path).name for path in waiting or [])
        for path in waiting or []:
            _discard(path)
        return (*self.show(render.status([f"Kept the original {names}; the upload was discarded."]), sources), [],
                gr.update(visible=False))

    def reindex(self, sources: list[str] | None, progress=gr.Progress()) -> tuple:  # noqa: B008 (Gradio's idiom)
        progress(0, desc="Reading the folder")
        with self.building:
            try:
                report = self.engine.ingest(progress=_progress(progress, "Re-indexing"))
            except QAError as error:
                return self.show(render.status(bad=[str(error)]), sources)
        return self.show(render.status([f"Re-indexed: {report.summary().splitlines()[0]}"], _report(report)), sources)

    def delete(self, source: str | None, mode: str, sources: list[str] | None) -> tuple:
        if not source:
            return (*self.show(render.status(bad=["Pick a document first."]), sources), "")
        from_disk = mode == DELETE_MODES[1]
        try:
            with self.building:
                self.engine.delete_document(source, from_disk=from_disk)
        except (QAError, ValueError, OSError) as error:
            return (*self.show(render.status(bad=[f"{source} was not deleted: {error}"]), sources), "")
        where = "the index and the corpus folder" if from_disk else "the index (the file stays in the folder)"
        return (*self.show(render.status([f"{source} deleted from {where}."]), sources), "")

    def chunks(self, source: str | None) -> str:
        if not source:
            return render.notice("Pick a document first.")
        return render.chunks_view(source, self.engine.chunks_of(source))

    def open(self, request: str) -> str:
        """A whole document, from a source's Open button ({"source", "start", "end"}) or the picker."""
        try:
            wanted = json.loads(request)
            source, start, end = str(wanted["source"]), wanted.get("start"), wanted.get("end")
            return render.document_view(source, self.engine.document_text(source), start, end)
        except (ValueError, KeyError, TypeError):
            return render.notice("That document cannot be opened.")
        except QAError as error:
            return render.notice(str(error))
