"""Example texts for evidence: read from the data directory once, then from the JSON cache
until a data, taxonomy or reader file changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlp import labelled
from tests.datahelp import TAXONOMY_DIR


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Each read of the data sets, with the data directory's ``texts.json`` as their texts."""
    calls: list[Path] = []

    def read(taxonomy_dir: Path, data_dir: Path | None) -> dict[str, str]:
        calls.append(data_dir)
        return json.loads((data_dir / "texts.json").read_text())

    monkeypatch.setattr(labelled, "_example_texts", read)
    monkeypatch.setattr(labelled.datasets, "data_available", lambda d: d is not None)
    labelled._cached_example_texts.cache_clear()
    yield calls
    labelled._cached_example_texts.cache_clear()


def _new_process() -> None:
    labelled._cached_example_texts.cache_clear()


def test_texts_come_from_the_cache_until_a_data_file_changes(reads, tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "texts.json").write_text(json.dumps({"ex-1": "first text", "ex-2": "second"}))
    assert labelled.example_snippet("ex-1", TAXONOMY_DIR, data, cache) == "first text"
    assert len(reads) == 1 and (cache / "example-texts.json").is_file()
    _new_process()
    assert labelled.example_snippet("ex-2", TAXONOMY_DIR, data, cache) == "second"
    assert len(reads) == 1  # from the cache file
    # A changed data file (another size and time) is read again.
    (data / "texts.json").write_text(json.dumps({"ex-1": "a new first text"}))
    stat = (data / "texts.json").stat()
    os.utime(data / "texts.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    _new_process()
    assert labelled.example_snippet("ex-1", TAXONOMY_DIR, data, cache) == "a new first text"
    assert len(reads) == 2


def test_a_damaged_cache_is_rebuilt_and_no_cache_dir_reads_each_time(reads, tmp_path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "texts.json").write_text(json.dumps({"ex-1": "first text"}))
    cache.mkdir()
    (cache / "example-texts.json").write_text("{not json")
    assert labelled.example_snippet("ex-1", TAXONOMY_DIR, data, cache) == "first text"
    assert json.loads((cache / "example-texts.json").read_text())["texts"] == {
        "ex-1": "first text"}
    _new_process()
    assert labelled.example_snippet("ex-1", TAXONOMY_DIR, data) == "first text"
    _new_process()
    assert labelled.example_snippet("missing", TAXONOMY_DIR, data) == ""
    assert len(reads) == 3
