"""Glue between the HTTP layer and the library: search with tag filters, "who else committed
to this?", and per-document tag reports. Plain functions over a workspace and the tagging
service; they raise domain errors and the routes map those to status codes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from api.tagging import PassageTagTable, TaggingService
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.search import Searcher, SearchFilters
from nlp.types import Document, Hit, Passage
from nlp.workspace import Workspace


class NotFound(WsisError):
    """A document or passage id that is not in the store."""


class BadRequest(WsisError):
    """Input that passed schema validation but cannot be used (unknown label, ...)."""


@dataclass
class _RowSearcher(Searcher):
    """A :class:`Searcher` restricted to given rows (for filters the index cannot express,
    such as tags). It shares the base searcher's BM25 cache, which is keyed by the index
    contents, so nothing is rebuilt per request."""

    rows: np.ndarray | None = None

    def allowed_rows(self, filters: SearchFilters | None) -> np.ndarray | None:
        return self.rows


def metadata_filters(filters: Any) -> SearchFilters:
    """:class:`SearchFilters` from the API's ``Filters`` body (raises FilterError)."""
    return SearchFilters(organization=tuple(filters.organization), kind=tuple(filters.kind),
                         doc_id=tuple(filters.document), date_from=filters.date_from,
                         date_to=filters.date_to)


def allowed_rows(searcher: Searcher, tagging: TaggingService, filters: Any) -> np.ndarray | None:
    """Rows passing the metadata and label filters (``None`` = no restriction).

    Raises:
        FilterError: a malformed date.
        TaggersUnavailable: a label filter without taggers.
        BadRequest: an unknown label.
    """
    rows = searcher.allowed_rows(metadata_filters(filters))
    if filters.label:
        table = tagging.passage_table(searcher.index)
        unknown = sorted(set(filters.label) - table.known_labels())
        if unknown:
            raise BadRequest(f"Unknown label(s) {unknown}; see GET /v1/taxonomy")
        labelled = table.rows_with_any(filters.label)
        rows = labelled if rows is None else np.intersect1d(rows, labelled)
    return rows


def search(workspace: Workspace, tagging: TaggingService, query: str, k: int, mode: str,
           filters: Any) -> tuple[VectorIndex, list[Hit]]:
    searcher = workspace.searcher()
    rows = allowed_rows(searcher, tagging, filters)
    if rows is None:
        return searcher.index, searcher.search(query, k=k, mode=mode)
    restricted = _RowSearcher(searcher.index, searcher.embedder, searcher._lexical, rows=rows)
    hits = restricted.search(query, k=k, mode=mode)  # the filters are folded into the rows
    searcher._lexical = restricted._lexical  # keep a BM25 index this request had to build
    return searcher.index, hits


def hit_dict(hit: Hit, tags: dict[str, list[dict[str, Any]]] | None) -> dict[str, Any]:
    out = hit.to_dict()
    out["tags"] = tags
    return out


def tags_for(tagging: TaggingService, index: VectorIndex,
             passages: list[Passage]) -> dict[str, dict[str, list[dict[str, Any]]]] | None:
    """Predicted tags per passage id, or ``None`` when the taggers are not available."""
    if not tagging.available:
        return None
    return tagging.passage_tags(index, passages)


