"""The corpus as the insight views see it: the index's passages, vectors and document metadata,
row-aligned with the cached passage-tag table, plus the label titles.

A :class:`CorpusView` is cheap to build (a few arrays over the index), so the API makes one per
request from the index and the tag table it already caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nlp.errors import WsisError
from nlp.search import SearchFilters
from nlp.tagging.table import KeyScores, PassageTagTable, label_titles
from nlp.types import DocumentMeta, Passage

if TYPE_CHECKING:
    from nlp.index import VectorIndex
    from nlp.taxonomy import Taxonomy
    from nlp.workspace import Workspace

GROUP_BY = ("document", "organization", "kind")
# The label sets a matrix switch offers, in the order the page lists them.
MATRIX_KEYS = ("action_lines", "sdgs", "sdg_targets", "gdc", "gdc_commitments",
               "gdc_principles", "gdc_sections")
KEY_NAMES = {
    "action_lines": "WSIS Action Lines", "sdgs": "SDG goals", "sdg_targets": "SDG targets",
    "gdc": "GDC objectives", "gdc_sections": "GDC sections",
    "gdc_commitments": "GDC commitments", "gdc_principles": "GDC principles",
}


class InsightsError(WsisError):
    """A request the corpus views cannot answer: an unknown key, label, document or grouping."""


def count_by_group(flags: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, how many rows of the boolean ``flags`` (n, L) are set in each column.

    ``groups`` gives each row's group (``-1``: left out). One sort and one ``reduceat``, much
    faster than ``np.add.at`` on a large table.
    """
    out = np.zeros((n_groups, flags.shape[1]), dtype=np.int64)
    rows = np.flatnonzero(groups >= 0)
    if not len(rows) or not n_groups:
        return out
    rows = rows[np.argsort(groups[rows], kind="stable")]
    ordered = groups[rows]
    present, starts = np.unique(ordered, return_index=True)
    out[present] = np.add.reduceat(flags[rows].astype(np.int64), starts, axis=0)
    return out


def rounded(value: float, places: int = 4) -> float:
    """The one rounding of shares and similarities (numpy's, as the matrix rounds whole
    arrays), so JSON, CSV and XLSX carry equal numbers."""
    return float(np.round(float(value), places))


@dataclass
class CorpusView:
    """Passages, vectors, documents and tags of one index version.

    Args:
        index: the published index (its ``vectors`` are the stored passage vectors).
        table: the passage-tag table of that index (row i = index row i).
        taxonomy: the label schemes (titles, cross-walks).
    """

    index: VectorIndex
    table: PassageTagTable
    taxonomy: Taxonomy
    titles: dict[str, str] = field(default_factory=dict)
    doc_ids: list[str] = field(default_factory=list)  # documents in index order
    doc_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if len(self.index) and self.table.keys:
            rows = next(iter(self.table.keys.values())).scores.shape[0]
            if rows != len(self.index):
                raise InsightsError(f"The tag table has {rows} rows but the index holds "
                                    f"{len(self.index)} passages")
        self.titles = self.titles or label_titles(self.taxonomy)
        self.doc_ids = list(self.index.documents)
        position = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        self.doc_of_row = np.fromiter((position[p.doc_id] for p in self.index.passages),
                                      dtype=np.int64, count=len(self.index))

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    @property
    def vectors(self) -> np.ndarray:
        return self.index.vectors

    @property
    def stamp(self) -> tuple[Any, ...]:
        """What the views of this corpus depend on (index version, size, models)."""
        return self.table.stamp

    def meta(self, doc_id: str) -> DocumentMeta:
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise InsightsError(f"No document {doc_id!r} in the index") from None

    def key(self, name: str) -> KeyScores:
        """The scores of one output key (``action_lines``, ``sdgs``, ``gdc_commitments`` ...)."""
        try:
            return self.table.keys[name]
        except KeyError:
            known = ", ".join(k for k in MATRIX_KEYS if k in self.table.keys)
            raise InsightsError(f"Unknown label set {name!r}; use one of {known}") from None

    def label_column(self, name: str, label: str) -> int:
        labels = self.key(name).labels
        try:
            return labels.index(label)
        except ValueError:
            raise InsightsError(f"Label {label!r} is not in {name!r}") from None

    def documents(self, filters: SearchFilters | None = None) -> list[str]:
        """Document ids (index order) whose metadata matches ``filters``."""
        if filters is None or filters.empty:
            return list(self.doc_ids)
        return [d for d in self.doc_ids if filters.matches(d, self.index.documents[d])]

    def rows_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Index rows of the passages of these documents, in index order."""
        position = {d: i for i, d in enumerate(self.doc_ids)}
        wanted = np.zeros(len(self.doc_ids), dtype=bool)
        wanted[[position[d] for d in doc_ids if d in position]] = True
        return np.flatnonzero(wanted[self.doc_of_row]) if len(self.doc_of_row) else \
            np.zeros(0, dtype=np.int64)

    def group_of(self, doc_id: str, group_by: str) -> str:
        """The row a document falls in: itself, its organisation or its kind."""
        if group_by == "document":
            return doc_id
        if group_by not in GROUP_BY:
            raise InsightsError(f"group_by {group_by!r} is not one of {', '.join(GROUP_BY)}")
        value = getattr(self.index.documents[doc_id], group_by)
        return value or "(none)"

    def passage_dict(self, row: int, score: float | None = None) -> dict[str, Any]:
        """One passage with its document's metadata, as every view lists passages: the stored
        ``text`` (``document.text[start:end]``) and ``clean_text`` (marks removed, as shown)."""
        passage = self.passages[row]
        meta = self.index.documents[passage.doc_id]
        out: dict[str, Any] = {"passage_id": passage.id, "doc_id": passage.doc_id,
                               "title": meta.title, "organization": meta.organization,
                               "kind": meta.kind, "date": meta.date, "start": passage.start,
                               "end": passage.end, "text": passage.text,
                               "clean_text": passage.clean_text}
        if score is not None:
            out["score"] = rounded(score)
        return out

    def document_dict(self, doc_id: str) -> dict[str, Any]:
        meta = self.meta(doc_id)
        return {"doc_id": doc_id, "title": meta.title, "organization": meta.organization,
                "kind": meta.kind, "date": meta.date}


def workspace_view(workspace: Workspace, build: bool = True) -> CorpusView:
    """The corpus view of a workspace's live index, tagging it once (for the CLI; the API builds
    its view from the tag table it caches).

    Args:
        build: train missing taggers first (zero-shot without data), as ``wsis tag`` does.
    """
    from nlp.tagging.table import index_tag_table

    workspace.ensure_ready()
    index = workspace.index()
    suite = workspace.taggers(build=build)
    table = index_tag_table(suite, index, workspace.settings.embedding_cache_dir,
                            table_dir=workspace.settings.tag_table_dir)
    return CorpusView(index, table, workspace.taxonomy())
