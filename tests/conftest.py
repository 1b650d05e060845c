"""Shared fixtures: a fast fake embedder for most tests, the real bundled model for a few."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT, Settings, get_settings
from nlp.embed import HashEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CORPUS = PROJECT_ROOT / "corpus" / "wsis20"


@pytest.fixture(scope="session")
def hash_embedder() -> HashEmbedder:
    return HashEmbedder(256)


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from nlp.embed import load_embedder

    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", embedding_model="hash:256")


@pytest.fixture
def env_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the environment-driven settings (CLI, app factory) at a fresh home."""
    home = tmp_path / "env-home"
    monkeypatch.setenv("WSIS_HOME", str(home))
    monkeypatch.setenv("WSIS_EMBEDDING_MODEL", "hash:256")
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def corpus_documents():
    from nlp.load import load_paths

    report = load_paths([CORPUS])
    assert not report.errors
    return report.documents
