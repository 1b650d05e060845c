"""Glue between the HTTP layer and the library: search and "who else committed to this?"
with tag filters, and per-document tag reports (:mod:`nlp.reports`). Plain functions over a
workspace and the tagging service that call the library and raise domain errors; the app maps
those to status codes. Row sets from the tag table pass through here untouched (no numpy in
api/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from api.schemas import Filters
from api.tagging import TaggingService
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.reports import document_report
from nlp.search import Rows, SearchFilters
from nlp.similar import SimilarResult, similar_documents
from nlp.types import Document, Hit, Passage
from nlp.workspace import Workspace

if TYPE_CHECKING:
    from nlp.tagging.table import TagBrief


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


def hit_dict(hit: Hit, tags: dict[str, list[TagBrief]] | None) -> dict[str, Any]:
    out = hit.to_dict()
    out["tags"] = tags
    return out


def tags_for(tagging: TaggingService, index: VectorIndex,
             passages: list[Passage]) -> dict[str, dict[str, list[TagBrief]]] | None:
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
    """:func:`nlp.reports.document_report` of a stored document, with tags when the taggers
    are loaded.

    Raises:
        NotFound: no such document.
    """
    document, passages = document_passages(workspace, doc_id)
    index = workspace.index()
    table = tagging.passage_table(index) if tagging.available else None
    return document_report(document, passages, index, table,
                           tagging.titles() if table is not None else None, with_passages)
