"""Cross-validated evaluation of the taggers beside a zero-shot and a TF-IDF baseline.

Action Lines are evaluated on the WSIS Prizes 2021 projects (stratified folds; every other
source stays in training). SDG goals are evaluated on the SDG sentences (stratified folds) and,
to measure generalisation across sources, by training without any SDG sentence and testing on
all of them. Each system is calibrated only on its own training folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy

Progress = Callable[[str], None]
SYSTEM_COMPONENTS = {
    "zero-shot": ("prototype", "keyword"),
    "trained": ("prototype", "keyword", "head", "knn", "lexical"),
    "tfidf-baseline": ("lexical",),
}
SYSTEMS = tuple(SYSTEM_COMPONENTS)


@dataclass
class FoldPredictions:
    labels: list[str]
    y: np.ndarray  # (n, L) bool
    proba: dict[str, np.ndarray]  # system -> (n, L)
    pred: dict[str, np.ndarray]  # system -> (n, L) bool


def classification_metrics(
    labels: Sequence[str], y: np.ndarray, proba: np.ndarray, pred: np.ndarray
) -> dict[str, Any]:
    """Multi-label and ranking figures for single-label test data.

    ``macro_f1`` / ``micro_f1`` use the calibrated thresholds (multi-label decisions);
    ``macro_f1_top1`` uses the single best label per text. ``top1`` / ``top3`` are the share
    of texts whose true label is ranked first / in the first three.
    """
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = y.argmax(axis=1)
    ranks = np.argsort(-proba, axis=1)
    top1 = float(np.mean(ranks[:, 0] == truth))
    top3 = float(np.mean([truth[i] in ranks[i, :3] for i in range(len(truth))]))
    present = np.flatnonzero(y.any(axis=0))
    p, r, f, support = precision_recall_fscore_support(y, pred, zero_division=0)
    top1_pred = np.zeros_like(y)
    top1_pred[np.arange(len(y)), ranks[:, 0]] = True
    return {
        "n": len(y),
        "top1": top1,
        "top3": top3,
        "macro_f1": float(np.mean(f[present])),
        "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
        "macro_f1_top1": float(np.mean(
            precision_recall_fscore_support(y, top1_pred, zero_division=0)[2][present])),
        "mean_labels_predicted": float(pred.sum(axis=1).mean()),
        "per_label": {
            labels[j]: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
                        "support": int(support[j])}
            for j in present
        },
        "confusion_top1": _confusion(truth, ranks[:, 0], len(labels)).tolist(),
    }


def _confusion(truth: np.ndarray, guess: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=int)
    for t, g in zip(truth, guess):
        matrix[t, g] += 1
    return matrix


def _run_systems(
    ids: list[str],
    protos: np.ndarray,
    train_texts: list[str], train_vectors: np.ndarray, train_y: np.ndarray,
    test_texts: list[str], test_vectors: np.ndarray,
    calibrate: np.ndarray | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Fit the three systems on the training part and score the test part."""
    from nlp.training.fit import fit_layer

    proba, pred, info = {}, {}, {}
    for system, components in SYSTEM_COMPONENTS.items():
        fit = fit_layer(ids, train_vectors, train_y, protos, train_texts, components,
                        calibrate=calibrate, keywords=keywords)
        proba[system] = fit.layer.proba(test_vectors, test_texts)
        pred[system] = fit.layer.decide(proba[system])
        if system == "trained":
            info["mix"] = {k: round(v, 3) for k, v in fit.layer.mix.items()}
    return proba, pred, info


