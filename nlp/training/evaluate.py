"""Evaluation that predicts the outside world: in-source k-fold, held-out sources, component
ablation and the hand-labelled gold set.

Every figure comes from a model that never saw the scored texts, and every choice the trainer
makes from data (stacker weights, per-label thresholds, the top-label floor and the cap on
labels) is made again inside each split, on held-out predictions of its training part only:

* **in-source k-fold** (Action Lines on the WSIS Prizes 2021 projects, SDGs on
  qu-sdg-sentences), nested: fold *k* is scored by components trained on everything else, and
  its stacker and decision rule are fitted on out-of-fold scores of the other *k-1* folds of
  the same source. Other sources always train and never calibrate.
* **held-out sources**: each SDG source (and, for Action Lines, the WSIS Prizes projects) is
  scored by a model trained on the other sources and calibrated leave-one-source-out over
  them, exactly as ``fit_layer(..., groups=sources)`` does in the trainer.
* **ablation**: the held-out splits again, with one scoring component removed at a time.
* **gold set**: the shipped taggers on hand-labelled passages of the founding documents.

Why this module does not call :func:`~nlp.training.fit.fit_layer` once per system: the
components' logits do not depend on which other components are stacked, so each supervised
model (head, kNN bank, TF-IDF head) is fitted once per distinct training set, and every system
and ablation is a different stack over the same logits (:func:`fit_stack` repeats the steps of
``fit_layer`` after its out-of-fold loop; a test checks both give the same scores). Nested
leave-one-source-out inner folds "all but sources S and T" are shared by the outer splits S
and T. That cuts a full run from many hours to tens of minutes on two cores.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.scoring import COMPONENTS, ScoringLayer, knn_vote
from nlp.taxonomy import ACTION_LINES, GDC, SDGS, Taxonomy

Progress = Callable[[str], None]

SYSTEM_COMPONENTS: dict[str, tuple[str, ...]] = {
    "zero-shot": ("prototype", "keyword"),
    "trained": COMPONENTS,
    "tfidf-baseline": ("lexical",),
}
SYSTEMS = tuple(SYSTEM_COMPONENTS)
SUPERVISED = ("head", "knn", "lexical")
# The decision objective each trainer uses (see nlp.training.trainers).
OBJECTIVES = {ACTION_LINES: "micro_f1", SDGS: "decision_accuracy"}
# SDG sources held out in turn, in report order.
SDG_HELD_OUT_SOURCES = (
    "qu-sdg-sentences", "trail22-un", "trail22-paper", "trail22-additional",
    "dpg-descriptions", "dpg-evidence", "gdc-text", "sdg-indicators",
    "wsis-sdg-matrix-rationale", "sdg-targets",
)
# Goal prototypes are built from the target texts, and the goal keywords are the targets' own
# JRC and Aurora keywords: scored against them, a target text meets itself. Its row is
# reported with the prototype component left out, but kept out of the mean.
PROTOTYPE_TEXT_SOURCES = frozenset({"sdg-targets"})
MIN_SOURCE_SIZE = 20  # fit.source_folds: smaller sources are never held out
HEAD_C = 1.0  # fit_layer's default inverse regularisation of the embedding heads
# Gold-set output keys reported for each scheme.
GOLD_SCHEME_KEYS = {ACTION_LINES: ("action_lines",), SDGS: ("sdgs",),
                    GDC: ("gdc", "gdc_commitments", "gdc_principles")}


@dataclass(frozen=True)
class EvalConfig:
    """How much to evaluate.

    Args:
        folds: outer folds of the in-source k-fold.
        per_source: keep at most this many texts of each source (``None``: all).
        max_held_out: hold out at most this many SDG sources (``None``: every eligible one).
        seed: for folds and subsampling.
        jobs: worker processes for model fitting and stacking (1: in this process).
        fit_cache: folder of the :class:`FitCache` (``None``: fit everything afresh).
    """

    folds: int = 5
    per_source: int | None = None
    max_held_out: int | None = None
    seed: int = 0
    jobs: int = 1
    fit_cache: Path | None = None

    @classmethod
    def smoke(cls, jobs: int = 1, fit_cache: Path | None = None) -> EvalConfig:
        """The CI path: 3 folds, 60 texts per source, 2 held-out SDG sources."""
        return cls(folds=3, per_source=60, max_held_out=2, jobs=jobs, fit_cache=fit_cache)

    @property
    def is_smoke(self) -> bool:
        return self.per_source is not None or self.max_held_out is not None


# --------------------------------------------------------------------------------------------
# Metrics


def _decision_parts(proba: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Gold mask, mask of the strongest non-gold labels (as many as each text's gold labels;
    ties go to the lower label index, as in the original's stable sort) and the judgement
    count of :func:`decision_accuracy`."""
    y = np.asarray(y, dtype=bool)
    k = y.sum(axis=1)
    order = np.argsort(-np.where(y, -np.inf, proba), axis=1, kind="stable")  # gold sorts last
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.broadcast_to(np.arange(y.shape[1]), y.shape), axis=1)
    others = (position < k[:, None]) & ~y
    return y, others, int(k.sum() + np.minimum(k, y.shape[1] - k).sum())


