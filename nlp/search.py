"""Semantic (FAISS), lexical (BM25) and hybrid passage search, restricted by document metadata
filters.

Hybrid search fetches candidates from both retrievers deeper than ``k`` and fuses them with a
:class:`Fusion`: a convex blend of min-max-normalised scores, or reciprocal-rank fusion. The
default was chosen by cross-validation over the reviewer query set in ``corpus/gold/``
(``wsis evaluate search --tune``; figures in bench/results/search-quality.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nlp.embed import Embedder
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.lexical import BM25, tokenize
from nlp.types import DocumentMeta, Hit, Passage

SearchMode = Literal["semantic", "lexical", "hybrid"]
Rows = Sequence[int] | np.ndarray  # index row ids, as a restriction on what a search may return
MODES: tuple[str, ...] = ("semantic", "lexical", "hybrid")
RRF_K = 60  # the usual reciprocal-rank-fusion constant: damps the weight of the very top ranks
FUSION_METHODS = ("blend", "rrf")
FILTER_KEYS = ("organization", "kind", "doc_id", "date_from", "date_to", "source")


class FilterError(WsisError):
    """A filter expression that cannot be applied."""


_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def date_range(value: str) -> tuple[str, str] | None:
    """A partial ISO date as the closed range it covers: ``"2025-01"`` -> 2025-01-01..2025-01-31.

    Day precision is not needed for ordering, so the upper bound of a month is day 31.
    """
    match = _DATE.match(value.strip())
    if not match:
        return None
    year, month, day = match.groups()
    low = f"{year}-{month or '01'}-{day or '01'}"
    high = f"{year}-{month or '12'}-{day or '31'}"
    return low, high


@dataclass(frozen=True)
class SearchFilters:
    """Metadata restrictions; every given field must hold. Text fields match case-insensitively
    and accept several values (any may match)."""

    organization: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    doc_id: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and date_range(value) is None:
                raise FilterError(f"{name} {value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")

    @property
    def empty(self) -> bool:
        return not (self.organization or self.kind or self.doc_id or self.source
                    or self.date_from or self.date_to)

    @classmethod
    def parse(cls, expressions: list[str]) -> SearchFilters:
        """Build filters from ``key=value`` strings (repeat a key for alternatives)."""
        values: dict[str, list[str]] = {}
        for expression in expressions:
            key, sep, value = expression.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not value.strip():
                raise FilterError(f"Filter {expression!r} is not of the form key=value")
            if key == "document":
                key = "doc_id"
            if key not in FILTER_KEYS:
                raise FilterError(f"Unknown filter key {key!r}; use one of {', '.join(FILTER_KEYS)}")
            values.setdefault(key, []).append(value.strip())
        single = {k: v[-1] for k, v in values.items() if k in ("date_from", "date_to")}
        multi = {k: tuple(v) for k, v in values.items() if k not in ("date_from", "date_to")}
        return cls(**multi, **single)

    def matches(self, doc_id: str, meta: DocumentMeta) -> bool:
        def any_of(options: tuple[str, ...], value: str) -> bool:
            return not options or value.casefold() in {o.casefold() for o in options}

        if not (any_of(self.organization, meta.organization) and any_of(self.kind, meta.kind)
                and any_of(self.source, meta.source)):
            return False
        if self.doc_id and doc_id not in self.doc_id:
            return False
        if self.date_from or self.date_to:
            span = date_range(meta.date) if meta.date else None
            if span is None:
                return False  # an undated document cannot be shown to lie in a range
            if self.date_from and span[1] < date_range(self.date_from)[0]:
                return False
            if self.date_to and span[0] > date_range(self.date_to)[1]:
                return False
        return True


@dataclass(frozen=True)
class Fusion:
    """How hybrid search merges the semantic and the lexical candidates.

    Args:
        method: ``"blend"`` (``weight * semantic + (1 - weight) * lexical`` of min-max-normalised
            scores; a passage missing from one list scores 0 there) or ``"rrf"``
            (``sum of 1 / (rrf_k + rank)``).
        weight: the semantic share of the blend, in [0, 1].
        rrf_k: the reciprocal-rank-fusion constant.
        depth: candidates fetched from each retriever (at least ``5 * k``).
    """

    method: str = "rrf"
    weight: float = 0.5
    rrf_k: int = RRF_K
    depth: int = 50

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ValueError(f"Fusion method {self.method!r} is not supported; "
                             f"choose one of {FUSION_METHODS}")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"Fusion weight {self.weight!r} is not in [0, 1]")

    def depth_for(self, k: int) -> int:
        return max(self.depth, 5 * k)

    def fuse(self, semantic: list[tuple[int, float]], lexical: list[tuple[int, float]]
             ) -> list[tuple[int, float, dict[str, float]]]:
        """``(row, fused score, {retriever: its own score})``, best first."""
        rankings = {"semantic": semantic, "lexical": lexical}
        if self.method == "rrf":
            return reciprocal_rank_fusion(rankings, self.rrf_k)
        return convex_blend(rankings, {"semantic": self.weight, "lexical": 1.0 - self.weight})

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "weight": self.weight, "rrf_k": self.rrf_k,
                "depth": self.depth}


# Chosen by 5-fold cross-validation over the reviewer queries (`wsis evaluate search --tune`):
# the tuned blend beat tuned RRF on held-out queries (recall@5 0.952 vs 0.935, MRR@10 0.837
# vs 0.804; fixed RRF k = 60: 0.885 / 0.777); bench/results/search-quality.md, step 1.
DEFAULT_FUSION = Fusion("blend", weight=0.6, depth=200)


@dataclass
class _Lexical:
    """BM25 over the index's passages, rebuilt when the index changes."""

    retriever: BM25
    size: int
    version: tuple[int, int] = (0, 0)


