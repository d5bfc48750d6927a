"""Turn a folder of files into plain-text documents, skipping with a reason what is not readable text.

What a file's text is belongs to its format (qa/formats/); this module decides which entries
of a folder are read at all: regular files only, symbolic links never followed, names that
can be shown and stored, sizes checked before anything is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.formats import Unreadable, format_for, supported_suffixes
from qa.formats.markup import html_to_text, markdown_to_text
from qa.formats.text import decode_text

__all__ = ["SourceDocument", "SkippedFile", "content_hash", "decode_text", "html_to_text", "list_corpus_files",
           "load_corpus", "markdown_to_text", "parse_document", "read_document", "read_source_text", "save_upload",
           "scan_corpus", "source_name", "source_path", "upload_name"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = supported_suffixes()


@dataclass(frozen=True)
class SourceDocument:
    """The plain text of one corpus file; every character span qa reports points into `text`."""

    source: str  # "<corpus folder name>/<path inside it>", stable across machines
    text: str
    content_hash: str
    page_starts: tuple[int, ...] = ()  # where page i+1 starts in `text`, for paged formats (PDF)

    def page_at(self, offset: int) -> int | None:
        """The page number at a character offset, or None for formats without pages."""
        import bisect

        return max(bisect.bisect_right(self.page_starts, offset), 1) if self.page_starts else None


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_name(corpus_dir: Path, path: Path) -> str:
    """The stable name of a corpus entry; a symbolic link is named by where it is, not where it points."""
    folder = corpus_dir.resolve()
    entry = Path(os.path.abspath(path))
    if not entry.is_relative_to(folder):
        entry = entry.parent.resolve() / entry.name
    return f"{folder.name}/{entry.relative_to(folder).as_posix()}"


def source_path(corpus_dir: Path, source: str) -> Path:
    """The file behind a source name, or a ValueError if the name escapes the corpus folder."""
    folder = corpus_dir.resolve()
    inside = source.split("/", 1)[1] if "/" in source else source
    path = (folder / inside).resolve()
    if not path.is_relative_to(folder):
        raise ValueError(f"{source!r} is outside the corpus folder")
    return path


def printable(name: str) -> str:
    """A file name safe to show and store: undecodable bytes as U+FFFD, control characters escaped."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)


def _name_problem(source: str) -> str | None:
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8; rename the file"
    if not all(ch.isprintable() for ch in source):
        return "its name contains control characters (a line break?); rename the file"
    return None


def parse_document(source: str, data: bytes) -> SourceDocument | SkippedFile:
    """The plain text of a file's bytes, by the kind its name says, or why there is none."""
    suffix = Path(source).suffix.lower()
    fmt = format_for(suffix)
    if fmt is None:
        return SkippedFile(source, f"unsupported file type {suffix or '(none)'}")
    try:
        parsed = fmt.parse(data)
    except Unreadable as why:
        return SkippedFile(source, str(why))
    except RecursionError:  # a parser's own recursion on absurdly nested input
        return SkippedFile(source, f"too deeply nested to read as {fmt.name}")
    if not parsed.text.strip():
        return SkippedFile(source, "no text")
    return SourceDocument(source=source, text=parsed.text, content_hash=content_hash(data),
                          page_starts=parsed.page_starts)


