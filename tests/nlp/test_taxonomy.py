"""Taxonomy loading, versions and cross-walks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlp import data as datasets
from nlp.config import get_settings
from nlp.taxonomy import (
    ACTION_LINES,
    GDC,
    GDC_FOLLOW_UP,
    SDGS,
    TaxonomyError,
    load_taxonomy,
)
from tests.datahelp import TAXONOMY_DIR, data_dir, needs_data

C7_SUBLINES = ["C7.e-government", "C7.e-business", "C7.e-learning", "C7.e-health",
               "C7.e-employment", "C7.e-environment", "C7.e-agriculture", "C7.e-science"]


def test_action_lines_and_c7_hierarchy(plain_taxonomy) -> None:
    ids = plain_taxonomy.ids(ACTION_LINES)
    assert ids[:6] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert [lab.id for lab in plain_taxonomy.children(ACTION_LINES, "C7")] == C7_SUBLINES
    assert len(ids) == 19  # 18 leaves + the C7 parent
    assert plain_taxonomy.versions[ACTION_LINES] == "2003-geneva-plan-of-action"


def test_matrix_crosswalk(plain_taxonomy) -> None:
    assert plain_taxonomy.action_line_sdgs("C2") == ("1", "8", "9", "11")
    assert "9.1" in plain_taxonomy.action_line_sdg_targets("C2")
    # C7 has no own Matrix links: it inherits its sub-lines'
    assert "4" in plain_taxonomy.action_line_sdgs("C7")
    assert plain_taxonomy.matrix_consistency(["C2", "C11"], ["9", "16"]) == {"C2": ["9"], "C11": []}


# Every GDC id of the earlier, partial gdc.yaml (git show 3c3e19d:corpus/taxonomy/gdc.yaml):
# the complete file must keep each one, at the same level.
EARLIER_GDC_IDS = {
    "objective": ["GDC-1", "GDC-2", "GDC-3", "GDC-4", "GDC-5", "GDC-FU"],
    "section": ["GDC-1.1", "GDC-1.2", "GDC-1.3", "GDC-2.1", "GDC-3.1", "GDC-3.2", "GDC-3.3",
                "GDC-3.4", "GDC-4.1", "GDC-4.2", "GDC-4.3", "GDC-4.4", "GDC-5.1", "GDC-FU.1"],
    "commitment": ["GDC-1.1.b", "GDC-1.1.d", "GDC-1.3.a", "GDC-1.3.c", "GDC-1.3.d", "GDC-1.3.f",
                   "GDC-3.2.a", "GDC-3.2.b", "GDC-3.2.c", "GDC-3.2.d", "GDC-3.3.30", "GDC-3.4.34",
                   "GDC-3.4.e", "GDC-4.2.a", "GDC-4.2.b", "GDC-4.2.c", "GDC-4.4.48", "GDC-5.1.63",
                   "GDC-FU.1.68", "GDC-FU.1.70", "GDC-FU.1.71", "GDC-FU.1.72"],
}
GDC_COUNTS = yaml.safe_load((TAXONOMY_DIR / "gdc.yaml").read_text())["counts"]
_DATA = get_settings().data_dir
# The data directory when it holds the adopted GDC text (an optional data set), else None.
GDC_TEXT = _DATA if _DATA and (_DATA / "gdc-text/gdc-paragraphs.jsonl").exists() else None


def test_gdc_is_complete(plain_taxonomy) -> None:
    assert plain_taxonomy.ids(GDC, "objective") == ["GDC-1", "GDC-2", "GDC-3", "GDC-4", "GDC-5",
                                                    GDC_FOLLOW_UP]
    objectives = [i for i in plain_taxonomy.ids(GDC, "objective") if i != GDC_FOLLOW_UP]
    assert len(objectives) == GDC_COUNTS["objectives"] == 5
    assert len(plain_taxonomy.ids(GDC, "section")) == GDC_COUNTS["sections"] == 15
    commitments = plain_taxonomy.level(GDC, "commitment")
    assert len(commitments) == 125 == (GDC_COUNTS["lettered_commitments"]
                                       + GDC_COUNTS["paragraph_level_items"])
    # lettered ids end in a letter (GDC-1.1.d, GDC-3.1.25a), paragraph-level ones in a number
    assert sum(not c.id[-1].isdigit() for c in commitments) == 76
    principles = plain_taxonomy.ids(GDC, "principle")
    assert principles == [f"GDC-P.{c}" for c in "abcdefghijklm"]
    assert len(principles) == GDC_COUNTS["principles"] == 13
    assert len(plain_taxonomy.labels[GDC]) == 6 + 15 + 125 + 13
    assert len({lab.id for lab in plain_taxonomy.labels[GDC]}) == len(plain_taxonomy.labels[GDC])


def test_gdc_keeps_every_earlier_id_and_adds_section_4_5(plain_taxonomy) -> None:
    for level, ids in EARLIER_GDC_IDS.items():
        assert set(ids) <= set(plain_taxonomy.ids(GDC, level)), level
    assert plain_taxonomy.get(GDC, "GDC-4.5").title == (
        "Data for the Sustainable Development Goals and for development")
    assert plain_taxonomy.get(GDC, "GDC-4.5").parent == "GDC-4"
    assert [c.id for c in plain_taxonomy.children(GDC, "GDC-4.5")] == [
        "GDC-4.5.43", "GDC-4.5.44", "GDC-4.5.a", "GDC-4.5.b", "GDC-4.5.c"]


def test_gdc_hierarchy(plain_taxonomy) -> None:
    for commitment in plain_taxonomy.level(GDC, "commitment"):
        section = plain_taxonomy.get(GDC, commitment.parent)
        assert section.level == "section", commitment.id
        assert plain_taxonomy.get(GDC, section.parent).level == "objective", section.id
        assert commitment.id.startswith(section.id + "."), commitment.id
        assert commitment.sdgs and all(g in {str(n) for n in range(1, 18)}
                                       for g in commitment.sdgs), commitment.id
    for section in plain_taxonomy.level(GDC, "section"):
        assert plain_taxonomy.children(GDC, section.id), f"{section.id} has no commitments"
    for principle in plain_taxonomy.level(GDC, "principle"):
        assert principle.parent is None and principle.title and principle.texts
        assert principle.prototype_texts()[0] == principle.title
    assert plain_taxonomy.children(GDC, "GDC-1")[0].id == "GDC-1.1"


def test_gdc_sdgs_are_the_compacts_own_tags(plain_taxonomy) -> None:
    assert plain_taxonomy.gdc_commitment_sdgs("GDC-1.1.d") == ("3", "4")  # "(SDGs 3 and 4)"
    assert plain_taxonomy.gdc_commitment_sdgs("GDC-1.1.b") == ("1", "9")
    assert plain_taxonomy.get(GDC, "GDC-1.1.d").parent == "GDC-1.1"
    # a section links the goals of its commitments
    assert {"3", "4", "9"} <= set(plain_taxonomy.get(GDC, "GDC-1.1").sdgs)


def test_gdc_objective_of(plain_taxonomy) -> None:
    assert plain_taxonomy.gdc_objective_of("GDC-1.1.d") == "GDC-1"
    assert plain_taxonomy.gdc_objective_of("GDC-4.5.a") == "GDC-4"
    assert plain_taxonomy.gdc_objective_of("GDC-4.4.48") == "GDC-4"
    assert plain_taxonomy.gdc_objective_of("GDC-FU.1.70") == GDC_FOLLOW_UP
    assert plain_taxonomy.gdc_objective_of("GDC-3.2") == "GDC-3"
    assert plain_taxonomy.gdc_objective_of("GDC-5") == "GDC-5"
    for commitment in plain_taxonomy.level(GDC, "commitment"):
        objective = plain_taxonomy.gdc_objective_of(commitment.id)
        assert commitment.id.startswith(objective + "."), commitment.id
    with pytest.raises(ValueError, match="GDC-P.a"):
        plain_taxonomy.gdc_objective_of("GDC-P.a")
    with pytest.raises(KeyError):
        plain_taxonomy.gdc_objective_of("GDC-9.9.z")


def test_gdc_preamble_is_kept_but_not_a_label(plain_taxonomy) -> None:
    preamble = plain_taxonomy.gdc_preamble
    assert [p.id for p in preamble] == [f"GDC-V.{n}" for n in (1, 2, 3, 4, 5, 6, 7, 9)]
    assert len(preamble) == GDC_COUNTS["preamble_paragraphs"]
    assert all(p.texts and p.level == "preamble" for p in preamble)
    assert not any(lab.id.startswith("GDC-V.") for lab in plain_taxonomy.labels[GDC])
    with pytest.raises(KeyError):
        plain_taxonomy.get(GDC, "GDC-V.1")


@pytest.mark.data
@pytest.mark.skipif(GDC_TEXT is None, reason="gdc-text/gdc-paragraphs.jsonl not found in "
                    "WSIS_DATA_DIR (set it to the shared data directory)")
def test_gdc_taxonomy_matches_the_adopted_text(plain_taxonomy) -> None:
    assert GDC_TEXT is not None
    records = datasets.read_gdc_text(GDC_TEXT)
    text_ids = {r.id for r in records if r.id}
    label_ids = {lab.id for lab in plain_taxonomy.labels[GDC]
                 if lab.level in ("commitment", "principle")}
    assert text_ids == label_ids | {p.id for p in plain_taxonomy.gdc_preamble}
    for record in records:
        if record.id not in label_ids or record.id.startswith("GDC-P."):
            continue
        label = plain_taxonomy.get(GDC, record.id)
        assert label.parent == record.section, record.id
        assert plain_taxonomy.gdc_objective_of(record.id) == (record.objective or GDC_FOLLOW_UP)
        if record.sdg_tags and record.sdg_tags != ("all",):  # numbers given: copied exactly
            assert label.sdgs == tuple(sorted(record.sdg_tags, key=int)), record.id


def test_new_gdc_commitments_are_picked_up(tmp_path: Path) -> None:
    raw = yaml.safe_load((TAXONOMY_DIR / "gdc.yaml").read_text())
    raw["objectives"][0]["sections"][1]["commitments"].append({
        "id": "GDC-1.2.z", "ref": "13(z)", "summary": "A commitment added to the file later.",
        "keywords": ["a brand new skill"], "sdgs": [4],
    })
    (tmp_path / "gdc.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "action-lines.yaml").write_text((TAXONOMY_DIR / "action-lines.yaml").read_text())
    taxonomy = load_taxonomy(tmp_path, None)
    assert taxonomy.get(GDC, "GDC-1.2.z").parent == "GDC-1.2"
    assert taxonomy.gdc_objective_of("GDC-1.2.z") == "GDC-1"
    assert "a brand new skill" in taxonomy.get(GDC, "GDC-1.2").keywords
    assert len(taxonomy.level(GDC, "commitment")) == 126


def test_an_empty_gdc_section_is_still_a_label(tmp_path: Path) -> None:
    raw = yaml.safe_load((TAXONOMY_DIR / "gdc.yaml").read_text())
    raw["objectives"][0]["sections"][1]["commitments"] = []
    (tmp_path / "gdc.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "action-lines.yaml").write_text((TAXONOMY_DIR / "action-lines.yaml").read_text())
    taxonomy = load_taxonomy(tmp_path, None)
    assert "GDC-1.2" in taxonomy.ids(GDC, "section")
    assert taxonomy.children(GDC, "GDC-1.2") == []
    assert taxonomy.get(GDC, "GDC-1.2").sdgs == ()


def test_a_repeated_gdc_id_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load((TAXONOMY_DIR / "gdc.yaml").read_text())
    raw["cross_cutting_principles"][1]["id"] = "GDC-P.a"
    (tmp_path / "gdc.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "action-lines.yaml").write_text((TAXONOMY_DIR / "action-lines.yaml").read_text())
    with pytest.raises(TaxonomyError, match="GDC-P.a"):
        load_taxonomy(tmp_path, None)


def test_sdg_goals_without_data_use_builtin_topics(plain_taxonomy) -> None:
    assert plain_taxonomy.ids(SDGS, "goal") == [str(n) for n in range(1, 18)]
    assert len(plain_taxonomy.ids(SDGS, "target")) == 169
    assert plain_taxonomy.sdg_source == "built-in topics"


@needs_data
def test_sdg_targets_from_data_dir() -> None:
    taxonomy = load_taxonomy(TAXONOMY_DIR, data_dir())
    targets = taxonomy.ids(SDGS, "target")
    assert len(targets) == 169 and targets[0] == "1.1" and targets[-1] == "17.19"
    assert taxonomy.get(SDGS, "4.1").parent == "4"
    assert taxonomy.get(SDGS, "4.1").keywords  # JRC keywords


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="action-lines.yaml"):
        load_taxonomy(tmp_path, None)


def test_fingerprint_changes_with_the_taxonomy(plain_taxonomy, tmp_path: Path) -> None:
    raw = yaml.safe_load((TAXONOMY_DIR / "action-lines.yaml").read_text())
    raw["action_lines"][0]["keywords"].append("a brand new keyword")
    (tmp_path / "action-lines.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "gdc.yaml").write_text((TAXONOMY_DIR / "gdc.yaml").read_text())
    changed = load_taxonomy(tmp_path, None)
    assert changed.fingerprint(ACTION_LINES) != plain_taxonomy.fingerprint(ACTION_LINES)
    assert changed.fingerprint(GDC) == plain_taxonomy.fingerprint(GDC)


def test_action_lines_link_to_the_gdc_sections_on_their_subject(plain_taxonomy) -> None:
    links = plain_taxonomy.gdc_section_links()
    assert links == {"GDC-1.1": ("C2",), "GDC-1.2": ("C4",), "GDC-3.3": ("C5",),
                     "GDC-1.3": ("C7.e-government",), "GDC-2.1": ("C7.e-business",),
                     "GDC-3.4": ("C9",)}
    assert set(links) <= set(plain_taxonomy.ids(GDC, "section"))


def _with_links(tmp_path: Path, line: str, sections: list[str]) -> Path:
    raw = yaml.safe_load((TAXONOMY_DIR / "action-lines.yaml").read_text())
    next(x for x in raw["action_lines"] if x["id"] == line)["gdc_sections"] = sections
    (tmp_path / "action-lines.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "gdc.yaml").write_text((TAXONOMY_DIR / "gdc.yaml").read_text())
    return tmp_path


def test_a_link_to_an_unknown_gdc_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"C3 .*GDC-9\.9.*not a section"):
        load_taxonomy(_with_links(tmp_path, "C3", ["GDC-9.9"]), None)
    with pytest.raises(TaxonomyError, match="GDC-1.1.d"):  # a commitment is not a section
        load_taxonomy(_with_links(tmp_path, "C3", ["GDC-1.1.d"]), None)


def test_a_new_link_changes_the_gdc_fingerprint_only(plain_taxonomy, tmp_path: Path) -> None:
    changed = load_taxonomy(_with_links(tmp_path, "C3", ["GDC-4.2"]), None)
    assert changed.gdc_section_links()["GDC-4.2"] == ("C3",)
    assert changed.fingerprint(GDC) != plain_taxonomy.fingerprint(GDC)
    assert changed.fingerprint(ACTION_LINES) == plain_taxonomy.fingerprint(ACTION_LINES)


def test_loading_again_reuses_the_parse_until_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "gdc.yaml").write_text((TAXONOMY_DIR / "gdc.yaml").read_text())
    text = (TAXONOMY_DIR / "action-lines.yaml").read_text()
    (tmp_path / "action-lines.yaml").write_text(text)
    first, second = load_taxonomy(tmp_path, None), load_taxonomy(tmp_path, None)
    assert first.labels == second.labels and first.versions == second.versions
    # Each caller owns its lists: changing one taxonomy leaves the next load alone.
    assert first.labels[GDC] is not second.labels[GDC]
    first.labels[GDC].clear()
    assert load_taxonomy(tmp_path, None).labels[GDC] == second.labels[GDC]
    # An edit of the same size, at once, is still seen (the files' bytes are compared).
    title = first.get(ACTION_LINES, "C1").title
    assert title[0] != "X"
    edited = text.replace(title, "X" + title[1:], 1)
    assert len(edited) == len(text)
    (tmp_path / "action-lines.yaml").write_text(edited)
    assert load_taxonomy(tmp_path, None).get(ACTION_LINES, "C1").title == "X" + title[1:]


def test_the_parsed_taxonomy_is_kept_between_processes(tmp_path: Path, monkeypatch) -> None:
    from nlp import taxonomy as tx

    folder, cache = tmp_path / "taxonomy", tmp_path / "cache"
    folder.mkdir()
    for name in ("gdc.yaml", "action-lines.yaml"):
        (folder / name).write_text((TAXONOMY_DIR / name).read_text())
    data = data_dir() if datasets.data_available(data_dir()) else None
    plain = load_taxonomy(folder, data)
    tx._PARSED.clear()  # a new process
    assert load_taxonomy(folder, data, cache_dir=cache).labels == plain.labels
    assert (cache / "taxonomy.json").is_file()
    tx._PARSED.clear()
    monkeypatch.setattr(tx, "_load_gdc", lambda path: pytest.fail("parsed again"))
    again = load_taxonomy(folder, data, cache_dir=cache)  # from the JSON file
    assert again.labels == plain.labels and again.versions == plain.versions
    assert again.sdg_source == plain.sdg_source and again.gdc_preamble == plain.gdc_preamble
    assert all(isinstance(lab.texts, tuple) for lab in again.labels[GDC])
    # A changed file is parsed again, whatever the cache holds.
    monkeypatch.undo()
    tx._PARSED.clear()
    (folder / "gdc.yaml").write_text((TAXONOMY_DIR / "gdc.yaml").read_text() + "\n# edited\n")
    monkeypatch.setattr(tx, "_load_gdc", lambda path: pytest.fail("parsed again"))
    with pytest.raises(pytest.fail.Exception, match="parsed again"):
        load_taxonomy(folder, data, cache_dir=cache)
