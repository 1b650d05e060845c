"""A scheme's labelled texts, embedded (:class:`SchemeData`), and the train/test splits of the
evaluation: nested in-source k-fold and held-out sources with leave-one-source-out
calibration."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlp.tagging.scoring import ScoringLayer
from nlp.training.evaluation.config import MIN_SOURCE_SIZE, PROTOTYPE_TEXT_SOURCES


@dataclass
class SchemeData:
    """One scheme's labelled texts, embedded, with everything the components need."""

    scheme: str
    labels: list[str]
    texts: list[str]
    sources: np.ndarray  # (n,) source name of each text
    vectors: np.ndarray  # (n, d) unit embeddings
    y: np.ndarray  # (n, L) bool
    primary: np.ndarray  # (n,) column of the first gold label, -1 when none
    calibrate: np.ndarray  # (n,) bool: may calibrate (not a text the prototypes were built from)
    prototypes: np.ndarray  # (L, d)
    keywords: dict[str, list[str]]
    objective: str
    # The texts' sentences and clauses as the taggers embed them for pooling (``None``: not
    # embedded): segment m belongs to text ``segment_owner[m]``.
    segment_owner: np.ndarray | None = None
    segment_vectors: np.ndarray | None = None
    segment_texts: list[str] | None = None
    _keyword_logits: np.ndarray | None = field(default=None, repr=False)
    _segment_keyword_logits: np.ndarray | None = field(default=None, repr=False)
    _keyword_probe: ScoringLayer | None = field(default=None, repr=False)

    def _keywords_in(self, texts: Sequence[str]) -> np.ndarray:
        if self._keyword_probe is None:
            self._keyword_probe = ScoringLayer(self.labels, self.prototypes,
                                               keywords=self.keywords)
        return self._keyword_probe.keyword_logits(texts)

    def keyword_logits(self) -> np.ndarray:
        """``(n, L)`` keyword logits (they need no training, so they are computed once)."""
        if self._keyword_logits is None:
            self._keyword_logits = self._keywords_in(self.texts)
        return self._keyword_logits

    def segment_keyword_logits(self) -> np.ndarray:
        """``(m, L)`` keyword logits of the segments (computed once)."""
        if self._segment_keyword_logits is None:
            self._segment_keyword_logits = self._keywords_in(self.segment_texts or [])
        return self._segment_keyword_logits

    @property
    def has_segments(self) -> bool:
        return self.segment_owner is not None and len(self.segment_owner) > 0

    @classmethod
    def build(
        cls, scheme: str, labels: Sequence[str], examples: Sequence[Any], encode: Callable[
            [list[str]], np.ndarray], prototypes: np.ndarray, keywords: dict[str, list[str]],
        objective: str,
        segment: Callable[[list[str]], Sequence[tuple[np.ndarray, list[str]]]] | None = None,
    ) -> SchemeData:
        """``segment(texts)`` returns each text's segments ``(vectors, texts)`` as the taggers
        pool them (:func:`nlp.tagging.evidence.encode_with_segments`); without it the texts
        are scored whole only."""
        from nlp.labelled import calibration_mask, label_matrix

        labels = list(labels)
        column = {lab: j for j, lab in enumerate(labels)}
        texts = [e.text for e in examples]
        owner = seg_vectors = seg_texts = None
        if segment is not None:
            parts = segment(texts)
            owner = np.array([i for i, (_, st) in enumerate(parts) for _ in st], dtype=np.int64)
            seg_texts = [t for _, st in parts for t in st]
            dim = prototypes.shape[1]
            seg_vectors = (np.vstack([v for v, st in parts if len(st)]).astype(np.float32)
                           if seg_texts else np.zeros((0, dim), np.float32))
        return cls(
            scheme=scheme, labels=labels, texts=texts,
            sources=np.array([e.source for e in examples]),
            vectors=np.asarray(encode(texts), dtype=np.float32),
            y=label_matrix(labels, examples),
            primary=np.array([column.get(e.label, -1) if e.positive else -1 for e in examples]),
            calibrate=calibration_mask(examples),
            prototypes=np.asarray(prototypes, dtype=np.float32),
            keywords=keywords, objective=objective,
            segment_owner=owner, segment_vectors=seg_vectors, segment_texts=seg_texts,
        )

    def source_counts(self) -> dict[str, int]:
        names, counts = np.unique(self.sources, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}


