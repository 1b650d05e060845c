"""The search evaluation: metrics on hand-made rankings, the committed query set's marks, and
(with the real model) the figures the issue asks for: hybrid above both single modes."""

from __future__ import annotations

import math

import pytest

from nlp.chunk import Chunker
from nlp.search import Fusion, convex_blend
from nlp.search_quality import (
    DEFAULT_QUERIES,
    build_index,
    evaluate_search,
    judge,
    load_queries,
    normalise,
    query_metrics,
)


def test_metrics_of_a_ranking() -> None:
    items = [frozenset({7}), frozenset({3, 9})]  # item 2 is in two passages (a repeat)
    m = query_metrics([1, 7, 2, 9, 3, 4], items)
    assert m["rank"] == 2 and m["mrr@10"] == pytest.approx(0.5)
    assert m["recall@5"] == 1.0
    # row 3 repeats item 2 after row 9 found it: no second gain
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    late = query_metrics([1, 2, 4, 5, 6, 7], items)
    assert late["recall@5"] == 0.0 and late["rank"] == 6
    assert query_metrics([1, 2], items) == {"recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0,
                                            "rank": None}


def test_convex_blend_normalises_each_list() -> None:
    semantic = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 30.0), (4, 10.0)]
    fused = convex_blend({"semantic": semantic, "lexical": lexical},
                         {"semantic": 0.5, "lexical": 0.5})
    scores = {row: score for row, score, _ in fused}
    assert scores == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0})
    assert fused[0][2] == {"semantic": 0.9} and {r for r, *_ in fused} == {1, 2, 3, 4}
    only_lexical = Fusion("blend", weight=0.0).fuse(semantic, lexical)
    assert only_lexical[0][0] == 3 and only_lexical[0][1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="weight"):
        Fusion("blend", weight=1.5)
    with pytest.raises(ValueError, match="method"):
        Fusion("mean")


def test_normalise_folds_marks_quotes_and_space() -> None:
    assert normalise("**The  Internet\u2019s**\n[core](#)") == "the internet's core"


def test_every_phrase_of_the_query_set_marks_a_passage(corpus_documents, hash_embedder) -> None:
    queries = load_queries(DEFAULT_QUERIES)
    assert len(queries) >= 60
    assert {"concept", "paraphrase", "keyword", "quote"} <= {q.kind for q in queries}
    index = build_index(corpus_documents, Chunker(), hash_embedder)
    judgments, problems = judge(index, queries)
    assert problems == []
    assert all(judgments[q.id] for q in queries)
    # Marks do not depend on passage boundaries: smaller passages still hold every phrase.
    _, problems = judge(build_index(corpus_documents, Chunker(30, 90), hash_embedder), queries)
    assert problems == []


def test_load_queries_refuses_bad_lines(tmp_path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "query": "x", "relevant": []}\n')
    with pytest.raises(ValueError, match="relevant"):
        load_queries(path)


@pytest.mark.model
def test_hybrid_beats_both_single_modes_on_the_query_set(corpus_documents, real_embedder) -> None:
    result = evaluate_search(corpus_documents, load_queries(DEFAULT_QUERIES), real_embedder)
    figures = {mode: block["figures"] for mode, block in result["modes"].items()}
    assert result["problems"] == []
    for single in ("semantic", "lexical"):
        for key in ("recall@5", "mrr@10"):
            assert figures["hybrid"][key] > figures[single][key], figures
    # generous floors against regressions (measured: bench/results/search-quality.md)
    assert figures["hybrid"]["recall@5"] >= 0.85 and figures["hybrid"]["mrr@10"] >= 0.75