def similar(workspace: Workspace, tagging: TaggingService, *, passage_id: str | None,
            text: str | None, k: int, per_document: int, filters: Any
            ) -> tuple[VectorIndex, dict[str, Any], list[dict[str, Any]]]:
    """The passages closest to a stored passage (in *other* documents) or to free text,
    grouped by document, best document first.

    Returns:
        ``(index, source description, groups)``; each group holds document metadata,
        ``best_score`` and up to ``per_document`` :class:`Hit` objects.

    Raises:
        NotFound: an unknown passage id.
    """
    searcher = workspace.searcher()
    index = searcher.index
    rows = allowed_rows(searcher, tagging, filters)
    if passage_id is not None:
        try:
            row = index.row(passage_id)
        except KeyError:
            raise NotFound(f"No passage {passage_id!r}") from None
        source_passage = index.passages[row]
        vector = index.vectors[row]
        others = np.fromiter((i for i, p in enumerate(index.passages)
                              if p.doc_id != source_passage.doc_id), dtype=np.int64)
        rows = others if rows is None else np.intersect1d(rows, others)
        source: dict[str, Any] = {"passage_id": passage_id, "doc_id": source_passage.doc_id,
                                  "text": source_passage.text}
    else:
        vector = workspace.embedder.encode([text or ""])[0]
        source = {"text": text}
    candidates = len(index) if rows is None else len(rows)
    depth = min(candidates, max(50, k * per_document * 4))
    while True:
        scores, found = index.search(vector[None, :], depth, rows)
        groups: dict[str, list[tuple[int, float]]] = {}
        for r, s in zip(found[0], scores[0]):
            if r >= 0:
                groups.setdefault(index.passages[int(r)].doc_id, []).append((int(r), float(s)))
        # Keep widening until k documents are found or every candidate has been seen.
        if len(groups) >= k or depth >= candidates:
            break
        depth = min(candidates, depth * 4)
    ordered = sorted(groups.items(), key=lambda item: -item[1][0][1])[:k]
    out = []
    for doc_id, items in ordered:
        meta = index.documents[doc_id]
        hits = [Hit(index.passages[r], meta, s, rank, {"semantic": s})
                for rank, (r, s) in enumerate(items[:per_document], start=1)]
        out.append({"doc_id": doc_id, "best_score": round(items[0][1], 6), "hits": hits,
                    **meta.to_dict()})
    return index, source, out


# --------------------------------------------------------------------------- documents


def document_passages(workspace: Workspace, doc_id: str) -> tuple[Document, list[Passage]]:
    document = workspace.store.get_document(doc_id)
    if document is None:
        raise NotFound(f"No document {doc_id!r}")
    return document, workspace.store.passages([doc_id])


def passage_counts(index: VectorIndex) -> dict[str, int]:
    counts: dict[str, int] = {}
    for passage in index.passages:
        counts[passage.doc_id] = counts.get(passage.doc_id, 0) + 1
    return counts


def document_detail(workspace: Workspace, tagging: TaggingService, doc_id: str,
                    with_passages: bool = True) -> dict[str, Any]:
    """Metadata, passages with their tags, and the per-label summary of one document."""
    document, passages = document_passages(workspace, doc_id)
    index = workspace.index()
    indexed = [p for p in passages if _indexed(index, p.id)]
    detail: dict[str, Any] = {"id": document.id, **document.meta.to_dict(),
                              "passages": len(passages), "tags_available": tagging.available,
                              "summary": None, "passage_list": []}
    tags: dict[str, Any] = {}
    if tagging.available and indexed:
        table: PassageTagTable = tagging.passage_table(index)
        rows = [index.row(p.id) for p in indexed]
        detail["summary"] = table.summary(rows, [p.id for p in indexed], tagging.titles())
        tags = {p.id: table.brief(r) for p, r in zip(indexed, rows)}
    if with_passages:
        detail["passage_list"] = [
            {"id": p.id, "index": p.index, "start": p.start, "end": p.end, "text": p.text,
             "tags": tags.get(p.id)} for p in passages]
    return detail


def _indexed(index: VectorIndex, passage_id: str) -> bool:
    try:
        index.row(passage_id)
    except KeyError:
        return False
    return True


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (an uploaded document is untrusted)."""
    if isinstance(value, str) and value and (
        value.startswith(_FORMULA_START) or (value.startswith("-") and value[1:2] not in ("", " "))
    ):
        return "'" + value
    return value


def report_csv(detail: dict[str, Any], keys: list[str]) -> str:
    """One row per passage: its position, each key's predicted labels with scores, the text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["doc_id", "title", "passage_id", "index", "start", "end", *keys, "text"])
    for passage in detail["passage_list"]:
        tags = passage.get("tags") or {}
        cells = ["; ".join(f"{t['label']} ({t['score']:.2f})" for t in tags.get(key, []))
                 for key in keys]
        writer.writerow([_cell(v) for v in (detail["id"], detail["title"], passage["id"],
                                            passage["index"], passage["start"], passage["end"],
                                            *cells, passage["text"])])
    return out.getvalue()
