"""Helpers for tests that need the third-party data sets (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT, get_settings

TAXONOMY_DIR = PROJECT_ROOT / "corpus" / "taxonomy"


def data_dir() -> Path | None:
    from nlp.data import data_available

    path = get_settings().data_dir
    return path if data_available(path) else None


needs_data = pytest.mark.skipif(
    data_dir() is None,
    reason="third-party data sets not found (set WSIS_DATA_DIR to the shared data directory)",
)