def decision_accuracy(proba: np.ndarray, y: np.ndarray, pred: np.ndarray) -> float:
    """:func:`nlp.training.fit.decision_accuracy` without the Python loop over texts.

    Each text with gold labels contributes its gold labels (correct when predicted) and as many
    of its highest-scored non-gold labels (correct when not predicted).
    """
    if np.size(y) == 0:
        return 0.0
    gold, others, total = _decision_parts(proba, y)
    pred = np.asarray(pred, dtype=bool)
    return int((pred & gold).sum() + (~pred & others).sum()) / total if total else 0.0


class DecisionAccuracy:
    """:func:`decision_accuracy` as a decision-search objective: the search scores hundreds of
    decision rules on the same ``(proba, y)``, so the ranking of non-gold labels is computed
    once per pair of arrays instead of once per rule."""

    __name__ = "decision_accuracy"

    def __init__(self) -> None:
        self._seen: tuple[Any, ...] | None = None

    def __call__(self, proba: np.ndarray, y: np.ndarray, pred: np.ndarray) -> float:
        if self._seen is None or self._seen[0] is not proba or self._seen[1] is not y:
            self._seen = (proba, y, *_decision_parts(proba, y))
        _, _, gold, others, total = self._seen
        pred = np.asarray(pred, dtype=bool)
        return int((pred & gold).sum() + (~pred & others).sum()) / total if total else 0.0


