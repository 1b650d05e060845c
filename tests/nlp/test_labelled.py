"""Example texts for evidence: read from the data directory once, then from the JSON cache
until a data, taxonomy or reader file changes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from nlp import labelled
from tests.datahelp import TAXONOMY_DIR, data_dir, needs_data


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


# --------------------------------------------------------------------------------------------
# The Compact's paragraphs labelled with Action Lines (corpus/labels/)


def _compact(tmp_path: Path, records: list[dict]) -> Path:
    data = tmp_path / "data"
    (data / "gdc-text").mkdir(parents=True)
    lines = [json.dumps({"ref": str(k), "paragraph": k, "id": r["id"], "text": r["text"]})
             for k, r in enumerate(records, start=1)]
    (data / "gdc-text" / "gdc-paragraphs.jsonl").write_text("\n".join(lines) + "\n")
    return data


def _labels(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_compact_paragraphs_become_multi_label_action_line_examples(tmp_path: Path) -> None:
    from nlp.taxonomy import load_taxonomy

    data = _compact(tmp_path, [
        {"id": "GDC-1.1.d", "text": "Connect all schools and hospitals to the Internet."},
        {"id": "GDC-V.4", "text": "Our goal is a digital future for all."},
        {"id": None, "text": "We commit to:"},
    ])
    labels = _labels(tmp_path, [
        '{"id": "GDC-1.1.d", "action_lines": ["C2", "C7.e-learning", "C7.e-health"]}',
        '{"id": "GDC-V.4", "action_lines": []}',
    ])
    examples = labelled.gdc_action_line_examples(data, load_taxonomy(TAXONOMY_DIR), labels)
    # the record labelled with no line is not an example; the first label leads
    assert [(e.id, e.labels, e.source) for e in examples] == [
        ("gdc-text:1", ("C2", "C7.e-learning", "C7.e-health"), "gdc-text")]
    y = labelled.label_matrix(["C2", "C4", "C7.e-health"], examples)
    assert y.tolist() == [[True, False, True]]


@pytest.mark.parametrize("row, message", [
    ('{"id": "GDC-1.1.d", "action_lines": ["C7"]}', "unknown Action Line"),
    ('{"id": "GDC-1.1.d", "action_lines": ["C12"]}', "unknown Action Line"),
    ('{"id": "GDC-9.9.z", "action_lines": ["C2"]}', "not a record"),
    ('{"id": "GDC-1.1.d"}', "needs 'id' and 'action_lines'"),
    ('["GDC-1.1.d", "C2"]', "needs 'id' and 'action_lines'"),
    ("{broken", "needs 'id' and 'action_lines'"),
])
def test_a_bad_label_line_is_refused_with_its_line_number(tmp_path: Path, row: str,
                                                           message: str) -> None:
    from nlp.taxonomy import load_taxonomy

    data = _compact(tmp_path, [{"id": "GDC-1.1.d", "text": "Connect all schools."}])
    labels = _labels(tmp_path, ['{"id": "GDC-1.1.d", "action_lines": ["C2"]}', row])
    with pytest.raises(labelled.LabelFileError, match=f"line 2: {message}"):
        labelled.gdc_action_line_examples(data, load_taxonomy(TAXONOMY_DIR), labels)


def test_action_line_examples_leave_the_compact_out_when_the_data_has_no_compact_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nlp.taxonomy import load_taxonomy

    for reader in ("read_wsis_prizes_2021", "read_wsis_projects_2015", "read_wsis_matrix"):
        monkeypatch.setattr(labelled.datasets, reader, lambda data_dir: [])
    assert labelled.action_line_examples(tmp_path, load_taxonomy(TAXONOMY_DIR)) == []


@needs_data
def test_the_repository_labels_cover_every_compact_record_once() -> None:
    from nlp.data import read_gdc_text
    from nlp.taxonomy import load_taxonomy

    data = data_dir()
    rows = [json.loads(line) for line in
            labelled.GDC_ACTION_LINE_LABELS.read_text(encoding="utf-8").splitlines()]
    ids = [p.id for p in read_gdc_text(data) if p.id]
    assert sorted(r["id"] for r in rows) == sorted(ids) and len(set(ids)) == len(ids)
    examples = labelled.gdc_action_line_examples(data, load_taxonomy(TAXONOMY_DIR))
    assert len(examples) == sum(1 for r in rows if r["action_lines"])
    by_id = {p.id: p.text for p in read_gdc_text(data)}
    connect = next(e for e in examples if e.text == by_id["GDC-1.1.d"])
    assert {"C2", "C7.e-learning"} <= set(connect.labels)


def _descriptions(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    data = tmp_path / "data"
    (data / "digital-public-goods").mkdir(parents=True)
    with open(data / "digital-public-goods" / "descriptions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "is_registered_dpg", "description", "sdgs", "stage", "type",
                         "sectors"])
        for name, description, sdgs in rows:
            writer.writerow([name, 0, description, sdgs, "nominee", "software", ""])
    return data


def test_digital_public_goods_join_their_labels_by_row_and_name(tmp_path: Path) -> None:
    from nlp.taxonomy import load_taxonomy

    data = _descriptions(tmp_path, [
        ("OpenClinic", "Electronic health records for rural clinics", "3"),
        ("NoGoal", "A tool that declares no goal", ""),
        ("LibX", "A plotting library", "9"),
        ("MeteoLink", "Flood early warning by SMS", "11;13"),
    ])
    labels = _labels(tmp_path, [
        '{"row": 1, "name": "OpenClinic", "action_lines": ["C7.e-health"]}',
        '{"row": 2, "name": "NoGoal", "action_lines": ["C3"]}',
        '{"row": 3, "name": "LibX", "action_lines": []}',
        '{"row": 4, "name": "MeteoLink", "action_lines": ["C7.e-environment", "C2"]}',
    ])
    examples = labelled.dpg_action_line_examples(data, load_taxonomy(TAXONOMY_DIR), labels)
    # row 2 has no SDG, so the reader skips it; row 3 is labelled with no line
    assert [(e.id, e.labels, e.source) for e in examples] == [
        ("dpg-descriptions:1", ("C7.e-health",), "dpg-descriptions"),
        ("dpg-descriptions:4", ("C7.e-environment", "C2"), "dpg-descriptions")]
    assert examples[0].text.startswith("OpenClinic. Electronic health records")


def test_labels_written_for_another_version_of_the_descriptions_are_refused(
        tmp_path: Path) -> None:
    from nlp.taxonomy import load_taxonomy

    data = _descriptions(tmp_path, [("OpenClinic", "Health records", "3"),
                                    ("MeteoLink", "Flood warnings", "13")])
    labels = _labels(tmp_path, ['{"row": 1, "name": "OpenClinic", "action_lines": []}',
                                '{"row": 2, "name": "OpenClinic", "action_lines": ["C2"]}'])
    with pytest.raises(labelled.LabelFileError, match="line 2: row 2 of the data is not"):
        labelled.dpg_action_line_examples(data, load_taxonomy(TAXONOMY_DIR), labels)


@needs_data
def test_the_repository_labels_cover_every_description_row_in_order() -> None:
    from nlp.taxonomy import load_taxonomy

    data = data_dir()
    rows = [json.loads(line) for line in
            labelled.DPG_ACTION_LINE_LABELS.read_text(encoding="utf-8").splitlines()]
    with open(data / "digital-public-goods" / "descriptions.csv", encoding="utf-8",
              newline="") as handle:
        names = [r["name"] for r in csv.DictReader(handle)]
    assert [r["row"] for r in rows] == list(range(1, len(names) + 1))
    assert [r["name"] for r in rows] == names
    examples = labelled.dpg_action_line_examples(data, load_taxonomy(TAXONOMY_DIR))
    assert 400 < len(examples) <= sum(1 for r in rows if r["action_lines"])
