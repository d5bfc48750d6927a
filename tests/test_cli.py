"""The `qa` command as a shell user meets it."""

import subprocess
import sys

import pytest

import qa.api
from qa.cli import main
from qa.config import get_settings


@pytest.fixture
def cli_env(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(qa.api, "_engine", None)
    get_settings.cache_clear()
    yield corpus
    get_settings.cache_clear()


def test_help_explains_every_command():
    result = subprocess.run([sys.executable, "-m", "qa", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("ingest", "ask", "chat", "eval"):
        assert command in result.stdout


def test_ingest_ask_and_chat(cli_env, capsys, monkeypatch):
    assert main(["ingest"]) == 0
    assert "5 added" in capsys.readouterr().out

    assert main(["ask", "Which battery suppliers did Xiaomi pick?"]) == 0
    out = capsys.readouterr().out
    assert "CATL" in out.splitlines()[0]
    assert "Sources:" in out and "[1] seeds/001_52ba53fcb0081ea9.txt (characters" in out

    typed = iter(["Which battery suppliers did Xiaomi pick?", "When was that reported?", "", "unused"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert main(["chat"]) == 0
    out = capsys.readouterr().out
    assert "CATL" in out and "August 17" in out


def test_unanswerable_question_shows_closest_passages(cli_env, capsys):
    assert main(["ask", "What is the top speed of Xiaomi's electric sedan?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The documents don't say.") and "Closest passages:" in out


def test_errors_are_messages_with_exit_code_2(cli_env, tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["ask", "   "]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "qa: Please type a question."