def subsample(examples: Sequence[Any], per_source: int | None, seed: int = 0) -> list[Any]:
    """At most ``per_source`` examples of each source (random, order kept)."""
    if per_source is None:
        return list(examples)
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_source.setdefault(ex.source, []).append(i)
    keep: list[int] = []
    for rows in by_source.values():
        keep += rows if len(rows) <= per_source else list(rng.choice(rows, per_source, False))
    return [examples[i] for i in sorted(keep)]


@dataclass(frozen=True)
class Split:
    """One train/test split and how its stacker and decision rule are calibrated.

    ``inner`` are the calibration folds ``(fit rows, scored rows)``, both inside ``train``: the
    supervised components' out-of-fold logits of ``scored rows`` come from models fitted on
    ``fit rows``. ``calibrate`` marks the training rows the stacker and decision may be fitted
    on (``fit_layer``'s ``calibrate`` argument). ``drop`` names components never used here.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    inner: tuple[tuple[np.ndarray, np.ndarray], ...]
    calibrate: np.ndarray  # (len(train),) bool
    drop: frozenset[str] = frozenset()
    note: str = ""

    def held(self) -> np.ndarray:
        """Training rows that get out-of-fold supervised logits."""
        rows = np.concatenate([scored for _, scored in self.inner]) if self.inner else []
        return np.isin(self.train, rows)


def held_out_source_splits(
    sources: np.ndarray, calibrate: np.ndarray, held_out: Iterable[str],
    min_size: int = MIN_SOURCE_SIZE,
) -> list[Split]:
    """One split per held-out source: test on it, train on every other source, calibrate
    leave-one-source-out over the training sources (``fit_layer(..., groups=sources)``).

    Inner folds whose rows never calibrate (e.g. texts the prototypes were built from) are
    skipped: their out-of-fold logits would not be used. Sources with fewer than ``min_size``
    texts are not held out (as in :func:`nlp.training.fit.source_folds`).

    Raises:
        ValueError: fewer than two training sources can be held out for calibration.
    """
    from nlp.training.fit import source_folds

    sources = np.asarray(sources)
    out = []
    for name in held_out:
        test = np.flatnonzero(sources == name)
        if len(test) < min_size:
            continue
        train = np.flatnonzero(sources != name)
        folds = source_folds(sources[train], min_size)
        if len(folds) < 2:
            raise ValueError(f"Holding out {name!r} leaves {len(folds)} training source(s) with "
                             f"at least {min_size} texts; calibration needs two")
        inner = tuple((train[a], train[b]) for a, b in folds if calibrate[train[b]].any())
        drop = frozenset({"prototype"}) if name in PROTOTYPE_TEXT_SOURCES else frozenset()
        note = ("texts are inside the goal prototypes (prototype component left out) and are "
                "what the goals' target-level keywords were written for; not in the mean"
                if drop else "")
        out.append(Split(name, train, test, inner, calibrate[train].copy(), drop, note))
    return out


def _stratified_folds(strata: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: stratified when every stratum has ``n_folds`` members."""
    from sklearn.model_selection import KFold, StratifiedKFold

    fold = np.zeros(len(strata), dtype=int)
    _, counts = np.unique(strata, return_counts=True)
    splitter = (StratifiedKFold(n_folds, shuffle=True, random_state=seed)
                if counts.min() >= n_folds else KFold(n_folds, shuffle=True, random_state=seed))
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
        fold[test] = k
    return fold


def in_source_splits(
    sources: np.ndarray, primary: np.ndarray, calibrate: np.ndarray, source: str,
    n_folds: int = 5, seed: int = 0,
) -> list[Split]:
    """Nested k-fold over the texts of ``source``; every other text always trains.

    Fold *k* is calibrated on out-of-fold scores of the other folds of ``source`` (each
    scored by components fitted without fold *k* and without itself), never on fold *k*.
    """
    rows = np.flatnonzero(np.asarray(sources) == source)
    if len(rows) < n_folds:
        raise ValueError(f"Source {source!r} has {len(rows)} texts, fewer than {n_folds} folds")
    fold = _stratified_folds(primary[rows], n_folds, seed)
    everything = np.arange(len(sources))
    out = []
    for k in range(n_folds):
        test = rows[fold == k]
        train = np.setdiff1d(everything, test)
        inner = tuple((np.setdiff1d(train, rows[fold == j]), rows[fold == j])
                      for j in range(n_folds) if j != k)
        in_source = np.isin(train, rows) & calibrate[train]
        out.append(Split(f"fold {k + 1}/{n_folds}", train, test, inner, in_source))
    return out
