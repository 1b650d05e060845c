"""The decision rule: how calibrated scores become tags, and how it is fitted on held-out
scores (micro-F1 or decision accuracy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.tagging.scoring import ScoringLayer


@dataclass(frozen=True)
class Decision:
    """How calibrated scores become tags: the top label needs ``floor``, the others their own
    threshold, and at most ``cap`` labels are kept (0: no cap)."""

    thresholds: np.ndarray
    floor: float
    cap: int
    shift: float
    objective: str
    score: float


def decision_candidates(proba: np.ndarray, thresholds: np.ndarray
                        ) -> Iterator[tuple[np.ndarray, float, int, float]]:
    """Every rule tried when fitting a decision, in search order: ``(shifted thresholds,
    floor, cap, shift)``; floors are quantiles of the texts' top scores."""
    top = proba.max(axis=1)
    floors = np.unique(np.r_[0.0, np.quantile(top, np.linspace(0.0, 0.6, 13))])
    for shift in (-0.3, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2):
        shifted = np.clip(thresholds + shift, 0.02, 0.98)
        for cap in (0, 1, 2, 3, 4, 5):
            for floor in floors:
                yield shifted, float(floor), cap, shift


def strongest_wrong(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of each text's highest-scored non-gold labels, as many as it has gold labels."""
    masked = np.where(y, -np.inf, proba)
    order = np.argsort(-masked, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(y.shape[1])[None, :].repeat(len(y), 0), axis=1)
    k = np.minimum(y.sum(axis=1), (~y).sum(axis=1))
    return (~y) & (rank < k[:, None])


def decision_accuracy(proba: np.ndarray, y: np.ndarray, pred: np.ndarray,
                      wrong: np.ndarray | None = None) -> float:
    """Accuracy over (text, label) judgements shaped like expert benchmarks: each text's gold
    labels as positives and as many of the model's strongest non-gold labels as negatives.

    ``wrong`` (:func:`strongest_wrong`) may be passed when scoring many decisions of the
    same scores."""
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    wrong = strongest_wrong(proba, y) if wrong is None else wrong
    total = int(y.sum() + wrong.sum())
    return int((pred & y).sum() + (~pred & wrong).sum()) / total if total else 0.0


def _scorer(name: Any, proba: np.ndarray, y: np.ndarray) -> Any:
    """``score(pred)`` for an objective; the ranking work is done once."""
    if callable(name):
        return lambda pred: float(name(proba, y, pred))
    if name == "decision_accuracy":
        wrong = strongest_wrong(proba, y)
        return lambda pred: decision_accuracy(proba, y, pred, wrong)
    n_gold = float(y.sum())

    def micro_f1(pred: np.ndarray) -> float:
        return 2 * float((pred & y).sum()) / max(float(pred.sum()) + n_gold, 1.0)

    return micro_f1


def fit_decision(
    proba: np.ndarray, y: np.ndarray, thresholds: np.ndarray, objective: Any = "micro_f1",
) -> Decision:
    """Choose the top-label floor, a shift of every label's threshold and a cap on labels per
    text on held-out scores (the caller passes out-of-source or out-of-fold predictions).

    The objective is micro-F1 or :func:`decision_accuracy`; ties keep the simpler rule.
    """
    y = np.asarray(y, bool)
    scorer = _scorer(objective, proba, y)
    name = str(getattr(objective, "__name__", objective))
    best: Decision | None = None
    for shifted, floor, cap, shift in decision_candidates(proba, thresholds):
        score = scorer(ScoringLayer.apply_decision(proba, shifted, floor, cap))
        if best is None or score > best.score + 1e-9:
            best = Decision(shifted, floor, cap, shift, name, score)
    assert best is not None
    return best
