"""Turn a folder of files into plain-text documents, skipping what is not readable text."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html"}
# Page furniture that carries no content; dropped before the text is indexed.
_HTML_NOISE_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template"]


@dataclass(frozen=True)
class SourceDocument:
    """The plain text of one corpus file; every character span qa reports points into `text`."""

    source: str  # "<corpus folder name>/<path inside it>", stable across machines
    text: str
    content_hash: str


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_name(corpus_dir: Path, path: Path) -> str:
    return f"{corpus_dir.resolve().name}/{path.resolve().relative_to(corpus_dir.resolve()).as_posix()}"


def source_path(corpus_dir: Path, source: str) -> Path:
    """The file behind a source name, or a ValueError if the name escapes the corpus folder."""
    folder = corpus_dir.resolve()
    inside = source.split("/", 1)[1] if "/" in source else source
    path = (folder / inside).resolve()
    if not path.is_relative_to(folder):
        raise ValueError(f"{source!r} is outside the corpus folder")
    return path


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_HTML_NOISE_TAGS):
        tag.decompose()
    lines = (" ".join(line.split()) for line in soup.get_text("\n").splitlines())
    return "\n\n".join(line for line in lines if line)


def markdown_to_text(markdown: str) -> str:
    return html_to_text(MarkdownIt("commonmark").render(markdown))


def decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), else a confident guess; None for binary or garbled bytes."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    if guess is None or guess.chaos > 0.1:
        return None
    return str(guess)


def parse_document(source: str, data: bytes) -> SourceDocument | SkippedFile:
    """The plain text of a file's bytes, by the kind its name says, or why there is none."""
    suffix = Path(source).suffix.lower()
    kind = SUPPORTED_SUFFIXES.get(suffix)
    if kind is None:
        return SkippedFile(source, f"unsupported file type {suffix or '(none)'}")
    raw = decode_text(data)
    if raw is None:
        return SkippedFile(source, "binary or not decodable as text")
    text = {"text": lambda t: t, "markdown": markdown_to_text, "html": html_to_text}[kind](raw)
    if not text.strip():
        return SkippedFile(source, "no text")
    return SourceDocument(source=source, text=text, content_hash=content_hash(data))


def read_document(path: Path, source: str, max_bytes: int) -> SourceDocument | SkippedFile:
    """Read one file into a document, or say why it was skipped."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return SkippedFile(source, f"unsupported file type {path.suffix or '(none)'}")
    try:
        if path.stat().st_size > max_bytes:
            return SkippedFile(source, f"larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as error:
        return SkippedFile(source, f"unreadable: {error.strerror or error}")
    return parse_document(source, data)


def list_corpus_files(corpus_dir: Path) -> list[Path]:
    """Files under the corpus folder, hidden ones excluded, in a stable order."""
    if not corpus_dir.exists():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise NotADirectoryError(f"corpus folder {corpus_dir} is not a folder")
    folder = corpus_dir.resolve()
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def load_corpus(corpus_dir: Path, max_bytes: int = 20_000_000, on_file: Callable[[int, int], None] | None = None,
                ) -> tuple[list[SourceDocument], list[SkippedFile]]:
    """All readable documents of a folder, and the files skipped with their reasons; `on_file(done, total)`
    after each file."""
    documents: list[SourceDocument] = []
    skipped: list[SkippedFile] = []
    paths = list_corpus_files(corpus_dir)
    for done, path in enumerate(paths, 1):
        if on_file:
            on_file(done, len(paths))
        result = read_document(path, source_name(corpus_dir, path), max_bytes)
        if isinstance(result, SkippedFile):
            log.warning("skipped %s: %s", result.source, result.reason)
            skipped.append(result)
        else:
            documents.append(result)
    return documents, skipped


# Names Windows reserves for devices (also with an extension): refused, so a corpus folder stays portable.
_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)")
MAX_NAME_BYTES = 200  # below the 255 bytes of most file systems, leaving room for the ".uploading" copy


def upload_name(filename: str) -> str:
    """The bare name an upload is stored under, or a ValueError for names qa will not store: any folder part
    is dropped ("../x.txt" and "/etc/x.txt" are "x.txt"); hidden, reserved (CON, NUL...), overlong names and
    names with control characters are refused."""
    name = Path(filename.replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or _RESERVED.match(name) or len(name.encode("utf-8", "replace")) > MAX_NAME_BYTES \
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError(f"{filename!r} is not a usable file name")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{name}: qa reads {', '.join(sorted(SUPPORTED_SUFFIXES))} files")
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


def read_source_text(corpus_dir: Path, source: str, max_bytes: int = 20_000_000) -> str:
    """The indexed text of one source, as citations' spans refer to it."""
    result = read_document(source_path(corpus_dir, source), source, max_bytes)
    if isinstance(result, SkippedFile):
        raise ValueError(f"{source}: {result.reason}")
    return result.text
