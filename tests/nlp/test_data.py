"""Data registry, checksum-verified fetch (with a local opener) and readers."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from nlp import data as datasets
from nlp.config import get_settings
from nlp.errors import DataChecksumError, DataMissingError
from tests.datahelp import data_dir, needs_data

TRAIL22 = "sdg-sentences-trail22/sentences.csv"
DPG_DESCRIPTIONS = "digital-public-goods/descriptions.csv"
DPG_EVIDENCE = "digital-public-goods/sdg-evidence.csv"
GDC_TEXT = "gdc-text/gdc-paragraphs.jsonl"
DERIVED = (TRAIL22, DPG_DESCRIPTIONS, DPG_EVIDENCE, GDC_TEXT)


def needs_files(*relative_paths: str):
    """Mark a test as a data test and skip it, naming the files, when they are absent.

    The later data sets are optional (``data_available`` does not require them), so these
    tests check for their own files rather than use ``needs_data``.
    """
    root = get_settings().data_dir
    missing = [rel for rel in relative_paths if root is None or not (Path(root) / rel).exists()]
    reason = (f"data files {missing} not found in WSIS_DATA_DIR ({root}); set WSIS_DATA_DIR to "
              "the shared data directory")

    def mark(test):
        return pytest.mark.data(pytest.mark.skipif(bool(missing), reason=reason)(test))

    return mark


def _entry(tmp_path: Path, payload: bytes, sha: str | None) -> datasets.DataFile:
    return datasets.DataFile("toy", "toy/file.csv", "owner/repo", "abc", "file.csv", sha, "MIT")


def _derived(sha: str) -> datasets.DataFile:
    return datasets.DataFile(
        "toy", "toy/filtered.csv", "owner/repo", "abc", "data/", sha, "MIT",
        derived_from=datasets.Derivation(
            sources=("https://raw.githubusercontent.com/owner/repo/abc/data/raw.csv",),
            filtering="rows overlapping the held-out set removed",
            why_manual="the filter needs the unpublished held-out texts",
        ),
    )


def test_registry_urls_point_at_pinned_commits() -> None:
    for item in datasets.REGISTRY:
        assert item.sha256 is None or len(item.sha256) == 64
        if item.derived_from is not None:
            assert item.url is None and item.derived_from.sources and item.sha256
            continue
        assert item.url is not None
        assert item.url.startswith(f"https://raw.githubusercontent.com/{item.repo}/{item.commit}/")
        assert " " not in item.url


def test_new_data_sets_are_registered_as_derived_files() -> None:
    by_path = {item.path: item for item in datasets.REGISTRY}
    assert set(DERIVED) <= set(by_path)
    assert all(by_path[rel].derived_from is not None for rel in DERIVED)
    assert by_path[TRAIL22].sha256 == (
        "1273797a25c32837179c5026b05eeb7df29a72f9ad14810e8592ebdb8fa5cb6c")
    assert by_path[TRAIL22].commit == "21321389ba20865fa11ab0832a3a5f547912828c"
    # earlier entries stay plain downloads
    assert by_path["qu-sdg-sentences/original_data.csv"].derived_from is None


@needs_files(*DERIVED)
def test_new_data_set_checksums_verify() -> None:
    status = datasets.verify(get_settings().data_dir)
    assert {rel: status[rel] for rel in DERIVED} == dict.fromkeys(DERIVED, True)


@pytest.mark.data
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


def test_fetch_reports_a_missing_derived_file_as_manual_and_fetches_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payload = b"a,b\n1,2\n"
    plain = _entry(tmp_path, payload, hashlib.sha256(payload).hexdigest())
    derived = _derived(hashlib.sha256(b"filtered\n").hexdigest())
    seen: list[str] = []

    def opener(url: str):
        seen.append(url)
        return io.BytesIO(payload)

    dest = tmp_path / "data"
    with caplog.at_level("WARNING", logger="nlp.data"):
        report = datasets.fetch(dest, [derived, plain], opener=opener)
    assert report == {"toy/filtered.csv": "manual", "toy/file.csv": "downloaded"}
    assert seen == [plain.url]  # the derived file is never downloaded
    assert not (dest / "toy/filtered.csv").exists()
    note = datasets.manual_instructions(dest, [derived, plain])
    assert list(note) == ["toy/filtered.csv"]
    for part in (str(dest / "toy/filtered.csv"), "is missing", derived.sha256,
                 "unpublished held-out texts", "data/raw.csv", "held-out set removed"):
        assert part in note["toy/filtered.csv"]
    assert note["toy/filtered.csv"] in caplog.text


def test_fetch_keeps_a_derived_file_that_is_present_or_differs(tmp_path: Path) -> None:
    good = b"filtered\n"
    derived = _derived(hashlib.sha256(good).hexdigest())
    target = tmp_path / "data/toy/filtered.csv"
    target.parent.mkdir(parents=True)

    def opener(url: str):
        raise AssertionError(f"derived files are not downloaded ({url})")

    target.write_bytes(good)
    assert datasets.fetch(tmp_path / "data", [derived], opener=opener, overwrite=True) == \
        {"toy/filtered.csv": "present"}
    assert datasets.manual_instructions(tmp_path / "data", [derived]) == {}
    target.write_bytes(b"edited by hand\n")
    assert datasets.fetch(tmp_path / "data", [derived], opener=opener) == \
        {"toy/filtered.csv": "manual"}
    assert target.read_bytes() == b"edited by hand\n"  # left for the user to replace
    assert "differs from the registry" in datasets.manual_instructions(
        tmp_path / "data", [derived])["toy/filtered.csv"]


def test_missing_file_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="WSIS_DATA_DIR"):
        datasets.read_sdg_targets(tmp_path)
    for reader in (datasets.read_trail22_sentences, datasets.read_dpg_descriptions,
                   datasets.read_dpg_evidence, datasets.read_gdc_text):
        with pytest.raises(DataMissingError, match="WSIS_DATA_DIR"):
            reader(tmp_path)


def test_new_data_sets_are_not_required_for_data_available(tmp_path: Path) -> None:
    for rel in ("sdg-taxonomy/global_targets.yml", "wsis-sdg-matrix/actions.json",
                "qu-sdg-sentences/original_data.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert datasets.data_available(tmp_path)
    (tmp_path / "qu-sdg-sentences/original_data.csv").unlink()
    assert not datasets.data_available(tmp_path)
    assert not datasets.data_available(None)


def test_readers_of_toy_files(tmp_path: Path) -> None:
    (tmp_path / "sdg-sentences-trail22").mkdir()
    (tmp_path / TRAIL22).write_text(
        "split,origin,header,text,sdg\n"
        "train,UN,,\"Water  for all.\",6\n"
        "test,paper,A title,An abstract.,13\n"
        "additional,,,A report line.,17\n", encoding="utf-8")
    assert datasets.read_trail22_sentences(tmp_path) == [
        datasets.LabelledText("trail22:1", "Water for all.", "6", "trail22-un"),
        datasets.LabelledText("trail22:2", "An abstract.", "13", "trail22-paper"),
        datasets.LabelledText("trail22:3", "A report line.", "17", "trail22-additional"),
    ]
    (tmp_path / "digital-public-goods").mkdir()
    (tmp_path / DPG_DESCRIPTIONS).write_text(
        "name,is_registered_dpg,description,sdgs,stage,type,sectors\n"
        "Atlas,1,Maps for schools.,9;4;4,nominees,software,\n"
        "Beta,0,Beta keeps records.,16,archive,data,\n", encoding="utf-8")
    assert datasets.read_dpg_descriptions(tmp_path) == [
        datasets.MultiLabelText("dpg-descriptions:1", "Atlas. Maps for schools.", ("4", "9"),
                                "dpg-descriptions"),
        datasets.MultiLabelText("dpg-descriptions:2", "Beta keeps records.", ("16",),
                                "dpg-descriptions"),
    ]
    (tmp_path / DPG_EVIDENCE).write_text(
        "name,sdg,evidence_text\n"
        "Atlas,9,Same text.\nAtlas,4,Same text.\nAtlas,4,Other text.\nBeta,9,Same text.\n",
        encoding="utf-8")
    assert [(e.id, e.label) for e in datasets.read_dpg_evidence_rows(tmp_path)] == [
        ("dpg-evidence:1", "9"), ("dpg-evidence:2", "4"), ("dpg-evidence:3", "4"),
        ("dpg-evidence:4", "9")]
    assert [(e.id, e.text, e.labels) for e in datasets.read_dpg_evidence(tmp_path)] == [
        ("dpg-evidence:1", "Same text.", ("4", "9")),  # one nominee, one text: merged
        ("dpg-evidence:3", "Other text.", ("4",)),
        ("dpg-evidence:4", "Same text.", ("9",)),  # another nominee's copy stays apart
    ]
    (tmp_path / DPG_EVIDENCE).write_text("name,sdg,evidence_text\nAtlas,18,Text.\n")
    with pytest.raises(ValueError, match="'18'"):
        datasets.read_dpg_evidence(tmp_path)
    (tmp_path / "gdc-text").mkdir()
    (tmp_path / GDC_TEXT).write_text(
        '{"ref": "11(d)", "paragraph": 11, "letter": "d", "id": "GDC-1.1.d", '
        '"objective": "GDC-1", "section": "GDC-1.1", "section_title": "Connectivity", '
        '"sdg_tags": ["3", "4"], "text": "Map and connect all schools (SDGs 3 and 4);"}\n\n',
        encoding="utf-8")
    assert datasets.read_gdc_text(tmp_path) == [datasets.GdcParagraph(
        "11(d)", 11, "d", "GDC-1.1.d", "GDC-1", "GDC-1.1", "Connectivity", ("3", "4"),
        "Map and connect all schools (SDGs 3 and 4);")]
    (tmp_path / GDC_TEXT).write_text('{"ref": "1"}\n')
    with pytest.raises(ValueError, match="line 1"):
        datasets.read_gdc_text(tmp_path)


def test_category_mapping() -> None:
    assert datasets.action_line_from_category(
        "Category 9 — AL C7. ICT applications: benefits in all aspects of life — E-learning"
    ) == "C7.e-learning"
    assert datasets.action_line_from_category("C7. ICT APPLICATIONS: E-GOVERNMENT") == \
        "C7.e-government"
    assert datasets.action_line_from_category("Category 18 — AL C11. International") == "C11"
    with pytest.raises(ValueError):
        datasets.action_line_from_category("Category 19 — Special prize")


@pytest.mark.data
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


@needs_files(TRAIL22)
def test_trail22_reader_counts() -> None:
    sentences = datasets.read_trail22_sentences(get_settings().data_dir)
    assert len(sentences) == 4654
    assert {s.label for s in sentences} == {str(n) for n in range(1, 18)}
    by_source = Counter(s.source for s in sentences)
    assert by_source == {"trail22-additional": 2796, "trail22-un": 1658, "trail22-paper": 200}
    assert len({s.id for s in sentences}) == 4654 and sentences[0].id == "trail22:1"
    per_goal = Counter(s.label for s in sentences)
    assert min(per_goal.values()) == 175 and max(per_goal.values()) == 390  # SOURCE.md


@needs_files(DPG_DESCRIPTIONS, DPG_EVIDENCE)
def test_dpg_reader_counts() -> None:
    root = get_settings().data_dir
    descriptions = datasets.read_dpg_descriptions(root)
    assert len(descriptions) == 739
    assert sum(len(d.labels) > 1 for d in descriptions) == 295  # multi-label rows (SOURCE.md)
    assert all(d.source == "dpg-descriptions" and d.labels == tuple(sorted(set(d.labels), key=int))
               for d in descriptions)
    rows = datasets.read_dpg_evidence_rows(root)
    assert len(rows) == 631
    merged = datasets.read_dpg_evidence(root)
    assert len(merged) == 539 and sum(len(e.labels) > 1 for e in merged) == 48
    assert sum(len(e.labels) for e in merged) == 631  # no row lost or counted twice
    assert {e.source for e in merged} == {"dpg-evidence"}


@needs_files(GDC_TEXT)
def test_gdc_text_reader_counts() -> None:
    records = datasets.read_gdc_text(get_settings().data_dir)
    assert len(records) == 163
    assert len({r.paragraph for r in records}) == 74
    principles = [r for r in records if r.id and r.id.startswith("GDC-P.")]
    assert [r.ref for r in principles] == [f"8({c})" for c in "abcdefghijklm"]
    lettered = [r for r in records if r.letter and r not in principles]
    assert len(lettered) == 76
    assert all(r.id and r.objective and r.section for r in lettered)
    assert sum(r.id is None for r in records) == 17  # bare lead-ins ("We commit, by 2030, to:")
    assert next(r for r in records if r.ref == "11(d)").sdg_tags == ("3", "4")
