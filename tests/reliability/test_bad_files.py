"""Bad files in the corpus folder (issue 11, items 5 and 8): each is skipped with a clear reason or
indexed correctly, one bad entry never aborts the ingest, and every run ends in bounded time.

Every case goes through the real Ingestor (or the `qa` CLI) into a real Chroma store in a tmp dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD = "The harbour authority said the new ferry will carry 1,200 passengers from next spring."


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO opened for reading blocks forever)."""
    def expired(*_):
        raise TimeoutError(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def ingest(make_engine, tmp_path: Path, build, seconds: int = 120):
    """A corpus of one good file plus what `build(folder)` adds, ingested by a real engine."""
    folder = tmp_path / "seeds"
    folder.mkdir(exist_ok=True)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    build(folder)
    engine = make_engine()
    with deadline(seconds):
        report = engine.ingest()
    assert "seeds/good.txt" in engine.indexed_files()
    return engine, report


def reasons(report) -> dict[str, str]:
    return {item.source: item.reason for item in report.skipped}


def indexed_text(engine, source: str) -> str:
    return " ".join(passage.text for passage in engine.chunks_of(source))


def test_a_symlink_to_a_file_outside_the_corpus_is_not_followed(make_engine, tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("The vault code is 8841.")
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "link.txt").symlink_to(secret))
    assert reasons(report) == {"seeds/link.txt": "a symbolic link to a file outside the corpus folder (not followed)"}
    assert set(engine.indexed_files()) == {"seeds/good.txt"}


def test_a_symlink_to_another_corpus_file_is_not_indexed_twice(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "again.txt").symlink_to(folder / "good.txt"))
    assert reasons(report) == {"seeds/again.txt": "a symbolic link to seeds/good.txt, which is read under its own name"}
    assert set(engine.indexed_files()) == {"seeds/good.txt"}


def test_a_symlink_to_a_folder_is_not_followed(make_engine, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.txt").write_text("Other text that must not be indexed.")
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "more").symlink_to(elsewhere))
    assert reasons(report) == {"seeds/more": "a symbolic link to a folder (not followed)"}
    assert set(engine.indexed_files()) == {"seeds/good.txt"}


def test_a_name_with_non_utf8_bytes_is_skipped_and_shown_readably(make_engine, tmp_path):
    def build(folder):
        with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
            handle.write(b"Text under a Latin-1 name.")

    engine, report = ingest(make_engine, tmp_path, build)
    assert reasons(report) == {"seeds/caf\ufffd.txt": "its name is not valid UTF-8; rename the file"}
    assert set(engine.indexed_files()) == {"seeds/good.txt"}
    report.summary().encode("utf-8")  # printable as it is


def test_a_name_with_a_line_break_is_skipped_and_shown_escaped(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path,
                            lambda folder: (folder / "two\nlines.txt").write_text("Spoofed report line."))
    assert reasons(report) == {"seeds/two\\nlines.txt": "its name contains control characters (a line break?); rename the file"}
    assert "\n" not in "".join(reasons(report))


def test_names_with_a_leading_dash_and_unicode_are_indexed(make_engine, tmp_path):
    def build(folder):
        (folder / "-rf.txt").write_text("The dash file says the pier is 300 metres long.")
        (folder / "rapport été 日本.md").write_text("# Été\n\nThe **summer** timetable starts in June.")

    engine, report = ingest(make_engine, tmp_path, build)
    assert not report.skipped
    assert "300 metres" in indexed_text(engine, "seeds/-rf.txt")
    assert "The summer timetable starts in June." in indexed_text(engine, "seeds/rapport été 日本.md")


def test_a_fifo_is_skipped_without_blocking(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path, lambda folder: os.mkfifo(folder / "pipe.txt"), seconds=60)
    assert reasons(report) == {"seeds/pipe.txt": "not a regular file (a FIFO, socket or device)"}


def test_a_folder_named_like_a_file_is_a_folder(make_engine, tmp_path):
    def build(folder):
        (folder / "notes.txt").mkdir()
        (folder / "notes.txt" / "inner.txt").write_text("The inner note says the gate opens at six.")

    engine, report = ingest(make_engine, tmp_path, build)
    assert not report.skipped
    assert "gate opens at six" in indexed_text(engine, "seeds/notes.txt/inner.txt")


def test_binary_with_a_txt_name_is_skipped(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path,
                            lambda folder: (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40))
    assert reasons(report) == {"seeds/photo.txt": "binary or not decodable as text"}