def _read_regular_file(path: Path, max_bytes: int) -> bytes | str:
    """The bytes of a regular file, or the reason it is not read. Never follows a symbolic link, never
    blocks on a FIFO or device (the check is on the opened file), never reads more than max_bytes + 1."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if path.is_symlink():
            return "a symbolic link (not followed)"
        return f"unreadable: {error.strerror or error}"
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            return "a folder"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (a FIFO, socket or device)"
        if info.st_size > max_bytes:
            return f"larger than {max_bytes} bytes"
        try:
            data = handle.read(max_bytes + 1)
        except OSError as error:
            return f"unreadable: {error.strerror or error}"
    if len(data) > max_bytes:  # grew since it was listed
        return f"larger than {max_bytes} bytes"
    return data


def read_file(path: Path, source: str, max_bytes: int) -> bytes | SkippedFile:
    """The bytes of one corpus file qa can read (unparsed: its hash may show it unchanged), or why not."""
    problem = _name_problem(source)
    if problem:
        return SkippedFile(printable(source), problem)
    if format_for(path.suffix) is None:
        return SkippedFile(source, f"unsupported file type {path.suffix or '(none)'}")
    data = _read_regular_file(path, max_bytes)
    return SkippedFile(source, data) if isinstance(data, str) else data


def read_document(path: Path, source: str, max_bytes: int) -> SourceDocument | SkippedFile:
    """Read one file into a document, or say why it was skipped."""
    data = read_file(path, source, max_bytes)
    return data if isinstance(data, SkippedFile) else parse_document(source, data)


def scan_corpus(corpus_dir: Path) -> tuple[list[Path], list[SkippedFile]]:
    """The regular files under the corpus folder (hidden ones excluded) in a stable order, and the entries
    that are not read, with why: symbolic links (never followed), FIFOs and devices, unreadable folders."""
    if not corpus_dir.exists():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise NotADirectoryError(f"corpus folder {corpus_dir} is not a folder")
    folder = corpus_dir.resolve()
    files: list[Path] = []
    skipped: list[SkippedFile] = []

    def unreadable_folder(error: OSError) -> None:
        where = Path(error.filename) if error.filename else folder
        skipped.append(SkippedFile(printable(source_name(folder, where)), f"unreadable folder: {error.strerror}"))

    for root, dirs, names in os.walk(folder, onerror=unreadable_folder):
        here = Path(root)
        dirs.sort()
        kept_dirs = []
        for name in dirs:
            if name.startswith("."):
                continue
            if (here / name).is_symlink():
                skipped.append(SkippedFile(printable(source_name(folder, here / name)), "a symbolic link to a folder (not followed)"))
            else:
                kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = here / name
            why = _not_a_plain_file(folder, path)
            if why:
                skipped.append(SkippedFile(printable(source_name(folder, path)), why))
            else:
                files.append(path)
    return sorted(files), skipped


def _not_a_plain_file(folder: Path, path: Path) -> str | None:
    try:
        info = path.lstat()
    except OSError as error:
        return f"unreadable: {error.strerror}"
    if stat.S_ISLNK(info.st_mode):
        target = path.resolve()
        if not target.is_relative_to(folder):
            return "a symbolic link to a file outside the corpus folder (not followed)"
        if target.is_file():
            return f"a symbolic link to {printable(source_name(folder, target))}, which is read under its own name"
        return "a symbolic link (not followed)"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    return None


def list_corpus_files(corpus_dir: Path) -> list[Path]:
    """Regular files under the corpus folder, hidden ones and symbolic links excluded, in a stable order."""
    return scan_corpus(corpus_dir)[0]


def load_corpus(corpus_dir: Path, max_bytes: int = 20_000_000, on_file: Callable[[int, int], None] | None = None,
                ) -> tuple[list[SourceDocument], list[SkippedFile]]:
    """All readable documents of a folder, and the entries skipped with their reasons; `on_file(done, total)`
    after each file."""
    documents: list[SourceDocument] = []
    paths, skipped = scan_corpus(corpus_dir)
    for done, path in enumerate(paths, 1):
        if on_file:
            on_file(done, len(paths))
        result = read_document(path, source_name(corpus_dir, path), max_bytes)
        if isinstance(result, SkippedFile):
            skipped.append(result)
        else:
            documents.append(result)
    for item in skipped:
        log.warning("skipped %s: %s", item.source, item.reason)
    return documents, skipped


# Names Windows reserves for devices (also with an extension): refused, so a corpus folder stays portable.
_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)")
MAX_NAME_BYTES = 200  # below the 255 bytes of most file systems, leaving room for the ".uploading" copy


def upload_name(filename: str) -> str:
    """The bare name an upload is stored under, or a ValueError for names qa will not store: any folder part
    is dropped ("../x.txt" and "/etc/x.txt" are "x.txt"); hidden, reserved (CON, NUL...) and overlong names
    are refused, and so are names that cannot be shown (control characters, not UTF-8)."""
    name = Path(filename.replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or _RESERVED.match(name) or len(name.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        raise ValueError(f"{filename!r} is not a usable file name")
    if format_for(Path(name).suffix) is None:
        raise ValueError(f"{name}: qa reads {', '.join(SUPPORTED_SUFFIXES)} files")
    problem = _name_problem(name)
    if problem:
        raise ValueError(f"{printable(name)}: {problem}")
    return name


def save_upload(corpus_dir: Path, filename: str, data: bytes) -> Path:
    """Write an uploaded file into the corpus folder under its bare name; no path can escape it."""
    name = upload_name(filename)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir.resolve() / name
    temporary = target.with_name(f".{name}.uploading")
    temporary.write_bytes(data)
    temporary.replace(target)  # readers never see half a file
    return target


def read_document_at(corpus_dir: Path, source: str, max_bytes: int = 20_000_000) -> SourceDocument:
    """The indexed document of one source (its text, and pages for paged formats); ValueError if unreadable."""
    result = read_document(source_path(corpus_dir, source), source, max_bytes)
    if isinstance(result, SkippedFile):
        raise ValueError(f"{source}: {result.reason}")
    return result


def read_source_text(corpus_dir: Path, source: str, max_bytes: int = 20_000_000) -> str:
    """The indexed text of one source, as citations' spans refer to it."""
    return read_document_at(corpus_dir, source, max_bytes).text
