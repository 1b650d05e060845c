"""Figures of scored test texts: micro precision, recall and F1, macro-F1, decision accuracy,
top-1/top-3 and their means over sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.training.decision import decision_accuracy


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