@dataclass
class _Duplicates:
    """Near-duplicate groups of the index's passages (:mod:`nlp.dedup`), rebuilt with it."""

    group: list[int]  # row -> first row of its group
    members: dict[int, list[int]]  # group -> its rows, for groups of two or more
    version: tuple[int, int] = (0, 0)

    @property
    def repeated_rows(self) -> int:
        """Rows that collapsing can hide (all but one of each group)."""
        return sum(len(rows) - 1 for rows in self.members.values())


@dataclass
class Searcher:
    """Search one :class:`VectorIndex` with one :class:`Embedder`."""

    index: VectorIndex
    embedder: Embedder
    fusion: Fusion = DEFAULT_FUSION
    collapse_duplicates: bool = True
    _lexical: _Lexical | None = field(default=None, repr=False)
    _duplicates: _Duplicates | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.index.check_embedder(self.embedder.name, self.embedder.dimension)

    # ------------------------------------------------------------------ candidates

    def allowed_rows(self, filters: SearchFilters | None,
                     rows: Rows | None = None) -> np.ndarray | None:
        """Row ids passing ``filters`` and among ``rows`` (``None`` = all rows).

        Args:
            filters: document metadata restrictions.
            rows: restrict further to these index rows (for what the metadata cannot
                express, such as the passages carrying a tag).
        """
        restrict = None if rows is None else np.asarray(rows, dtype=np.int64)
        if filters is None or filters.empty:
            return restrict
        docs = {d for d, meta in self.index.documents.items() if filters.matches(d, meta)}
        matching = np.fromiter((i for i, p in enumerate(self.index.passages)
                                if p.doc_id in docs), dtype=np.int64)
        return matching if restrict is None else np.intersect1d(matching, restrict)

    def semantic(self, query_vector: np.ndarray, k: int,
                 allowed: np.ndarray | None) -> list[tuple[int, float]]:
        scores, rows = self.index.search(query_vector[None, :], k, allowed)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def _bm25(self) -> BM25:
        key = (id(self.index.passages), len(self.index))
        if self._lexical is None or self._lexical.version != key:
            retriever = BM25([p.lexical_text for p in self.index.passages])
            self._lexical = _Lexical(retriever, len(self.index), key)
        return self._lexical.retriever

    def duplicates(self) -> _Duplicates:
        """The index's near-duplicate groups (computed on first use, then when it changes)."""
        key = (id(self.index.passages), len(self.index))
        if self._duplicates is None or self._duplicates.version != key:
            from nlp.dedup import duplicate_groups

            group = duplicate_groups([p.clean_text for p in self.index.passages])
            members: dict[int, list[int]] = {}
            for row, leader in enumerate(group):
                if leader != row:
                    members.setdefault(leader, [leader]).append(row)
            self._duplicates = _Duplicates(group, members, key)
        return self._duplicates

    def lexical(self, query: str, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        if not len(self.index):
            return []
        if not tokenize(query):
            return []
        scores = self._bm25().scores(query)
        if allowed is not None:
            masked = np.full_like(scores, -np.inf)
            masked[allowed] = scores[allowed]
            scores = masked
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]

    # ------------------------------------------------------------------ public

    def search(self, query: str, k: int = 10, mode: str = "hybrid",
               filters: SearchFilters | None = None,
               query_vector: np.ndarray | None = None,
               rows: Rows | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``.

        Args:
            query: free text.
            k: number of results.
            mode: ``"semantic"``, ``"lexical"`` or ``"hybrid"`` (both, fused by
                :attr:`fusion`).
            filters: document metadata restrictions.
            query_vector: a precomputed embedding of ``query`` (skips the encoder).
            rows: search only these index rows (e.g. the passages carrying a tag), on top of
                ``filters``; the BM25 index stays the one built for all rows.

        Raises:
            ValueError: an empty query, a non-positive ``k`` or an unknown mode.
        """
        if not query or not query.strip():
            raise ValueError("The query is empty")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k!r}")
        if mode not in MODES:
            raise ValueError(f"Search mode {mode!r} is not supported; choose one of {MODES}")
        allowed = self.allowed_rows(filters, rows)
        if allowed is not None and len(allowed) == 0:
            return []
        duplicates = self.duplicates() if self.collapse_duplicates else None
        # Collapsing may drop repeats from the list: fetch enough to still fill k.
        extra = min(duplicates.repeated_rows, 5 * k) if duplicates else 0
        per_retriever: dict[str, list[tuple[int, float]]] = {}
        depth = k + extra if mode != "hybrid" else self.fusion.depth_for(k + extra)
        if mode in ("semantic", "hybrid"):
            if query_vector is None:
                query_vector = self.embedder.encode([query])[0]
            per_retriever["semantic"] = self.semantic(query_vector, depth, allowed)
        if mode in ("lexical", "hybrid"):
            per_retriever["lexical"] = self.lexical(query, depth, allowed)
        if mode == "hybrid":
            ranked = self.fusion.fuse(per_retriever["semantic"], per_retriever["lexical"])
        else:
            ranked = [(row, score, {mode: score}) for row, score in per_retriever[mode]]
        return self._hits(ranked, k, duplicates, allowed)

    def _hits(self, ranked: list[tuple[int, float, dict[str, float]]], k: int,
              duplicates: _Duplicates | None, allowed: np.ndarray | None) -> list[Hit]:
        """The first ``k`` of ``ranked`` as hits; with ``duplicates``, one hit per
        near-duplicate group, carrying the group's other passages that pass the filters."""
        allowed_set = None if allowed is None else set(allowed.tolist())
        shown: set[int] = set()
        hits: list[Hit] = []
        for row, score, parts in ranked:
            also: tuple[tuple[Passage, DocumentMeta], ...] = ()
            if duplicates is not None:
                leader = duplicates.group[row]
                if leader in shown:
                    continue
                shown.add(leader)
                others = [r for r in duplicates.members.get(leader, ())
                          if r != row and (allowed_set is None or r in allowed_set)]
                also = tuple((self.index.passages[r],
                              self.index.documents[self.index.passages[r].doc_id])
                             for r in others)
            passage = self.index.passages[row]
            hits.append(Hit(passage, self.index.documents[passage.doc_id], score,
                            len(hits) + 1, parts, also))
            if len(hits) == k:
                break
        return hits


def reciprocal_rank_fusion(
    rankings: dict[str, list[tuple[int, float]]], k: int = RRF_K
) -> list[tuple[int, float, dict[str, float]]]:
    """Fuse ranked lists: ``score(d) = sum over lists of 1 / (k + rank_d)``.

    Returns ``(row, fused score, {retriever: its own score})``, best first; ties keep the
    order of first appearance.
    """
    fused: dict[int, float] = {}
    parts: dict[int, dict[str, float]] = {}
    for name, ranking in rankings.items():
        for rank, (row, score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
            parts.setdefault(row, {})[name] = score
    order = sorted(fused, key=lambda r: -fused[r])
    return [(row, fused[row], parts[row]) for row in order]


def convex_blend(rankings: dict[str, list[tuple[int, float]]], weights: dict[str, float]
                 ) -> list[tuple[int, float, dict[str, float]]]:
    """Fuse scored lists: ``score(d) = sum over lists of weight * minmax(score_d)``.

    Each list's scores are scaled to [0, 1] over that list (a list of equal scores gives 1);
    a row missing from a list gets 0 from it. Returns ``(row, fused score, {retriever: its
    own score})``, best first; ties keep the order of first appearance.
    """
    fused: dict[int, float] = {}
    parts: dict[int, dict[str, float]] = {}
    for name, ranking in rankings.items():
        if not ranking:
            continue
        scores = [score for _, score in ranking]
        low, high = min(scores), max(scores)
        span = high - low
        weight = weights.get(name, 0.0)
        for row, score in ranking:
            scaled = (score - low) / span if span > 0 else 1.0
            fused[row] = fused.get(row, 0.0) + weight * scaled
            parts.setdefault(row, {})[name] = score
    order = sorted(fused, key=lambda r: -fused[r])
    return [(row, fused[row], parts[row]) for row in order]
