from __future__ import annotations

import pytest

from nlp.search import FilterError, SearchFilters, date_range, reciprocal_rank_fusion
from nlp.types import DocumentMeta
from nlp.workspace import Workspace


@pytest.fixture
def workspace(settings, hash_embedder) -> Workspace:
    ws = Workspace(settings, embedder=hash_embedder)
    ws.ensure_ready()
    return ws


def test_rrf_scores_and_order() -> None:
    fused = reciprocal_rank_fusion({"a": [(1, 0.9), (2, 0.8)], "b": [(2, 5.0), (3, 4.0)]}, k=60)
    assert [row for row, *_ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0][2] == {"a": 0.8, "b": 5.0}
    assert fused[1][1] == pytest.approx(1 / 61)


def test_date_ranges() -> None:
    assert date_range("2025") == ("2025-01-01", "2025-12-31")
    assert date_range("2025-01") == ("2025-01-01", "2025-01-31")
    assert date_range("2024-10-05") == ("2024-10-05", "2024-10-05")
    assert date_range("last year") is None


def test_filter_parsing_and_errors() -> None:
    f = SearchFilters.parse(["organization=ITU", "organization=IEC", "date-from=2025"])
    assert f.organization == ("ITU", "IEC") and f.date_from == "2025"
    with pytest.raises(FilterError, match="Unknown filter key"):
        SearchFilters.parse(["colour=blue"])
    with pytest.raises(FilterError, match="key=value"):
        SearchFilters.parse(["organization"])
    with pytest.raises(FilterError, match="not a date"):
        SearchFilters.parse(["date_to=soon"])


def test_filter_matching_by_partial_dates() -> None:
    meta = DocumentMeta(title="x", organization="ITU", kind="input", date="2025-01")
    assert SearchFilters(organization=("itu",)).matches("d", meta)
    assert not SearchFilters(kind=("outcome",)).matches("d", meta)
    assert SearchFilters(date_from="2025-01-15").matches("d", meta)  # January overlaps
    assert not SearchFilters(date_from="2025-02").matches("d", meta)
    assert SearchFilters(date_to="2025").matches("d", meta)
    assert not SearchFilters(date_to="2024-12-31").matches("d", meta)
    assert not SearchFilters(date_from="2020").matches("d", DocumentMeta(title="undated"))


@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_filters_restrict_every_mode(workspace: Workspace, mode: str) -> None:
    hits = workspace.search("Internet routing security", k=20, mode=mode,
                            filters=SearchFilters(organization=("RIPE NCC",)))
    assert hits and all(h.meta.organization == "RIPE NCC" for h in hits)
    hits = workspace.search("standardization", k=50, mode=mode,
                            filters=SearchFilters(kind=("outcome",), date_to="2024-12"))
    assert hits and {h.meta.organization for h in hits} == {"ITU-T WTSA"}


def test_doc_id_filter_and_empty_result(workspace: Workspace) -> None:
    doc_id = next(iter(workspace.index().documents))
    hits = workspace.search("digital", k=5, mode="semantic", filters=SearchFilters(doc_id=(doc_id,)))
    assert hits and {h.passage.doc_id for h in hits} == {doc_id}
    assert workspace.search("digital", filters=SearchFilters(organization=("Nobody",))) == []


def test_lexical_finds_exact_terms_and_hits_carry_offsets(workspace: Workspace) -> None:
    hits = workspace.search("MANRS", k=3, mode="lexical")
    # BM25 returns only passages that contain a query term: the one MANRS passage.
    assert len(hits) == 1 and "MANRS" in hits[0].passage.text
    hits = workspace.search("Internet Society", k=3, mode="lexical")
    document = workspace.store.get_document(hits[0].passage.doc_id)
    p = hits[0].passage
    assert document.text[p.start : p.end] == p.text
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[-1].score


def test_hybrid_fuses_both_rankings(workspace: Workspace) -> None:
    query = "Internet exchange points and routing"
    k = 10
    searcher = workspace.searcher()
    hybrid = searcher.search(query, k=k, mode="hybrid")
    depth = searcher.fusion.depth_for(k)
    assert depth > k  # each side fetches more candidates than it returns
    semantic = searcher.search(query, k=depth, mode="semantic")
    lexical = searcher.search(query, k=depth, mode="lexical")
    expected = searcher.fusion.fuse(
        [(searcher.index.row(h.passage.id), h.score) for h in semantic],
        [(searcher.index.row(h.passage.id), h.score) for h in lexical],
    )[:k]
    assert [h.passage.id for h in hybrid] == [searcher.index.passages[r].id for r, *_ in expected]
    assert [h.score for h in hybrid] == pytest.approx([s for _, s, _ in expected])
    assert set(hybrid[0].scores) <= {"semantic", "lexical"}


def test_bad_queries(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="empty"):
        workspace.search("   ")
    with pytest.raises(ValueError, match="mode"):
        workspace.search("x", mode="fuzzy")
    with pytest.raises(ValueError, match="positive"):
        workspace.search("x", k=0)


def test_near_duplicate_groups() -> None:
    from nlp.dedup import duplicate_groups

    body = ("Member States should connect every school and hospital to the Internet by 2030 "
            "and train teachers in digital skills through national programmes.")
    other = ("Routing security protects the global Internet from hijacks and leaks of "
             "prefixes announced by operators.")
    texts = [body, other, "As ITU wrote: " + body.replace("2030", "2030,"),
             "Short heading", "Short heading"]
    groups = duplicate_groups(texts)
    assert groups[0] == groups[2] == 0 and groups[1] == 1
    assert groups[3:] == [3, 4]  # too short to call a copy


@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_repeated_passages_collapse_into_one_hit(workspace: Workspace, mode: str) -> None:
    """An upload that repeats a founding passage: one result shows it, and says where else."""
    original = next(p for p in workspace.index().passages if "MANRS" in p.text)
    workspace.ingest_bytes(("Compilation of inputs\n\n" + original.text).encode(), "copy.md")
    hits = workspace.search("MANRS routing security", k=5, mode=mode)
    ids = [h.passage.id for h in hits]
    copies = [h for h in hits if "MANRS" in h.passage.text]
    assert len(copies) == 1, ids
    other = {p.doc_id for p, _ in copies[0].also_in}
    assert len(other) == 1 and other != {copies[0].passage.doc_id}
    assert copies[0].to_dict()["also_in_documents"] == 1
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    if mode != "lexical":  # BM25 returns only passages with a query word
        assert len(hits) == 5  # k is still filled
    plain = workspace.searcher()
    plain.collapse_duplicates = False
    assert len([h for h in plain.search("MANRS routing security", k=5, mode=mode)
                if "MANRS" in h.passage.text]) == 2
    # A filter that keeps one copy leaves nothing collapsed into it.
    doc = copies[0].passage.doc_id
    only = workspace.search("MANRS routing security", k=5, mode=mode,
                            filters=SearchFilters(doc_id=(doc,)))
    assert only[0].passage.doc_id == doc and only[0].also_in == ()


def test_hits_carry_clean_text(workspace: Workspace) -> None:
    hit = next(h for h in workspace.search("Promoting Cybersecurity and Trust", k=10)
               if "**" in h.passage.text)
    data = hit.to_dict()
    assert "**" in data["text"] and "**" not in data["clean_text"]
    assert "Promoting Cybersecurity and Trust (C5):" in data["clean_text"]
