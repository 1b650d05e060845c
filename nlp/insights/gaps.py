"""Gaps: labels that no document (or organisation), or only one, addresses.

"Addresses" means at least ``min_passages`` of its passages are tagged with the label, so a
single stray tag need not count as coverage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlp.insights.corpus import KEY_NAMES, CorpusView, InsightsError, count_by_group
from nlp.search import SearchFilters

GAP_BY = ("document", "organization")


def find_gaps(view: CorpusView, key: str = "action_lines", by: str = "document",
              max_addressed: int = 1, min_passages: int = 1,
              filters: SearchFilters | None = None) -> dict[str, Any]:
    """Labels of ``key`` addressed by at most ``max_addressed`` documents (or organisations).

    Args:
        by: count ``document``s or ``organization``s addressing a label.
        max_addressed: the largest count still reported as a gap (1: "none or only one").
        min_passages: tagged passages a document needs before it counts as addressing a label.
        filters: only these documents are looked at.

    Returns:
        ``{"key", "key_name", "by", "max_addressed", "min_passages", "documents",
        "organizations", "gaps": [{"label", "title", "addressed", "passages", "addressed_by"}]}``
        sorted by ``addressed`` then ``passages`` (fewest first), then taxonomy order;
        ``addressed_by`` names the documents' titles or the organisations.

    Raises:
        InsightsError: an unknown key or ``by``, or a negative bound.
    """
    if by not in GAP_BY:
        raise InsightsError(f"by {by!r} is not one of {', '.join(GAP_BY)}")
    if max_addressed < 0 or min_passages < 1:
        raise InsightsError(f"max_addressed must be >= 0 and min_passages >= 1, got "
                            f"{max_addressed!r} and {min_passages!r}")
    scores = view.key(key)
    doc_ids = view.documents(filters)
    # Tagged passages per (document, label) in one pass.
    every_doc = count_by_group(scores.predicted, view.doc_of_row, len(view.doc_ids))
    position = {d: i for i, d in enumerate(view.doc_ids)}
    per_doc = every_doc[[position[d] for d in doc_ids]]
    addressing = per_doc >= min_passages
    names = [view.meta(d).title or d for d in doc_ids]
    orgs = [view.meta(d).organization or "(none)" for d in doc_ids]
    gaps = []
    for j, label in enumerate(scores.labels):
        who = [names[i] for i in np.flatnonzero(addressing[:, j])]
        if by == "organization":
            who = sorted({orgs[i] for i in np.flatnonzero(addressing[:, j])})
        if len(who) <= max_addressed:
            gaps.append({"label": label, "title": view.titles.get(label, label),
                         "addressed": len(who), "passages": int(per_doc[:, j].sum()),
                         "addressed_by": who, "order": j})
    gaps.sort(key=lambda g: (g["addressed"], g["passages"], g["order"]))
    for gap in gaps:
        del gap["order"]
    return {"key": key, "key_name": KEY_NAMES.get(key, key), "by": by,
            "max_addressed": max_addressed, "min_passages": min_passages,
            "documents": len(doc_ids), "organizations": len(set(orgs)),
            "labels": len(scores.labels), "gaps": gaps}
