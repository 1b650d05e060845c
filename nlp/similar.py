""""Who else committed to this?": the passages closest to a stored passage or a free text,
grouped by document, best document first.

    >>> result = similar_documents(workspace.searcher(), passage_id="3f2a...-0004", k=5)
    >>> [(m.doc_id, m.best_score) for m in result.matches]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.search import Rows, Searcher, SearchFilters
from nlp.types import DocumentMeta, Hit

MIN_DEPTH = 50  # first FAISS depth: enough for most queries to fill k documents at once


class PassageNotFoundError(WsisError):
    """A passage id that is not in the index."""


@dataclass(frozen=True)
class SimilarSource:
    """What the neighbours are similar to: a stored passage, or a free text."""

    text: str
    passage_id: str | None = None
    doc_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.passage_id is None:
            return {"text": self.text}
        return {"passage_id": self.passage_id, "doc_id": self.doc_id, "text": self.text}


@dataclass(frozen=True)
class DocumentMatch:
    """One document's passages among the nearest neighbours, closest first."""

    doc_id: str
    meta: DocumentMeta
    hits: list[Hit] = field(default_factory=list)

    @property
    def best_score(self) -> float:
        return self.hits[0].score

    def to_dict(self) -> dict[str, Any]:
        """The document's id, best score and metadata (the hits are left to the caller, which
        usually adds their tags)."""
        return {"doc_id": self.doc_id, "best_score": round(self.best_score, 6),
                **self.meta.to_dict()}


@dataclass(frozen=True)
class SimilarResult:
    """The source, the index version searched and the matching documents, best first."""

    source: SimilarSource
    index_version: int
    matches: list[DocumentMatch]


def nearest_documents(index: VectorIndex, vector: np.ndarray, k: int, per_document: int,
                      rows: np.ndarray | None = None) -> list[DocumentMatch]:
    """The ``k`` documents holding the passages closest to ``vector``.

    FAISS ranks passages, not documents, so the search is widened (x4 each round) until ``k``
    distinct documents turn up or every candidate row has been seen.

    Args:
        index: the index to search.
        vector: a unit query vector.
        k: documents to return.
        per_document: passages kept per document (its closest ones).
        rows: restrict the search to these rows (``None`` = all).
    """
    candidates = len(index) if rows is None else len(rows)
    depth = min(candidates, max(MIN_DEPTH, k * per_document * 4))
    groups: dict[str, list[tuple[int, float]]] = {}
    while depth > 0:
        scores, found = index.search(vector[None, :], depth, rows)
        groups = {}
        for r, s in zip(found[0], scores[0]):
            if r >= 0:
                groups.setdefault(index.passages[int(r)].doc_id, []).append((int(r), float(s)))
        if len(groups) >= k or depth >= candidates:
            break
        depth = min(candidates, depth * 4)
    ordered = sorted(groups.items(), key=lambda item: -item[1][0][1])[:k]
    out = []
    for doc_id, items in ordered:
        meta = index.documents[doc_id]
        hits = [Hit(index.passages[r], meta, s, rank, {"semantic": s})
                for rank, (r, s) in enumerate(items[:per_document], start=1)]
        out.append(DocumentMatch(doc_id, meta, hits))
    return out


def similar_documents(searcher: Searcher, *, passage_id: str | None = None,
                      text: str | None = None, k: int = 5, per_document: int = 3,
                      filters: SearchFilters | None = None,
                      rows: Rows | None = None) -> SimilarResult:
    """Documents with passages close to a stored passage (its own document left out) or to
    a free text.

    Args:
        searcher: the index and embedder to use.
        passage_id: a stored passage; give this or ``text``.
        text: free text (embedded with the searcher's embedder).
        k: documents to return.
        per_document: passages per document.
        filters: document metadata restrictions.
        rows: further restrict to these index rows (e.g. passages carrying a tag).

    Raises:
        ValueError: neither or both of ``passage_id`` and ``text``, or ``k`` /
            ``per_document`` not positive.
        PassageNotFoundError: an unknown ``passage_id``.
        FilterError: a malformed date filter.
    """
    if (passage_id is None) == (text is None):
        raise ValueError("Give exactly one of passage_id and text")
    if k <= 0 or per_document <= 0:
        raise ValueError(f"k and per_document must be positive, got {k!r} and {per_document!r}")
    index = searcher.index
    allowed = searcher.allowed_rows(filters, rows)
    if passage_id is not None:
        try:
            row = index.row(passage_id)
        except KeyError:
            raise PassageNotFoundError(f"No passage {passage_id!r}") from None
        passage = index.passages[row]
        vector = index.vectors[row]
        others = np.fromiter((i for i, p in enumerate(index.passages)
                              if p.doc_id != passage.doc_id), dtype=np.int64)
        allowed = others if allowed is None else np.intersect1d(allowed, others)
        source = SimilarSource(passage.text, passage_id, passage.doc_id)
    else:
        vector = searcher.embedder.encode([text or ""])[0]
        source = SimilarSource(text or "")
    matches = nearest_documents(index, vector, k, per_document, allowed)
    return SimilarResult(source, index.version, matches)
