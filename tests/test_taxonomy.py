"""Taxonomy loading, versions and cross-walks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest_tagging import *
from conftest_tagging import TAXONOMY_DIR, data_dir, needs_data

from nlp.taxonomy import ACTION_LINES, GDC, SDGS, TaxonomyError, load_taxonomy

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


def test_gdc_levels_and_empty_sections(plain_taxonomy) -> None:
    objectives = plain_taxonomy.ids(GDC, "objective")
    assert objectives[:5] == ["GDC-1", "GDC-2", "GDC-3", "GDC-4", "GDC-5"]
    sections = plain_taxonomy.ids(GDC, "section")
    assert "GDC-1.2" in sections  # a section with no commitments yet still is a label
    assert plain_taxonomy.children(GDC, "GDC-1.2") == []
    assert plain_taxonomy.gdc_commitment_sdgs("GDC-1.1.d") == ("3", "4", "9")
    assert plain_taxonomy.get(GDC, "GDC-1.1.d").parent == "GDC-1.1"


def test_new_gdc_commitments_are_picked_up(tmp_path: Path) -> None:
    raw = yaml.safe_load((TAXONOMY_DIR / "gdc.yaml").read_text())
    raw["objectives"][0]["sections"][1]["commitments"] = [{
        "id": "GDC-1.2.a", "ref": "13(a)", "summary": "Basic digital skills for everyone.",
        "keywords": ["digital skills"], "sdgs": [4],
    }]
    (tmp_path / "gdc.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "action-lines.yaml").write_text((TAXONOMY_DIR / "action-lines.yaml").read_text())
    taxonomy = load_taxonomy(tmp_path, None)
    assert taxonomy.get(GDC, "GDC-1.2.a").parent == "GDC-1.2"
    assert "digital skills" in taxonomy.get(GDC, "GDC-1.2").keywords


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
