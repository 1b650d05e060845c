"""Data registry, checksum-verified fetch (with a local opener) and readers."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from pathlib import Path

import pytest
from conftest_tagging import data_dir, needs_data

from nlp import data as datasets
from nlp.errors import DataChecksumError, DataMissingError


def _entry(tmp_path: Path, payload: bytes, sha: str | None) -> datasets.DataFile:
    return datasets.DataFile("toy", "toy/file.csv", "owner/repo", "abc", "file.csv", sha, "MIT")


def test_registry_urls_point_at_pinned_commits() -> None:
    for item in datasets.REGISTRY:
        assert item.url.startswith(f"https://raw.githubusercontent.com/{item.repo}/{item.commit}/")
        assert " " not in item.url
        assert item.sha256 is None or len(item.sha256) == 64


@needs_data
def test_registry_hashes_match_the_shared_copy() -> None:
    status = datasets.verify(data_dir())
    present = {k: v for k, v in status.items() if v is not None}
    assert present and all(present.values()), status


def test_fetch_verifies_and_writes(tmp_path: Path) -> None:
    payload = b"a,b\n1,2\n"
    item = _entry(tmp_path, payload, hashlib.sha256(payload).hexdigest())
    seen = []

    def opener(url: str):
        seen.append(url)
        return io.BytesIO(payload)

    report = datasets.fetch(tmp_path / "data", [item], opener=opener)
    assert report == {"toy/file.csv": "downloaded"}
    assert (tmp_path / "data/toy/file.csv").read_bytes() == payload
    assert seen == [item.url]
    # a second run sees the valid file and does not download again
    assert datasets.fetch(tmp_path / "data", [item], opener=opener) == {"toy/file.csv": "present"}
    assert len(seen) == 1


def test_fetch_rejects_a_checksum_mismatch_and_keeps_the_old_file(tmp_path: Path) -> None:
    good = b"good\n"
    item = _entry(tmp_path, good, hashlib.sha256(good).hexdigest())
    target = tmp_path / "data/toy/file.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old local copy")
    with pytest.raises(DataChecksumError) as info:
        datasets.fetch(tmp_path / "data", [item], opener=lambda url: io.BytesIO(b"tampered"),
                       overwrite=True)
    assert info.value.expected == item.sha256
    assert target.read_bytes() == b"old local copy"
    assert [p.name for p in target.parent.iterdir()] == ["file.csv"]  # no temp file left


def test_fetch_through_a_file_url(tmp_path: Path) -> None:
    source = tmp_path / "upstream.csv"
    source.write_bytes(b"x\n")
    item = _entry(tmp_path, b"x\n", hashlib.sha256(b"x\n").hexdigest())
    url = source.as_uri()
    report = datasets.fetch(tmp_path / "data", [item],
                            opener=lambda _url: urllib.request.urlopen(url))
    assert report["toy/file.csv"] == "downloaded"


def test_missing_file_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="WSIS_DATA_DIR"):
        datasets.read_sdg_targets(tmp_path)


def test_category_mapping() -> None:
    assert datasets.action_line_from_category(
        "Category 9 — AL C7. ICT applications: benefits in all aspects of life — E-learning"
    ) == "C7.e-learning"
    assert datasets.action_line_from_category("C7. ICT APPLICATIONS: E-GOVERNMENT") == \
        "C7.e-government"
    assert datasets.action_line_from_category("Category 18 — AL C11. International") == "C11"
    with pytest.raises(ValueError):
        datasets.action_line_from_category("Category 19 — Special prize")


@needs_data
def test_readers_return_the_documented_shapes() -> None:
    root = data_dir()
    assert len(datasets.read_sdg_goals(root)) == 17
    targets = datasets.read_sdg_targets(root)
    assert len(targets) == 169 and list(targets)[:2] == ["1.1", "1.2"]
    assert list(targets)[-1] == "17.19"
    assert sum(map(len, datasets.read_sdg_indicators(root).values())) >= 231
    prizes = datasets.read_wsis_prizes_2021(root)
    assert len(prizes) == 180 and len({p.label for p in prizes}) == 18
    assert len(datasets.read_wsis_projects_2015(root)) == 302
    matrix = datasets.read_wsis_matrix(root)
    assert [m.id for m in matrix] == list(datasets.MATRIX_ACTION_LINE_IDS)
    assert sum(len(m.links) for m in matrix) == 146
    assert all(link.goal in {str(n) for n in range(1, 18)} for m in matrix for link in m.links)
    sentences = datasets.read_sdg_sentences(root)
    assert len(sentences) > 2400 and {s.label for s in sentences} == {str(n) for n in range(1, 18)}
    assert len(datasets.read_jrc_keywords(root)) == 169
    assert "4.1" in datasets.read_aurora_queries(root)
