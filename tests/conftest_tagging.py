"""Fixtures for the tagger tests (imported by the test modules; the lead owns conftest.py).

Most tests use zero-shot taggers built from the taxonomy with the hash embedder (seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT, get_settings

__all__ = ["plain_taxonomy", "zero_shot_paths", "zero_shot_suite"]  # fixtures for `import *`

TAXONOMY_DIR = PROJECT_ROOT / "corpus" / "taxonomy"


def data_dir() -> Path | None:
    from nlp.data import data_available

    path = get_settings().data_dir
    return path if data_available(path) else None


needs_data = pytest.mark.skipif(
    data_dir() is None,
    reason="third-party data sets not found (set WSIS_DATA_DIR to the shared data directory)",
)


@pytest.fixture(scope="session")
def plain_taxonomy():
    """Taxonomy without the data directory (SDG goals from built-in topics)."""
    from nlp.taxonomy import load_taxonomy

    return load_taxonomy(TAXONOMY_DIR, None)


@pytest.fixture(scope="session")
def zero_shot_paths(tmp_path_factory, hash_embedder, plain_taxonomy) -> dict[str, Path]:
    from nlp.taxonomy import SCHEMES
    from nlp.training.cache import EmbeddingCache
    from nlp.training.fit import zero_shot_calibration
    from nlp.training.trainers import train_scheme

    root = tmp_path_factory.mktemp("zs-models")
    zs = zero_shot_calibration(EmbeddingCache(None, hash_embedder), plain_taxonomy, None)
    return {
        scheme: train_scheme(scheme, hash_embedder, plain_taxonomy, None, None,
                             out_dir=root / scheme / "v1", zero_shot=zs).path
        for scheme in SCHEMES
    }


@pytest.fixture(scope="session")
def zero_shot_suite(zero_shot_paths, hash_embedder, plain_taxonomy):
    from nlp.tagging.suite import TaggerSuite

    return TaggerSuite.load(zero_shot_paths, hash_embedder, plain_taxonomy)
