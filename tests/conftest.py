"""Shared fixtures: one real embedding model per test session, real Chroma stores in tmp dirs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.config import Settings
from qa.embedding import MiniLMEmbedding
from qa.engine import Engine

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
pytest_plugins = ["ui_fixtures"]  # the browser tests' module-scoped engine, server and Chromium


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedding:
    return MiniLMEmbedding()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seed articles, free to change."""
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def make_engine(tmp_path: Path, embedder: MiniLMEmbedding) -> Callable[..., Engine]:
    """Engines over tmp_path/index with the session's model; keyword arguments override settings."""

    def build(rebuilding: bool = False, **overrides) -> Engine:
        values = {"corpus_dir": tmp_path / "seeds", "index_dir": tmp_path / "index", **overrides}
        return Engine(Settings(**values), embedder=embedder, rebuilding=rebuilding)

    return build


@pytest.fixture(scope="session")
def seeds_engine(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedding) -> Engine:
    """An engine with the seed articles indexed, shared by read-only tests."""
    root = tmp_path_factory.mktemp("seeds-engine")
    shutil.copytree(SEEDS, root / "seeds")
    engine = Engine(Settings(corpus_dir=root / "seeds", index_dir=root / "index"), embedder=embedder)
    engine.ingest()
    return engine
