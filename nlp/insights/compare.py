"""Compare two documents: their label profiles side by side, the labels where they differ most,
and their closest passage pairs (one product of their stored vectors)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from nlp.insights.corpus import KEY_NAMES, CorpusView, InsightsError, rounded


def _profile(view: CorpusView, key: str, doc_id: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Tagged passages per label, their shares, and the passage count of one document."""
    rows = view.rows_of([doc_id])
    counts = view.key(key).predicted[rows].sum(axis=0).astype(np.int64)
    return counts, counts / max(len(rows), 1), len(rows)


def closest_pairs(a: np.ndarray, b: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """Up to ``k`` (i, j, cosine) pairs of rows of ``a`` and ``b``, most similar first, each
    row used at most once (greedy on the similarity matrix)."""
    if not len(a) or not len(b) or k <= 0:
        return []
    sims = a @ b.T
    order = np.argsort(-sims, axis=None, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), sims.shape[1])
        if i in used_a or j in used_b:
            continue
        pairs.append((i, j, float(sims[i, j])))
        used_a.add(i)
        used_b.add(j)
        if len(pairs) == k or len(used_a) == len(a) or len(used_b) == len(b):
            break
    return pairs


def compare_documents(view: CorpusView, doc_a: str, doc_b: str, key: str = "action_lines",
                      differences: int = 10, pairs: int = 5) -> dict[str, Any]:
    """Two documents' label profiles, the labels where they differ most and their closest
    passage pairs.

    Args:
        differences: labels listed in ``differences`` (largest gap in share first).
        pairs: closest passage pairs listed.

    Returns:
        ``{"key", "key_name", "a", "b", "profile_similarity", "profile": [{"label", "title",
        "count_a", "count_b", "share_a", "share_b", "difference"}], "differences", "pairs":
        [{"similarity", "a": passage, "b": passage}]}``; ``difference`` is share_a - share_b,
        ``profile_similarity`` the cosine of the two share vectors.

    Raises:
        InsightsError: an unknown document or key, or the same document twice.
    """
    if doc_a == doc_b:
        raise InsightsError("Pick two different documents to compare")
    scores = view.key(key)
    view.meta(doc_a), view.meta(doc_b)  # unknown ids raise here, with the id
    count_a, share_a, n_a = _profile(view, key, doc_a)
    count_b, share_b, n_b = _profile(view, key, doc_b)
    profile = []
    for j, label in enumerate(scores.labels):
        if count_a[j] or count_b[j]:
            profile.append({"label": label, "title": view.titles.get(label, label),
                            "count_a": int(count_a[j]), "count_b": int(count_b[j]),
                            "share_a": rounded(share_a[j]), "share_b": rounded(share_b[j]),
                            "difference": rounded(share_a[j] - share_b[j])})
    ranked = sorted(profile, key=lambda p: (-abs(p["difference"]), p["label"]))
    rows_a, rows_b = view.rows_of([doc_a]), view.rows_of([doc_b])
    found = closest_pairs(view.vectors[rows_a], view.vectors[rows_b], pairs)
    return {
        "key": key, "key_name": KEY_NAMES.get(key, key),
        "a": {**view.document_dict(doc_a), "passages": n_a},
        "b": {**view.document_dict(doc_b), "passages": n_b},
        "profile_similarity": rounded(_cosine(share_a, share_b)),
        "profile": profile,
        "differences": [p for p in ranked if p["difference"]][:differences],
        "pairs": [{"similarity": rounded(s), "a": view.passage_dict(int(rows_a[i])),
                   "b": view.passage_dict(int(rows_b[j]))} for i, j, s in found],
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


def document_pairs(view: CorpusView, key: str = "action_lines",
                   doc_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every pair of documents with their profile similarity, closest passage pair and the
    label where they differ most (the workbook's Compare sheet; numbers as
    :func:`compare_documents` gives them for that pair)."""
    doc_ids = list(view.doc_ids if doc_ids is None else doc_ids)
    out = []
    for doc_a, doc_b in combinations(doc_ids, 2):
        result = compare_documents(view, doc_a, doc_b, key, differences=1, pairs=1)
        top = result["differences"][0] if result["differences"] else None
        out.append({
            "a": result["a"], "b": result["b"],
            "profile_similarity": result["profile_similarity"],
            "closest_pair": result["pairs"][0]["similarity"] if result["pairs"] else None,
            "top_difference": top["label"] if top else "",
            "difference": top["difference"] if top else 0.0,
        })
    return out