def cross_validate(
    ids: list[str],
    protos: np.ndarray,
    examples: Sequence[Any],
    vectors: np.ndarray,
    eval_source: str,
    n_folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> tuple[FoldPredictions, list[dict[str, float]]]:
    """Stratified k-fold over the examples of ``eval_source``; all other examples always train."""
    from sklearn.model_selection import StratifiedKFold

    from nlp.labelled import calibration_mask, label_matrix

    y_all = label_matrix(ids, examples)
    mask = calibration_mask(examples)
    eval_idx = np.array([i for i, e in enumerate(examples) if e.source == eval_source])
    other_idx = np.array([i for i, e in enumerate(examples) if e.source != eval_source], int)
    strata = y_all[eval_idx].argmax(axis=1)
    n = len(eval_idx)
    proba = {s: np.zeros((n, len(ids))) for s in SYSTEMS}
    pred = {s: np.zeros((n, len(ids)), bool) for s in SYSTEMS}
    blends = []
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    texts = [e.text for e in examples]
    for k, (tr, te) in enumerate(splitter.split(np.zeros(n), strata), start=1):
        train = np.concatenate([other_idx, eval_idx[tr]])
        test = eval_idx[te]
        p, d, info = _run_systems(
            ids, protos, [texts[i] for i in train], vectors[train], y_all[train],
            [texts[i] for i in test], vectors[test], mask[train], keywords,
        )
        for s in SYSTEMS:
            proba[s][te], pred[s][te] = p[s], d[s]
        blends.append(info["mix"])
        if progress:
            progress(f"fold {k}/{n_folds} done (mix {info['mix']})")
    return FoldPredictions(ids, y_all[eval_idx], proba, pred), blends


def _summarise(fp: FoldPredictions) -> dict[str, Any]:
    return {s: classification_metrics(fp.labels, fp.y, fp.proba[s], fp.pred[s]) for s in SYSTEMS}


def evaluate_action_lines(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
) -> dict[str, Any]:
    """Action Lines on the WSIS Prizes 2021 projects (18 classes), k-fold."""
    from nlp.labelled import action_line_examples
    from nlp.embed_cache import EmbeddingCache
    from nlp.training.fit import build_prototypes

    cache = EmbeddingCache(cache_dir, embedder)
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    ids = [lab.id for lab in labels]
    protos = build_prototypes(cache, taxonomy, ACTION_LINES, labels)
    examples = action_line_examples(data_dir, taxonomy)
    vectors = cache.encode([e.text for e in examples], show_progress=progress is not None)
    keywords = {lab.id: list(lab.keywords) for lab in labels}
    fp, blends = cross_validate(ids, protos, examples, vectors, "wsis-prizes-2021", n_folds,
                                seed, progress, keywords)
    return {
        "scheme": ACTION_LINES,
        "eval_set": "wsis-prizes-2021 (title + description), stratified "
                    f"{n_folds}-fold; other sources always in training",
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": ids,
        "mix_per_fold": blends,
        "systems": _summarise(fp),
    }


def evaluate_sdgs(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
) -> dict[str, Any]:
    """SDG goals on the SDG sentences: k-fold, plus train-without-sentences (cross-source)."""
    from nlp.labelled import calibration_mask, label_matrix, sdg_goal_examples
    from nlp.embed_cache import EmbeddingCache
    from nlp.training.fit import build_prototypes
    from nlp.training.trainers import sdg_goal_keywords

    cache = EmbeddingCache(cache_dir, embedder)
    goals = taxonomy.sdg_goals
    ids = [g.id for g in goals]
    protos = build_prototypes(cache, taxonomy, SDGS, goals)
    examples = sdg_goal_examples(data_dir)
    vectors = cache.encode([e.text for e in examples], show_progress=progress is not None)
    keywords = sdg_goal_keywords(taxonomy, data_dir)
    fp, blends = cross_validate(ids, protos, examples, vectors, "qu-sdg-sentences", n_folds,
                                seed, progress, keywords)
    # Cross-source: train on taxonomy texts and Matrix rationales only, test on every sentence.
    is_eval = np.array([e.source == "qu-sdg-sentences" for e in examples])
    y = label_matrix(ids, examples)
    texts = [e.text for e in examples]
    p, d, info = _run_systems(
        ids, protos, [t for t, m in zip(texts, is_eval) if not m], vectors[~is_eval], y[~is_eval],
        [t for t, m in zip(texts, is_eval) if m], vectors[is_eval],
        calibration_mask(examples)[~is_eval], keywords,
    )
    cross = FoldPredictions(ids, y[is_eval], p, d)
    return {
        "scheme": SDGS,
        "eval_set": f"qu-sdg-sentences, stratified {n_folds}-fold; targets, indicators and "
                    "Matrix rationales always in training",
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": ids,
        "mix_per_fold": blends,
        "systems": _summarise(fp),
        "cross_source": {
            "eval_set": "all qu-sdg-sentences; trained only on SDG target/indicator texts and "
                        "WSIS-SDG Matrix rationales",
            "mix": info["mix"],
            "systems": _summarise(cross),
        },
    }


# --------------------------------------------------------------------------------------------
# Reports
