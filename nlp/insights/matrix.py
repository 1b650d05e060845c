"""Coverage matrix: documents (or organisations, or kinds) x labels, each cell the share of the
row's passages tagged with the label; and the passages behind one cell.

One pass of array sums over the cached decisions (``predicted``), so it stays fast as the corpus
grows (bench/results/insights.md: 10k passages).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlp.insights.corpus import KEY_NAMES, CorpusView, InsightsError, count_by_group
from nlp.search import SearchFilters


def _row_groups(view: CorpusView, doc_ids: list[str], group_by: str
                ) -> tuple[list[str], dict[str, list[str]]]:
    """Row names in first-seen order and the documents of each row."""
    groups: dict[str, list[str]] = {}
    for doc_id in doc_ids:
        groups.setdefault(view.group_of(doc_id, group_by), []).append(doc_id)
    return list(groups), groups


def coverage_matrix(view: CorpusView, key: str = "action_lines", group_by: str = "document",
                    filters: SearchFilters | None = None) -> dict[str, Any]:
    """The share of each row's passages tagged with each label of ``key``.

    Args:
        view: the corpus.
        key: the label set (columns): ``action_lines``, ``sdgs``, ``gdc``, ``gdc_commitments``...
        group_by: rows are ``document``s, or documents pooled by ``organization`` or ``kind``.
        filters: only documents whose metadata matches (organisation, kind, dates, ids).

    Returns:
        ``{"key", "key_name", "group_by", "labels": [{"id", "title", "passages", "rows"}],
        "rows": [{"id", "title", "organization", "kind", "date", "documents", "passages",
        "counts", "shares"}]}``: ``counts[j]`` passages of the row carry label j, ``shares[j]``
        is that over the row's passages (4 decimals). Labels keep taxonomy order; rows keep
        index order (the page sorts).

    Raises:
        InsightsError: an unknown key or grouping.
    """
    scores = view.key(key)
    if group_by not in ("document", "organization", "kind"):
        view.group_of("", group_by)  # raises with the choices
    names, groups = _row_groups(view, view.documents(filters), group_by)
    # Each passage's row in the matrix (-1: filtered out), then one bincount per label.
    row_of_doc = np.full(len(view.doc_ids), -1, dtype=np.int64)
    position = {d: i for i, d in enumerate(view.doc_ids)}
    for r, name in enumerate(names):
        for doc_id in groups[name]:
            row_of_doc[position[doc_id]] = r
    row_of_passage = row_of_doc[view.doc_of_row] if len(view.doc_of_row) else row_of_doc[:0]
    n_rows = len(names)
    passages = np.bincount(row_of_passage[row_of_passage >= 0], minlength=n_rows)
    counts = count_by_group(scores.predicted, row_of_passage, n_rows)
    # Whole-array conversions: a per-cell Python loop dominated at 400 x 169 cells.
    shares = np.round(counts / np.maximum(passages, 1)[:, None], 4).tolist()
    count_lists = counts.tolist()
    rows = []
    for r, name in enumerate(names):
        docs = groups[name]
        if group_by == "document":
            meta = view.meta(name)
            head = {"id": name, "title": meta.title, "organization": meta.organization,
                    "kind": meta.kind, "date": meta.date}
        else:
            dates = sorted(d for d in (view.meta(doc).date for doc in docs) if d)
            head = {"id": name, "title": name,
                    "organization": name if group_by == "organization" else "",
                    "kind": name if group_by == "kind" else "",
                    "date": dates[-1] if dates else ""}
        rows.append({**head, "documents": len(docs), "passages": int(passages[r]),
                     "counts": count_lists[r], "shares": shares[r]})
    totals, addressed = counts.sum(axis=0).tolist(), (counts > 0).sum(axis=0).tolist()
    labels = [{"id": lab, "title": view.titles.get(lab, lab), "passages": totals[j],
               "rows": addressed[j]} for j, lab in enumerate(scores.labels)]
    return {"key": key, "key_name": KEY_NAMES.get(key, key), "group_by": group_by,
            "labels": labels, "rows": rows}


def cell_passages(view: CorpusView, key: str, label: str, row: str,
                  group_by: str = "document", filters: SearchFilters | None = None,
                  limit: int = 50) -> dict[str, Any]:
    """The passages of one matrix row tagged with ``label``, strongest score first.

    Args:
        row: a document id, or an organisation / kind name when grouped.
        limit: passages listed at most (``total`` counts them all).

    Raises:
        InsightsError: an unknown key, label, grouping or row.
    """
    scores = view.key(key)
    column = view.label_column(key, label)
    docs = [d for d in view.documents(filters) if view.group_of(d, group_by) == row]
    if not docs:
        raise InsightsError(f"No {group_by} {row!r} in the (filtered) corpus")
    rows = view.rows_of(docs)
    tagged = rows[scores.predicted[rows, column]]
    order = tagged[np.argsort(-scores.scores[tagged, column], kind="stable")]
    return {"key": key, "label": label, "title": view.titles.get(label, label),
            "group_by": group_by, "row": row, "passages_in_row": len(rows),
            "total": len(order),
            "passages": [view.passage_dict(int(r), scores.scores[r, column])
                         for r in order[:limit]]}