def micro_prf(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over every (text, label) decision; 0/0 counts as 0."""
    tp = float((pred & y).sum())
    n_pred, n_gold = float(pred.sum()), float(y.sum())
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return precision, recall, f1


def classification_metrics(
    labels: Sequence[str], y: np.ndarray, proba: np.ndarray, pred: np.ndarray,
    primary: np.ndarray | None = None, detail: bool = True,
) -> dict[str, Any]:
    """Decision and ranking figures for (possibly multi-label) test data.

    Args:
        labels: label ids (columns).
        y: ``(n, L)`` gold labels.
        proba: ``(n, L)`` calibrated scores.
        pred: ``(n, L)`` decisions (thresholds, floor and cap applied).
        primary: column of each text's first gold label (``-1``: none); default: the
            first gold column.
        detail: add per-label figures and the top-1 confusion matrix.

    Returns:
        ``precision`` / ``recall`` / ``micro_f1``: micro figures of the decisions;
        ``macro_f1``: mean F1 over the labels present in ``y``; ``decision_accuracy``: see
        :func:`decision_accuracy`; ``top1`` / ``top3``: share of texts whose first gold label
        is ranked first / among the first three; ``macro_f1_top1``: macro-F1 of the single best
        label per text; ``mean_labels_predicted`` and ``mean_gold_labels`` per text.
    """
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    if primary is None:
        primary = np.where(y.any(axis=1), y.argmax(axis=1), -1)
    scored = primary >= 0
    ranks = np.argsort(-proba, axis=1, kind="stable")
    top1 = float(np.mean(ranks[scored, 0] == primary[scored])) if scored.any() else 0.0
    top3 = (float(np.mean((ranks[scored, :3] == primary[scored, None]).any(axis=1)))
            if scored.any() else 0.0)
    tp = (pred & y).sum(axis=0)
    n_pred, support = pred.sum(axis=0), y.sum(axis=0)
    f1 = np.divide(2 * tp, n_pred + support, out=np.zeros(len(tp)), where=(n_pred + support) > 0)
    present = np.flatnonzero(support > 0)
    top1_pred = np.zeros_like(y)
    if len(y):
        top1_pred[np.arange(len(y)), ranks[:, 0]] = True
    tp1 = (top1_pred & y).sum(axis=0)
    f1_top1 = np.divide(2 * tp1, top1_pred.sum(axis=0) + support, out=np.zeros(len(tp1)),
                        where=(top1_pred.sum(axis=0) + support) > 0)
    precision, recall, micro_f1 = micro_prf(y, pred)
    out: dict[str, Any] = {
        "n": len(y),
        "top1": top1,
        "top3": top3,
        "precision": precision,
        "recall": recall,
        "micro_f1": micro_f1,
        "macro_f1": float(np.mean(f1[present])) if len(present) else 0.0,
        "macro_f1_top1": float(np.mean(f1_top1[present])) if len(present) else 0.0,
        "decision_accuracy": decision_accuracy(proba, y, pred),
        "mean_labels_predicted": float(pred.sum(axis=1).mean()) if len(y) else 0.0,
        "mean_gold_labels": float(y.sum(axis=1).mean()) if len(y) else 0.0,
    }
    if detail:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
            r = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        out["per_label"] = {
            labels[j]: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f1[j]),
                        "support": int(support[j])}
            for j in present
        }
        out["confusion_top1"] = _confusion(primary[scored], ranks[scored, 0], len(labels)).tolist()
    return out


def _confusion(truth: np.ndarray, guess: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (truth, guess), 1)
    return matrix


FIGURES = ("top1", "top3", "precision", "recall", "micro_f1", "macro_f1", "decision_accuracy",
           "mean_labels_predicted", "mean_gold_labels")


def mean_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean of each figure over sources (each source counts once); ``n`` summed."""
    out: dict[str, Any] = {"n": int(sum(r["n"] for r in rows)), "sources": len(rows)}
    for key in FIGURES:
        out[key] = float(np.mean([r[key] for r in rows])) if rows else 0.0
    return out


# --------------------------------------------------------------------------------------------
# Data


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
    _keyword_logits: np.ndarray | None = field(default=None, repr=False)

    def keyword_logits(self) -> np.ndarray:
        """``(n, L)`` keyword logits (they need no training, so they are computed once)."""
        if self._keyword_logits is None:
            probe = ScoringLayer(self.labels, self.prototypes, keywords=self.keywords)
            self._keyword_logits = probe.keyword_logits(self.texts)
        return self._keyword_logits

    @classmethod
    def build(
        cls, scheme: str, labels: Sequence[str], examples: Sequence[Any], encode: Callable[
            [list[str]], np.ndarray], prototypes: np.ndarray, keywords: dict[str, list[str]],
        objective: str,
    ) -> SchemeData:
        from nlp.labelled import calibration_mask, label_matrix

        labels = list(labels)
        column = {lab: j for j, lab in enumerate(labels)}
        texts = [e.text for e in examples]
        return cls(
            scheme=scheme, labels=labels, texts=texts,
            sources=np.array([e.source for e in examples]),
            vectors=np.asarray(encode(texts), dtype=np.float32),
            y=label_matrix(labels, examples),
            primary=np.array([column.get(e.label, -1) if e.positive else -1 for e in examples]),
            calibrate=calibration_mask(examples),
            prototypes=np.asarray(prototypes, dtype=np.float32),
            keywords=keywords, objective=objective,
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


# --------------------------------------------------------------------------------------------
# Splits


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


# --------------------------------------------------------------------------------------------
# Component logits


@dataclass
class SplitLogits:
    """Component logits of one split: out-of-fold for its training rows, and for its test rows
    from components fitted on the whole training part (as the saved layer would score them)."""

    oof: dict[str, np.ndarray]  # component -> (len(train), L)
    test: dict[str, np.ndarray]  # component -> (len(test), L)
    held: np.ndarray  # (len(train),) bool


def _supervised_logits(
    vectors: np.ndarray, y: np.ndarray, texts: Sequence[str], fit_rows: np.ndarray,
    score_rows: np.ndarray, final: bool, components: Sequence[str],
) -> dict[str, np.ndarray]:
    """Fit the supervised components on ``fit_rows`` and score ``score_rows``.

    ``final`` scores like a saved layer (kNN bank stored as float16); otherwise like
    ``fit_layer``'s out-of-fold loop (full-precision bank).
    """
    from nlp.training.fit import fit_head, fit_lexical

    out: dict[str, np.ndarray] = {}
    query = vectors[score_rows]
    if "head" in components:
        weights, bias = fit_head(vectors[fit_rows], y[fit_rows], HEAD_C)
        out["head"] = np.asarray(query @ weights.T + bias, dtype=np.float64)
    if "knn" in components:
        bank = vectors[fit_rows]
        if final:
            bank = bank.astype(np.float16).astype(np.float32)
        out["knn"] = knn_vote(query, bank, y[fit_rows])
    if "lexical" in components:
        lexical = fit_lexical([texts[i] for i in fit_rows], y[fit_rows])
        out["lexical"] = lexical.logits([texts[i] for i in score_rows])
    return out


def _run(tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], jobs: int,
         on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Run ``fn(*args)`` for each task, in ``jobs`` worker processes when ``jobs > 1``;
    ``on_result(i, result)`` is called as each result arrives (in task order)."""
    results: list[Any] = []
    if jobs <= 1 or len(tasks) <= 1:
        stream: Iterable[Any] = (fn(*args) for fn, args in tasks)
    else:
        from joblib import Parallel, delayed

        stream = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(fn)(*args) for fn, args in tasks)
    for result in stream:
        if on_result:
            on_result(len(results), result)
        results.append(result)
    return results


class FitCache:
    """Supervised component logits on disk, one ``.npz`` per (training set, scored texts).

    The key hashes everything the logits depend on: the training texts, their vectors and
    labels, the scored texts and vectors, the scoring mode, the library versions and the source
    of the fitting functions. Re-evaluating after a change to the stacking or decision code
    therefore refits nothing, and a stopped run resumes where it was.
    """

    def __init__(self, root: Path | None, embedder_name: str = "") -> None:
        slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in embedder_name)
        self.dir = Path(root) / (slug or "default") if root is not None else None
        self.computed = 0
        self.loaded = 0

    @staticmethod
    @functools.cache
    def _code() -> str:
        # Once per process: inspect reads the source from disk, and in a shared working tree
        # the file may change while a long run goes on; the keys of one run must agree.
        import hashlib
        import inspect

        import sklearn

        from nlp.tagging import scoring
        from nlp.training import fit

        parts = [inspect.getsource(f) for f in (fit.fit_head, fit.fit_lexical, scoring.knn_vote,
                                                scoring.lexical_settings, _supervised_logits)]
        parts += [np.__version__, sklearn.__version__, repr(HEAD_C), repr(SUPERVISED)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def key(self, data: SchemeData, fit_rows: np.ndarray, score_rows: np.ndarray,
            final: bool) -> str:
        import hashlib

        digest = hashlib.sha256(self._code().encode())
        digest.update(b"final" if final else b"oof")
        for rows in (fit_rows, score_rows):
            digest.update(np.ascontiguousarray(data.vectors[rows]).tobytes())
            digest.update(np.ascontiguousarray(data.y[rows]).tobytes())
            digest.update("\0".join(data.texts[i] for i in rows).encode())
        return digest.hexdigest()

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.dir / f"{key}.npz" if self.dir else None
        if path is None or not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as saved:
            out = {name: saved[name] for name in saved.files}
        self.loaded += 1
        return out

    def save(self, key: str, logits: dict[str, np.ndarray]) -> None:
        self.computed += 1
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"{key}.tmp.npz"
        np.savez(tmp, **logits)
        tmp.replace(self.dir / f"{key}.npz")


def split_logits(
    data: SchemeData, splits: Sequence[Split], jobs: int = 1, progress: Progress | None = None,
    cache: FitCache | None = None,
) -> list[SplitLogits]:
    """Component logits of every split; each supervised model is fitted once per distinct
    training set (inner folds shared between splits are fitted once), or read from ``cache``."""
    from nlp.training.fit import background_stats

    # (final, fit rows) -> rows to score
    requests: dict[tuple[bool, bytes], tuple[np.ndarray, set[int]]] = {}

    def ask(final: bool, fit_rows: np.ndarray, score_rows: np.ndarray) -> None:
        key = (final, np.asarray(fit_rows, np.int64).tobytes())
        requests.setdefault(key, (fit_rows, set()))[1].update(int(i) for i in score_rows)

    for split in splits:
        for fit_rows, scored in split.inner:
            ask(False, fit_rows, scored)
        ask(True, split.train, split.test)
    cache = cache or FitCache(None)
    score_rows = {key: np.array(sorted(rows), dtype=int) for key, (_, rows) in requests.items()}
    digests = {key: cache.key(data, requests[key][0], score_rows[key], key[0])
               for key in requests}
    fitted: dict[tuple[bool, bytes], dict[str, np.ndarray]] = {}
    for key in requests:
        found = cache.load(digests[key])
        if found is not None:
            fitted[key] = found
    todo = [key for key in requests if key not in fitted]
    tasks = [(_supervised_logits, (data.vectors, data.y, data.texts, requests[key][0],
                                   score_rows[key], key[0], SUPERVISED)) for key in todo]
    if progress:
        progress(f"[{data.scheme}] fitting supervised components on {len(tasks)} training sets "
                 f"({len(splits)} splits; {len(fitted)} more read from the fit cache)")
    step = max(1, len(tasks) // 10)

    def keep(i: int, result: dict[str, np.ndarray]) -> None:
        fitted[todo[i]] = result
        cache.save(digests[todo[i]], result)
        if progress and ((i + 1) % step == 0 or i + 1 == len(tasks)):
            progress(f"[{data.scheme}]   {i + 1}/{len(tasks)} training sets fitted")

    _run(tasks, jobs, keep)

    def lookup(final: bool, fit_rows: np.ndarray, rows: np.ndarray, name: str) -> np.ndarray:
        key = (final, np.asarray(fit_rows, np.int64).tobytes())
        position = np.searchsorted(score_rows[key], rows)
        return fitted[key][name][position]

    cosine = data.vectors @ data.prototypes.T
    keyword_logits = data.keyword_logits()
    out = []
    for split in splits:
        center, spread = background_stats(data.vectors[split.train], data.prototypes)
        oof = {"prototype": (cosine[split.train] - center) / spread,
               "keyword": keyword_logits[split.train]}
        test = {"prototype": (cosine[split.test] - center) / spread,
                "keyword": keyword_logits[split.test]}
        position = {int(r): i for i, r in enumerate(split.train)}
        for name in SUPERVISED:
            oof[name] = np.zeros((len(split.train), len(data.labels)))
            for fit_rows, scored in split.inner:
                oof[name][[position[int(r)] for r in scored]] = lookup(False, fit_rows, scored,
                                                                      name)
            test[name] = lookup(True, split.train, split.test, name)
        if not data.keywords:
            oof.pop("keyword"), test.pop("keyword")
        out.append(SplitLogits(oof, test, split.held()))
    return out


# --------------------------------------------------------------------------------------------
# Stacking


@dataclass(frozen=True)
class Stack:
    """Stacker weights and decision rule fitted on out-of-fold logits (as in ``fit_layer``)."""

    mix: dict[str, float]
    bias: float
    thresholds: np.ndarray
    floor: float
    cap: int

    def proba(self, logits: dict[str, np.ndarray]) -> np.ndarray:
        first = next(iter(logits.values()))
        z = np.full(first.shape, self.bias, dtype=np.float64)
        for name, weight in self.mix.items():
            z += weight * logits[name]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return ScoringLayer.apply_decision(proba, self.thresholds, self.floor, self.cap)


def _objective(name: str) -> Any:
    # fit_decision accepts a callable objective; the vectorised decision accuracy gives the
    # same values as fit.decision_accuracy (tested) at a fraction of the time
    return DecisionAccuracy() if name == "decision_accuracy" else name


def fit_stack(
    oof: dict[str, np.ndarray], y: np.ndarray, calibrate: np.ndarray, held: np.ndarray,
    components: Sequence[str], objective: str = "micro_f1",
) -> Stack:
    """The steps of :func:`nlp.training.fit.fit_layer` after its out-of-fold loop: stacker,
    per-label thresholds and decision rule, fitted on the rows that may calibrate (and, when a
    supervised component is stacked, have out-of-fold logits).

    Raises:
        ValueError: no requested component has logits, or no row may calibrate.
    """
    from nlp.training.fit import calibrate_thresholds, fit_decision, fit_stacker

    use = [name for name in COMPONENTS if name in components and name in oof]
    if not use:
        raise ValueError(f"No usable scoring component among {tuple(components)!r}")
    mask = np.asarray(calibrate, bool).copy()
    if any(name in SUPERVISED for name in use):
        mask &= held
    if not mask.any():
        raise ValueError("No training row may calibrate the stacker")
    mix, bias = fit_stacker({name: oof[name][mask] for name in use}, y[mask])
    z = bias + sum(mix[name] * oof[name] for name in mix)
    proba = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    thresholds, _, _ = calibrate_thresholds(proba[mask], y[mask])
    decision = fit_decision(proba[mask], y[mask], thresholds, _objective(objective))
    return Stack(mix, bias, decision.thresholds, decision.floor, decision.cap)


def variants(ablation: bool) -> dict[str, tuple[str, ...]]:
    """The stacks scored in a split: the three systems, plus the trained system without each
    component in turn (``"-prototype"``, ...) when ``ablation``."""
    out = dict(SYSTEM_COMPONENTS)
    if ablation:
        for name in COMPONENTS:
            out[f"-{name}"] = tuple(c for c in COMPONENTS if c != name)
    return out


def _score_split(
    logits: SplitLogits, y_train: np.ndarray, calibrate: np.ndarray, drop: frozenset[str],
    stacks: dict[str, tuple[str, ...]], objective: str,
) -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, float]]]:
    out = {}
    for name, components in stacks.items():
        kept = tuple(c for c in components if c not in drop)
        if not kept:
            continue
        stack = fit_stack(logits.oof, y_train, calibrate, logits.held, kept, objective)
        proba = stack.proba(logits.test)
        out[name] = (proba, stack.decide(proba), {k: round(v, 3) for k, v in stack.mix.items()})
    return out


def score_splits(
    data: SchemeData, splits: Sequence[Split], ablation: bool = False, jobs: int = 1,
    progress: Progress | None = None, cache: FitCache | None = None,
) -> list[dict[str, tuple[np.ndarray, np.ndarray, dict[str, float]]]]:
    """Test scores of every stack of every split: ``[{stack: (proba, pred, mix)}, ...]``."""
    logits = split_logits(data, splits, jobs, progress, cache)
    if progress:
        progress(f"[{data.scheme}] stacking and calibrating {len(splits)} splits")
    tasks = [(_score_split, (lg, data.y[s.train], s.calibrate, s.drop, variants(ablation),
                             data.objective)) for s, lg in zip(splits, logits)]
    return _run(tasks, jobs)


# --------------------------------------------------------------------------------------------
# The evaluations


def _in_source(data: SchemeData, source: str, config: EvalConfig,
               progress: Progress | None, fits: FitCache | None = None
               ) -> tuple[dict[str, Any], list[dict[str, float]]]:
    splits = in_source_splits(data.sources, data.primary, data.calibrate, source,
                              config.folds, config.seed)
    scored = score_splits(data, splits, False, config.jobs, progress, fits)
    rows = np.concatenate([s.test for s in splits])
    systems = {}
    for system in SYSTEMS:
        proba = np.concatenate([r[system][0] for r in scored])
        pred = np.concatenate([r[system][1] for r in scored])
        systems[system] = classification_metrics(data.labels, data.y[rows], proba, pred,
                                                 data.primary[rows])
    return systems, [r["trained"][2] for r in scored]


def _held_out(data: SchemeData, names: Sequence[str], config: EvalConfig,
              progress: Progress | None, fits: FitCache | None = None) -> dict[str, Any]:
    splits = held_out_source_splits(data.sources, data.calibrate, names)
    scored = score_splits(data, splits, True, config.jobs, progress, fits)
    per_source: dict[str, Any] = {}
    for split, result in zip(splits, scored):
        metrics = {name: classification_metrics(data.labels, data.y[split.test], proba, pred,
                                                data.primary[split.test], detail=False)
                   for name, (proba, pred, _) in result.items()}
        per_source[split.name] = {
            "n": len(split.test),
            "n_train": len(split.train),
            "calibration_sources": [str(data.sources[rows[0]]) for _, rows in split.inner],
            "note": split.note,
            "in_mean": split.name not in PROTOTYPE_TEXT_SOURCES,
            "mix": result["trained"][2],
            "systems": {s: metrics[s] for s in SYSTEMS if s in metrics},
            "ablation": {c: metrics.get(f"-{c}", metrics["trained"]) for c in COMPONENTS},
        }
    return {"sources": per_source, "mean": held_out_mean(per_source)}


def held_out_mean(per_source: dict[str, Any]) -> dict[str, Any]:
    """Unweighted mean over the held-out sources marked ``in_mean``, per system and ablation."""
    rows = [r for r in per_source.values() if r.get("in_mean", True)]
    return {
        "systems": {s: mean_metrics([r["systems"][s] for r in rows if s in r["systems"]])
                    for s in SYSTEMS},
        "ablation": {c: mean_metrics([r["ablation"][c] for r in rows]) for c in COMPONENTS},
    }


def _header(embedder: Any, data: SchemeData, config: EvalConfig) -> dict[str, Any]:
    return {
        "scheme": data.scheme,
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": data.labels,
        "objective": data.objective,
        "training_sources": data.source_counts(),
        "config": {"folds": config.folds, "per_source": config.per_source,
                   "max_held_out": config.max_held_out, "seed": config.seed},
    }


def evaluate_action_lines(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
    config: EvalConfig | None = None, held_out: bool = False,
) -> dict[str, Any]:
    """Action Lines (18 classes): nested k-fold on the WSIS Prizes 2021 projects and, with
    ``held_out``, leave-Prizes-out (train on the other sources only) with the ablation."""
    from nlp.embed_cache import EmbeddingCache
    from nlp.labelled import action_line_examples
    from nlp.training.fit import build_prototypes

    config = config or EvalConfig(folds=n_folds, seed=seed)
    cache = EmbeddingCache(cache_dir, embedder)
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    examples = subsample(action_line_examples(data_dir, taxonomy), config.per_source,
                         config.seed)
    data = SchemeData.build(
        ACTION_LINES, [lab.id for lab in labels], examples,
        lambda texts: cache.encode(texts, show_progress=progress is not None),
        build_prototypes(cache, taxonomy, ACTION_LINES, labels),
        {lab.id: list(lab.keywords) for lab in labels}, OBJECTIVES[ACTION_LINES])
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes = _in_source(data, "wsis-prizes-2021", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"wsis-prizes-2021 (title + description), stratified {config.folds}-fold; "
                     "other sources always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} Prizes folds "
                      f"(objective {data.objective}); other sources train but never calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
    }
    if held_out:
        result["held_out"] = _held_out(data, ["wsis-prizes-2021"], config, progress, fits) | {
            "kind": "leave-Prizes-out",
            "selection": ("trained on WSIS projects 2015, WSIS-SDG Matrix Plan items and "
                          "rationales only; stacker and decision rule fitted "
                          "leave-one-source-out over those (Plan items train but never "
                          "calibrate: the prototypes are written from them)"),
        }
    result["fits"] = {"computed": fits.computed, "from_cache": fits.loaded}
    return result


def evaluate_sdgs(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
    config: EvalConfig | None = None, held_out: bool = False,
) -> dict[str, Any]:
    """SDG goals: nested k-fold on qu-sdg-sentences and, with ``held_out``, leave-one-source-out
    over every SDG source with enough texts, with the ablation."""
    from nlp.embed_cache import EmbeddingCache
    from nlp.labelled import sdg_goal_examples
    from nlp.training.fit import build_prototypes
    from nlp.training.trainers import sdg_goal_keywords

    config = config or EvalConfig(folds=n_folds, seed=seed)
    cache = EmbeddingCache(cache_dir, embedder)
    goals = taxonomy.sdg_goals
    examples = subsample(sdg_goal_examples(data_dir), config.per_source, config.seed)
    data = SchemeData.build(
        SDGS, [g.id for g in goals], examples,
        lambda texts: cache.encode(texts, show_progress=progress is not None),
        build_prototypes(cache, taxonomy, SDGS, goals), sdg_goal_keywords(taxonomy, data_dir),
        OBJECTIVES[SDGS])
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes = _in_source(data, "qu-sdg-sentences", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"qu-sdg-sentences, stratified {config.folds}-fold; every other SDG source "
                     "always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} qu-sdg-sentences "
                      f"folds (objective {data.objective}); other sources train but never "
                      "calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
    }
    if held_out:
        counts = data.source_counts()
        names = [s for s in SDG_HELD_OUT_SOURCES if counts.get(s, 0) >= MIN_SOURCE_SIZE]
        if config.max_held_out is not None:
            names = names[: config.max_held_out]
        result["held_out"] = _held_out(data, names, config, progress, fits) | {
            "kind": "leave-one-source-out",
            "selection": ("each source is scored by a model trained on all other sources; its "
                          "stacker weights, thresholds, floor and cap are fitted "
                          "leave-one-source-out over those training sources only (as "
                          "fit_layer(groups=sources) in the trainer; sdg-targets train but never "
                          f"calibrate), objective {data.objective}"),
        }
    result["fits"] = {"computed": fits.computed, "from_cache": fits.loaded}
    return result


# --------------------------------------------------------------------------------------------
# Gold set


def evaluate_gold(settings: Any, embedder: Any, keys: Sequence[str],
                  progress: Progress | None = None) -> dict[str, Any]:
    """Micro P/R/F1 per tagger output key of the shipped taggers on the gold passages.

    The parent ``C7`` is dropped from predictions (the gold set labels its sub-lines only).
    When a shipped decision rule was fitted on the gold passages (manifest ``decision_rule``),
    its figures are in-sample; the result then also holds ``cross_fitted`` for those keys: the
    same taggers with the rule refitted on the passages of the other documents
    (:func:`nlp.training.tune.cross_fit_gold`).

    Returns ``{"available": False, "reason": ...}`` when the gold set or the shipped taggers
    for ``embedder`` are missing.
    """
    try:
        from nlp.training.gold import GOLD_KEYS, load_gold, score_gold
    except ImportError:
        return {"available": False, "reason": "gold set not found (nlp/training/gold.py is "
                                              "missing)"}
    from nlp.errors import WsisError
    from nlp.workspace import Workspace

    try:
        gold = load_gold()
    except (WsisError, OSError) as exc:
        return {"available": False, "reason": f"gold set not found: {exc}"}
    try:
        suite = Workspace(settings, tag_embedder=embedder).taggers(build=False)
    except WsisError as exc:
        return {"available": False, "reason": f"no shipped taggers to score: {exc}"}
    if progress:
        progress(f"[gold] tagging {len(gold)} gold passages with the shipped taggers")
    texts = [g.text for g in gold]
    tagged = suite.tag(texts)
    produced = set(tagged[0].tags) if tagged else set()
    wanted = [k for k in keys if k in GOLD_KEYS.values() and k in produced]
    predicted = [{key: [lab for lab in t.predicted(key) if lab != "C7"] for key in wanted}
                 for t in tagged]
    tuned: dict[str, int] = {}
    for tagger in suite.taggers.values():
        rule = tagger.manifest.get("decision_rule") or {}
        tuned.update({key: value.get("gold_passages", 0) for key, value in rule.items()
                      if isinstance(value, dict) and value.get("gold_passages")})
    field_of = {key: name for name, key in GOLD_KEYS.items()}

    def figures(predictions: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        scores = score_gold(gold, predictions)
        return {key: {k: v for k, v in scores[key].items() if k != "per_label"}
                | {"gold_field": field_of[key], "rule_fitted_on_gold": key in tuned}
                for key in wanted}

    out: dict[str, Any] = {
        "available": True,
        "n_passages": len(gold),
        "models": {scheme: str(path) for scheme, path in suite.paths.items()},
        "keys": figures(predicted),
        "not_produced": [k for k in keys if k in GOLD_KEYS.values() and k not in produced],
        "per_label": {key: value["per_label"]
                      for key, value in score_gold(gold, predicted).items() if key in wanted},
    }
    if set(tuned) & set(wanted):
        try:
            from nlp.training.tune import cross_fit_gold
        except ImportError:
            return out
        from nlp.tagging.evidence import encode_with_segments

        vectors, _, segments = encode_with_segments(suite.embedder, texts)
        crossed = cross_fit_gold(list(suite.taggers.values()), vectors, gold,
                                 segments=segments)
        # only keys whose shipped rule saw the gold set: for the others the shipped figures
        # are already out-of-sample, and a gold-fitted rule is not what ships
        out["cross_fitted"] = {key: m | {"rule_fitted_on_gold": False}
                               for key, m in figures(crossed).items() if key in tuned}
    return out


# --------------------------------------------------------------------------------------------
# A whole run


def machine() -> dict[str, Any]:
    """CPU model (lscpu), core count and load average, for the report header."""
    model = platform.processor() or platform.machine()
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
        for line in listing.splitlines():
            if line.lower().startswith("model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": model, "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def encoder_training(spec: str) -> dict[str, Any] | None:
    """What a fine-tuned encoder directory says it was trained on (its ``manifest.json``):
    ``{"name", "schemes", "n_texts"}``, or ``None`` for a stock model."""
    import json

    manifest = Path(spec) / "manifest.json"
    if not manifest.is_file():
        return None
    meta = json.loads(manifest.read_text())
    prefixes = {"al": ACTION_LINES, "sdg": SDGS, "gdc": GDC}
    per_scheme = meta.get("texts_per_scheme") or {}
    return {"name": meta.get("name", Path(spec).name),
            "schemes": sorted(prefixes.get(k, k) for k, n in per_scheme.items() if n),
            "n_texts": int(meta.get("n_texts", sum(per_scheme.values())))}


@dataclass
class EvaluationRun:
    """What ``wsis evaluate`` produced: per-scheme results, the gold set and the run header."""

    schemes: dict[str, dict[str, Any]]
    gold: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)


def run_evaluation(
    settings: Any, embedder: Any, schemes: Sequence[str], config: EvalConfig | None = None,
    progress: Progress | None = None,
) -> EvaluationRun:
    """Every evaluation of the requested schemes (GDC has only the gold set).

    Raises:
        WsisError: the data directory lacks the labelled data.
    """
    from nlp import data as datasets
    from nlp.errors import DataMissingError
    from nlp.taxonomy import load_taxonomy

    config = config or EvalConfig()
    if not datasets.data_available(settings.data_dir):
        raise DataMissingError(f"no labelled data in {settings.data_dir}; set WSIS_DATA_DIR")
    started, before = time.time(), machine()
    taxonomy = load_taxonomy(settings.taxonomy_dir, settings.data_dir)
    cache_dir = settings.embedding_cache_dir
    evaluators = {ACTION_LINES: evaluate_action_lines, SDGS: evaluate_sdgs}
    results = {}
    for scheme in schemes:
        if scheme in evaluators:
            if progress:
                progress(f"[{scheme}] evaluating ...")
            results[scheme] = evaluators[scheme](embedder, taxonomy, settings.data_dir,
                                                 cache_dir, progress=progress, config=config,
                                                 held_out=True)
    keys = [key for scheme in schemes for key in GOLD_SCHEME_KEYS.get(scheme, ())]
    gold = evaluate_gold(settings, embedder, keys, progress)
    after = machine()
    run = {
        "mode": "smoke" if config.is_smoke else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "cpu": before["cpu"], "cores": before["cores"],
        "load_average_start": before["load_average"], "load_average_end": after["load_average"],
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "encoder_training": encoder_training(getattr(settings, "tagging_model_spec", "")),
        "jobs": config.jobs,
        "config": {"folds": config.folds, "per_source": config.per_source,
                   "max_held_out": config.max_held_out, "seed": config.seed},
        "fits": {"computed": sum(r["fits"]["computed"] for r in results.values()),
                 "from_cache": sum(r["fits"]["from_cache"] for r in results.values()),
                 "cache": str(config.fit_cache) if config.fit_cache else None},
    }
    return EvaluationRun(results, gold, run)
