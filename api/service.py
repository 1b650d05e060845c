"""Glue between the HTTP layer and the library: search and "who else committed to this?"
with tag filters, and per-document tag reports. Plain functions over a workspace and the
tagging service that call the library and raise domain errors; the app maps those to status
codes. Row sets from the tag table pass through here untouched (no numpy in api/)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from api.schemas import Filters
from api.tagging import TaggingService
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.search import Rows, SearchFilters
from nlp.similar import SimilarResult, similar_documents
from nlp.types import Document, Hit, Passage
from nlp.workspace import Workspace


class NotFound(WsisError):
    """A document id that is not in the store."""


class BadRequest(WsisError):
    """Input that passed schema validation but cannot be used (unknown label, ...)."""


def metadata_filters(filters: Filters) -> SearchFilters:
    """:class:`SearchFilters` from the API's ``Filters`` body (raises FilterError)."""
    return SearchFilters(organization=tuple(filters.organization), kind=tuple(filters.kind),
                         doc_id=tuple(filters.document), date_from=filters.date_from,
                         date_to=filters.date_to)


def label_rows(tagging: TaggingService, index: VectorIndex, labels: Sequence[str]) -> Rows | None:
    """Index rows of the passages predicted to carry any of ``labels`` (``None``: no labels).

    Raises:
        TaggersUnavailable: labels without taggers.
        BadRequest: an unknown label.
    """
    if not labels:
        return None
    table = tagging.passage_table(index)
    unknown = sorted(set(labels) - table.known_labels())
    if unknown:
        raise BadRequest(f"Unknown label(s) {unknown}; see GET /v1/taxonomy")
    return table.rows_with_any(labels)


def search(workspace: Workspace, tagging: TaggingService, query: str, k: int, mode: str,
           filters: Filters) -> tuple[VectorIndex, list[Hit]]:
    """:meth:`Searcher.search` with the API's filters (metadata and labels).

    Raises:
        FilterError, TaggersUnavailable, BadRequest: see :func:`metadata_filters`,
            :func:`label_rows`.
    """
    searcher = workspace.searcher()
    metadata = metadata_filters(filters)
    rows = label_rows(tagging, searcher.index, filters.label)
    return searcher.index, searcher.search(query, k=k, mode=mode, filters=metadata, rows=rows)


def similar(workspace: Workspace, tagging: TaggingService, *, passage_id: str | None,
            text: str | None, k: int, per_document: int, filters: Filters
            ) -> tuple[VectorIndex, SimilarResult]:
    """:func:`nlp.similar.similar_documents` with the API's filters; also returns the index
    searched (its rows key the passage tags).

    Raises:
        PassageNotFoundError: an unknown passage id.
        FilterError, TaggersUnavailable, BadRequest: see :func:`search`.
    """
    searcher = workspace.searcher()
    metadata = metadata_filters(filters)
    rows = label_rows(tagging, searcher.index, filters.label)
    return searcher.index, similar_documents(
        searcher, passage_id=passage_id, text=text, k=k, per_document=per_document,
        filters=metadata, rows=rows)


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


# --------------------------------------------------------------------------- documents


def document_passages(workspace: Workspace, doc_id: str) -> tuple[Document, list[Passage]]:
    document = workspace.store.get_document(doc_id)
    if document is None:
        raise NotFound(f"No document {doc_id!r}")
    return document, workspace.store.passages([doc_id])


def document_detail(workspace: Workspace, tagging: TaggingService, doc_id: str,
                    with_passages: bool = True) -> dict[str, Any]:
    """Metadata, passages with their tags, and the per-label summary of one document."""
    document, passages = document_passages(workspace, doc_id)
    index = workspace.index()
    indexed = [p for p in passages if index.has_passage(p.id)]
    detail: dict[str, Any] = {"id": document.id, **document.meta.to_dict(),
                              "passages": len(passages), "tags_available": tagging.available,
                              "summary": None, "passage_list": []}
    tags: dict[str, Any] = {}
    if tagging.available and indexed:
        table = tagging.passage_table(index)
        rows = [index.row(p.id) for p in indexed]
        summary = table.summary(rows, [p.id for p in indexed], tagging.titles())
        detail["summary"] = {key: [s.to_dict() for s in labels] for key, labels in summary.items()}
        tags = {p.id: table.brief(r) for p, r in zip(indexed, rows)}
    if with_passages:
        detail["passage_list"] = [
            {"id": p.id, "index": p.index, "start": p.start, "end": p.end, "text": p.text,
             "tags": tags.get(p.id)} for p in passages]
    return detail


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