def test_nul_bytes_are_stripped_and_never_indexed(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "nul.txt").write_bytes(
        b"The lighthouse\x00 was built in 1887 by the harbour board.\x00\n"))
    assert not report.skipped
    text = indexed_text(engine, "seeds/nul.txt")
    assert text == "The lighthouse was built in 1887 by the harbour board."
    answer = engine.ask("When was the lighthouse built?")
    assert all("\x00" not in c.quote and "\x00" not in c.context for c in answer.citations)


def test_invalid_utf8_is_decoded_with_replacement_not_mojibake(make_engine, tmp_path):
    data = "Le café du port ouvre à sept heures, près du quai.".encode() + b" Broken \xff byte."
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "cafe.txt").write_bytes(data))
    assert not report.skipped
    text = indexed_text(engine, "seeds/cafe.txt")
    assert "café du port ouvre à sept heures" in text and "Ã" not in text and "Broken \ufffd byte." in text


def test_utf16_with_a_bom_is_indexed_as_text(make_engine, tmp_path):
    engine, report = ingest(make_engine, tmp_path, lambda folder: (folder / "utf16.txt").write_bytes(
        "The customs office closes at noon on Saturdays.".encode("utf-16")))
    assert not report.skipped
    assert indexed_text(engine, "seeds/utf16.txt") == "The customs office closes at noon on Saturdays."


def test_deeply_nested_html_is_indexed_and_script_only_html_skipped(make_engine, tmp_path):
    def build(folder):
        depth = 20_000
        (folder / "deep.html").write_text("<div>" * depth + "<p>The deep page says the <b>tide</b> turns at four.</p>"
                                          + "</div>" * depth)
        (folder / "script.html").write_text("<html><head><script>" + "var x = 1;\n" * 1000 + "</script></head></html>")

    engine, report = ingest(make_engine, tmp_path, build)
    assert reasons(report) == {"seeds/script.html": "no text"}
    assert indexed_text(engine, "seeds/deep.html") == "The deep page says the tide turns at four."


def test_a_200_mb_text_file_is_skipped_by_its_size_without_being_read(make_engine, tmp_path):
    def build(folder):
        with open(folder / "huge.txt", "wb") as handle:  # sparse: 200 MB long, no disk used, nothing to read
            handle.truncate(200_000_000)

    started = time.monotonic()
    engine, report = ingest(make_engine, tmp_path, build, seconds=60)
    assert reasons(report) == {"seeds/huge.txt": "larger than 20000000 bytes"}
    assert time.monotonic() - started < 60


def _without_root_file_access() -> None:
    """In the child before exec: drop root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
    from the capability bounding set, so the exec'd `qa` reads files as their permissions say."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_an_unreadable_file_is_skipped_through_the_cli(tmp_path):
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    (folder / "locked.txt").write_text("Nobody may read this.")
    (folder / "locked.txt").chmod(0)
    env = {**os.environ, "QA_CORPUS_DIR": str(folder), "QA_INDEX_DIR": str(tmp_path / "index"), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, capture_output=True, text=True, timeout=300,
                            preexec_fn=_without_root_file_access if os.geteuid() == 0 else None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 added" in result.stdout and "1 skipped" in result.stdout
    assert "skipped seeds/locked.txt: unreadable: Permission denied" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_every_bad_entry_at_once_through_the_cli(tmp_path):
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    (folder / "link.txt").symlink_to("/etc/hostname")
    (folder / "again.txt").symlink_to(folder / "good.txt")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"Latin-1 name.")
    (folder / "two\nlines.txt").write_text("Spoof.")
    os.mkfifo(folder / "pipe.txt")
    (folder / "photo.txt").write_bytes(bytes(range(256)) * 10)
    with open(folder / "huge.txt", "wb") as handle:
        handle.truncate(200_000_000)
    env = {**os.environ, "QA_CORPUS_DIR": str(folder), "QA_INDEX_DIR": str(tmp_path / "index"), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 added" in result.stdout and "7 skipped" in result.stdout
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr


@pytest.mark.slow
def test_ten_thousand_tiny_files_are_all_indexed_in_bounded_time(make_engine, tmp_path):
    def build(folder):
        for number in range(10_000):
            sub = folder / f"batch{number // 1000}"
            sub.mkdir(exist_ok=True)
            (sub / f"note{number}.txt").write_text(f"Note {number}: valve {number} was checked.")

    started = time.monotonic()
    engine, report = ingest(make_engine, tmp_path, build, seconds=900)
    assert len(report.added) == 10_001 and not report.skipped
    assert len(engine.indexed_files()) == 10_001
    print(f"10,000 tiny files ingested in {time.monotonic() - started:.1f} s")
