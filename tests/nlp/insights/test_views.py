"""The corpus views on a synthetic corpus with planted themes and hand-set tags: each number is
checked against what was planted."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.insights.compare import closest_pairs, compare_documents, document_pairs
from nlp.insights.corpus import InsightsError
from nlp.insights.crosswalk import crosswalk, crosswalk_rows
from nlp.insights.gaps import find_gaps
from nlp.insights.matrix import cell_passages, coverage_matrix
from nlp.insights.themes import cluster_vectors, find_themes
from nlp.search import SearchFilters
from tests.nlp.insights.synth import DOCS, PASSAGES, TAGS, synthetic_view

A, B, C, D = DOCS


@pytest.fixture(scope="module")
def view(plain_taxonomy):
    return synthetic_view(plain_taxonomy)


def _cell(matrix: dict, row: str, label: str) -> tuple[int, float]:
    j = [lab["id"] for lab in matrix["labels"]].index(label)
    found = next(r for r in matrix["rows"] if r["id"] == row)
    return found["counts"][j], found["shares"][j]


def test_matrix_shares_are_tagged_passages_over_the_documents_passages(view) -> None:
    matrix = coverage_matrix(view, "action_lines")
    assert [r["id"] for r in matrix["rows"]] == list(DOCS)
    for doc_id in DOCS:
        rows = [i for i, (d, _, _) in enumerate(PASSAGES) if d == doc_id]
        for label in ("C4", "C5", "C11", "C1"):
            tagged = sum(label in TAGS["action_lines"].get(r, []) for r in rows)
            assert _cell(matrix, doc_id, label) == (tagged, round(tagged / len(rows), 4))
    c4 = next(lab for lab in matrix["labels"] if lab["id"] == "C4")
    assert (c4["passages"], c4["rows"]) == (3, 3)


def test_matrix_groups_by_organisation_and_filters_by_metadata(view) -> None:
    matrix = coverage_matrix(view, "action_lines", group_by="organization")
    assert [r["id"] for r in matrix["rows"]] == ["Org X", "Org Y", "Org Z"]
    assert _cell(matrix, "Org X", "C4") == (2, 0.4)  # A's row 0 and B's row 3 of 5 passages
    assert next(r for r in matrix["rows"] if r["id"] == "Org X")["documents"] == 2
    dated = coverage_matrix(view, "sdgs", filters=SearchFilters(date_from="2025"))
    assert [r["id"] for r in dated["rows"]] == [A, C]  # B is 2024, D undated
    kinds = coverage_matrix(view, "sdgs", filters=SearchFilters(kind=("outcome",)))
    assert [r["id"] for r in kinds["rows"]] == [B]


def test_matrix_refuses_unknown_key_and_grouping(view) -> None:
    with pytest.raises(InsightsError, match="nope"):
        coverage_matrix(view, "nope")
    with pytest.raises(InsightsError, match="group_by"):
        coverage_matrix(view, "sdgs", group_by="colour")


def test_cell_lists_the_tagged_passages_strongest_first(view) -> None:
    cell = cell_passages(view, "action_lines", "C4", "Org X", group_by="organization")
    assert cell["total"] == 2 and cell["passages_in_row"] == 5
    assert [p["passage_id"] for p in cell["passages"]] == [f"{B}-0000", f"{A}-0000"]
    assert cell["passages"][0]["text"] == PASSAGES[3][1]
    with pytest.raises(InsightsError):
        cell_passages(view, "action_lines", "C99", A)
    with pytest.raises(InsightsError):
        cell_passages(view, "action_lines", "C4", "0000000000000000")


def test_gaps_list_labels_addressed_by_none_or_one(view) -> None:
    gaps = {g["label"]: g for g in find_gaps(view, "action_lines")["gaps"]}
    assert "C4" not in gaps and "C5" not in gaps  # three and two documents
    assert gaps["C2"]["addressed"] == 1 and gaps["C2"]["addressed_by"] == ["Alpha input"]
    assert gaps["C1"]["addressed"] == 0 and gaps["C1"]["passages"] == 0
    ordered = find_gaps(view, "action_lines")["gaps"]
    assert [g["addressed"] for g in ordered] == sorted(g["addressed"] for g in ordered)
    by_org = {g["label"]: g for g in find_gaps(view, "sdgs", by="organization")["gaps"]}
    assert "4" not in by_org and "9" not in by_org  # Org X and Org Y each
    assert by_org["1"]["addressed"] == 0
    strict = find_gaps(view, "action_lines", min_passages=2)["gaps"]
    assert "C4" in {g["label"] for g in strict}  # no document has two C4 passages


def test_cluster_vectors_recovers_planted_groups(view) -> None:
    labels = cluster_vectors(view.vectors, "agglomerative", similarity=0.8)
    themes = {name: {int(labels[i]) for i, p in enumerate(PASSAGES) if p[2] == name}
              for name in ("schools", "routing")}
    assert all(len(ids) == 1 and -1 not in ids for ids in themes.values())
    assert themes["schools"] != themes["routing"]
    assert all(labels[i] == -1 for i, p in enumerate(PASSAGES) if p[2] is None)
    rng = np.random.default_rng(1)
    big = np.repeat(view.vectors[[0, 1]], 40, axis=0)
    big = big + rng.normal(0, .02, big.shape)
    found = cluster_vectors(big / np.linalg.norm(big, axis=1, keepdims=True), "hdbscan")
    assert len(set(found[:40])) == 1 and len(set(found[40:])) == 1 and found[0] != found[40]
    with pytest.raises(InsightsError):
        cluster_vectors(view.vectors, "kmeans")


def test_themes_span_documents_with_readable_labels(view) -> None:
    steps: list[str] = []
    result = find_themes(view, similarity=0.8, progress=lambda s, f: steps.append(s))
    assert steps[0].startswith("clustering") and steps[-1] == "done"
    assert result["total_themes"] == 2
    schools = result["themes"][0]  # three documents first
    assert {d["doc_id"] for d in schools["documents"]} == {A, B, C}
    assert schools["size"] == 3 and schools["organizations"] == ["Org X", "Org Y"]
    assert any(t in ("broadband", "teachers", "schools", "digital skills")
               for t in schools["terms"])
    assert {"C4", "SDG 4"} <= set(schools["label"].split(" — ")[1].split(" · "))
    routing = result["themes"][1]
    assert {d["doc_id"] for d in routing["documents"]} == {A, C}
    assert "rpki" in " ".join(routing["terms"]) or "routing" in " ".join(routing["terms"])
    # A theme inside one document only is not a theme across inputs.
    only_c = find_themes(view, similarity=0.8, filters=SearchFilters(doc_id=(C,)))
    assert only_c["total_themes"] == 0


def test_compare_profiles_differences_and_closest_pairs(view) -> None:
    result = compare_documents(view, A, C, "action_lines")
    profile = {p["label"]: p for p in result["profile"]}
    assert profile["C4"]["share_a"] == profile["C4"]["share_b"] == round(1 / 3, 4)
    assert profile["C2"]["difference"] == round(1 / 3, 4)
    assert result["differences"][0]["label"] in ("C2", "C7.e-learning")
    assert "C4" not in [d["label"] for d in result["differences"]]
    pairs = {(p["a"]["passage_id"], p["b"]["passage_id"]) for p in result["pairs"]}
    assert (f"{A}-0000", f"{C}-0000") in pairs and (f"{A}-0001", f"{C}-0001") in pairs
    assert result["pairs"][0]["similarity"] >= result["pairs"][-1]["similarity"]
    with pytest.raises(InsightsError):
        compare_documents(view, A, A)
    every = document_pairs(view)
    assert len(every) == 6
    ac = next(p for p in every if p["a"]["doc_id"] == A and p["b"]["doc_id"] == C)
    assert ac["profile_similarity"] == result["profile_similarity"]


def test_closest_pairs_use_each_passage_once() -> None:
    a = np.eye(3, dtype=np.float32)
    b = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype=np.float32)
    assert [(i, j) for i, j, _ in closest_pairs(a, b, 5)] == [(0, 0), (2, 2), (1, 1)]


def test_crosswalk_follows_matrix_targets_to_gdc_commitments(view) -> None:
    walk = crosswalk(view, "C4")
    taxonomy = view.taxonomy
    assert [t["id"] for t in walk["targets"]] == list(taxonomy.action_line_sdg_targets("C4"))
    assert walk["action_line"]["passages"] == 3 and walk["action_line"]["documents"] == 3
    target = next(t for t in walk["targets"] if t["id"] == "4.4")
    assert target["passages"] == 2 and target["top"][0]["passage_id"] == f"{B}-0000"
    goals = {t.split(".")[0] for t in taxonomy.action_line_sdg_targets("C4")}
    ids = {c["id"] for c in walk["commitments"]}
    expected = {lab.id for lab in taxonomy.level("gdc", "commitment") if goals & set(lab.sdgs)}
    assert ids == expected and ids
    assert all(set(c["via_goals"]) <= goals for c in walk["commitments"])
    # the GDC section on C4's own subject, with the passages tagged with it
    assert [x["id"] for x in walk["sections"]] == ["GDC-1.2"]
    assert (walk["sections"][0]["passages"], walk["sections"][0]["documents"]) == (2, 2)
    assert walk["sections"][0]["top"][0]["passage_id"] == f"{B}-0000"  # row 3 scores higher
    assert crosswalk(view, "C3")["sections"] == []
    assert [x["id"] for x in crosswalk(view, "C7")["sections"]] == ["GDC-1.3", "GDC-2.1"]
    with pytest.raises(InsightsError, match="C99"):
        crosswalk(view, "C99")
    rows = crosswalk_rows(view)
    assert {r["action_line"] for r in rows} == set(taxonomy.ids("action-lines"))
    c4 = [r for r in rows if r["action_line"] == "C4" and r["step"] == "SDG target"]
    assert {r["id"]: r["passages"] for r in c4}["4.4"] == 2


def test_count_by_group_equals_a_plain_loop() -> None:
    from nlp.insights.corpus import count_by_group

    rng = np.random.default_rng(3)
    flags = rng.random((200, 7)) < 0.3
    groups = rng.integers(-1, 5, 200)  # group 4 may be empty; -1 is left out
    groups[groups == 3] = -1  # an empty group in the middle
    expected = np.array([[flags[groups == g, j].sum() for j in range(7)] for g in range(6)])
    assert (count_by_group(flags, groups, 6) == expected).all()


def test_themes_are_cached_per_corpus_and_parameters(view, plain_taxonomy) -> None:
    first: list[str] = []
    find_themes(view, similarity=0.75, progress=lambda s, f: first.append(s))
    again: list[str] = []
    find_themes(view, similarity=0.75, progress=lambda s, f: again.append(s))
    assert first[0].startswith("clustering") and again == ["done"]  # served from the cache
    other: list[str] = []  # the same stamp and documents, but another corpus object
    find_themes(synthetic_view(plain_taxonomy, seed=1), similarity=0.75,
                progress=lambda s, f: other.append(s))
    assert other[0].startswith("clustering")
