"""`import qa` and `qa --help` stay light: the heavy libraries load only when an answer is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ["chromadb", "llama_index", "torch", "transformers", "gradio", "fastapi", "numpy"]
PROBE = "import sys; {code}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))))"


def loaded_after(code: str) -> set[str]:
    """The heavy top-level packages a fresh interpreter has imported after running `code`."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("code", ["import qa", "import qa.cli; qa.cli.build_parser()",
                                  "from qa import Answer, Citation, QAError"])
def test_importing_qa_loads_no_heavy_library(code):
    assert loaded_after(code) == set()


def test_qa_help_prints_without_loading_the_engine():
    done = subprocess.run([sys.executable, "-m", "qa", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "ingest" in done.stdout and done.stderr == ""


def test_the_lazy_entry_points_still_resolve():
    done = subprocess.run([sys.executable, "-c", "import qa; print(callable(qa.ask), callable(qa.get_engine), "
                                                 "callable(qa.as_retriever))"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
    with pytest.raises(AttributeError):
        import qa

        qa.not_a_thing  # noqa: B018
