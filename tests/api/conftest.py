"""Fixtures of the API tests: FastAPI's TestClient, a fake embedder and zero-shot taggers.

One app over the default corpus serves the read-only tests; tests that change state get a
fresh app on their own home with a two-document corpus.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nlp.config import Settings
from nlp.embed import HashEmbedder
from tests.api.apphelp import make_settings, open_app, small_corpus


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Zero-shot taggers for the fake embedder, built once for the whole session."""
    from nlp.training.trainers import ensure_models

    home = tmp_path_factory.mktemp("models-home")
    settings = Settings(home=home, models_dir=home / "models", data_dir=None,
                        embedding_model="hash:256")
    ensure_models(settings, HashEmbedder(256))
    return home / "models"


@pytest.fixture(scope="package")
def client(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[TestClient]:
    """The default corpus, one app for every API test module; tests using it must leave it as
    they found it."""
    home = tmp_path_factory.mktemp("api-home")
    test_client, _ = open_app(make_settings(home, models_dir))
    with test_client:
        yield test_client


@pytest.fixture()
def fresh(tmp_path: Path, models_dir: Path) -> Iterator[TestClient]:
    """A private app: own home, own copy of the models, a two-document corpus."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    settings = make_settings(tmp_path / "home", models, corpus_dir=small_corpus(tmp_path / "c"))
    test_client, _ = open_app(settings)
    with test_client:
        yield test_client
