"""Fitting scoring layers: heads, stacker, calibration, thresholds, prototypes, zero-shot rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlp import data as datasets
from nlp.embed_cache import EmbeddingCache
from nlp.labelled import Example, label_matrix
from nlp.tagging.scoring import COMPONENTS, LexicalHead, ScoringLayer, knn_vote, lexical_settings
from nlp.taxonomy import ACTION_LINES, GDC, SDGS, Label, Taxonomy
from nlp.training.decision import Decision, fit_decision
from nlp.vectors import normalise_rows


def fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pooled sigmoid ``p = sigmoid(a * z + b)`` fitted on flattened logits and labels."""
    from sklearn.linear_model import LogisticRegression

    z, y = np.ravel(z).astype(np.float64), np.ravel(y).astype(int)
    if y.min() == y.max():
        return 1.0, 0.0
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(z[:, None], y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def best_f1_threshold(
    scores: np.ndarray, y: np.ndarray, beta: float = 1.0
) -> tuple[float, float]:
    """Threshold on ``scores`` that maximises F-beta (F1 by default) for binary ``y``;
    returns ``(threshold, score)``. ``beta < 1`` favours precision.

    The threshold is the midpoint between the chosen score and the next lower one, so it
    separates the same examples on held-out data without sitting on a training score.
    """
    scores, y = np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=bool)
    positives = int(y.sum())
    if positives == 0:
        return 1.0, 0.0
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    predicted = np.arange(1, len(s) + 1)
    b2 = beta * beta
    f1 = (1 + b2) * tp / (predicted + b2 * positives)
    # only cut between distinct scores
    valid = np.r_[s[1:] < s[:-1], True]
    f1 = np.where(valid, f1, -1)
    k = int(np.argmax(f1))
    below = s[k + 1] if k + 1 < len(s) else s[k] - 1e-3
    return float(max(min((s[k] + below) / 2, 1.0), 0.0)), float(f1[k])


def calibrate_thresholds(
    proba: np.ndarray, y: np.ndarray, min_positives: int = 5, prior_strength: float = 10.0
) -> tuple[np.ndarray, list[str], float]:
    """Per-label F1-maximising thresholds on held-out scores, shrunk toward a scheme threshold.

    The scheme threshold maximises micro-F1 over all labels pooled. A label's own optimum is
    weighted by its positive count ``n``: ``(n * own + k * scheme) / (n + k)``; labels with
    fewer than ``min_positives`` held-out positives use the scheme threshold.

    Returns:
        ``(thresholds (L,), sources, scheme_threshold)``.
    """
    scheme_t, _ = best_f1_threshold(proba.ravel(), y.ravel())
    thresholds = np.full(proba.shape[1], scheme_t)
    sources = ["scheme-wide held-out F1 (few held-out positives)"] * proba.shape[1]
    for j in range(proba.shape[1]):
        n = int(y[:, j].sum())
        if n < min_positives:
            continue
        own, _ = best_f1_threshold(proba[:, j], y[:, j])
        thresholds[j] = (n * own + prior_strength * scheme_t) / (n + prior_strength)
        sources[j] = f"held-out F1 per label, shrunk toward the scheme threshold ({n} positives)"
    return thresholds, sources, scheme_t


def fit_head(x: Any, y: np.ndarray, c: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest logistic regression (balanced classes); returns ``(W (L, d), b (L,))``."""
    from sklearn.linear_model import LogisticRegression

    weights = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
    bias = np.full(y.shape[1], -10.0, dtype=np.float32)
    for j in range(y.shape[1]):
        if y[:, j].all() or not y[:, j].any():
            continue
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=500)
        model.fit(x, y[:, j])
        weights[j] = model.coef_[0]
        bias[j] = model.intercept_[0]
    return weights, bias


def source_folds(groups: Sequence[str], min_size: int = 20) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-source-out splits: each source with at least ``min_size`` texts is held out
    once; smaller sources always train."""
    groups = np.asarray(groups)
    names, counts = np.unique(groups, return_counts=True)
    out = []
    for name, count in zip(names, counts):
        if count >= min_size:
            test = np.flatnonzero(groups == name)
            out.append((np.flatnonzero(groups != name), test))
    return out


def _folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = np.where(y.any(axis=1), y.argmax(axis=1), -1)
    counts = np.bincount(strata + 1)
    n = len(y)
    if counts[counts > 0].min() >= n_folds:
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), strata))
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def _mean_average_precision(scores: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    aps = [average_precision_score(y[:, j], scores[:, j]) for j in range(y.shape[1])
           if y[:, j].any()]
    return float(np.mean(aps)) if aps else 0.0


def background_stats(vectors: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-label mean and spread of prototype cosine over background texts (no labels used)."""
    if len(prototypes) == 0 or len(vectors) < 2:
        return np.zeros(len(prototypes), np.float32), np.ones(len(prototypes), np.float32)
    cos = vectors @ prototypes.T
    spread = np.maximum(cos.std(axis=0), 1e-3)
    return cos.mean(axis=0).astype(np.float32), spread.astype(np.float32)


@dataclass
class LayerFit:
    layer: ScoringLayer
    oof_proba: np.ndarray
    scheme_threshold: float
    oof_components: dict[str, np.ndarray] = field(default_factory=dict)
    decision: Any = None  # the fitted Decision (floor, cap, threshold shift)
    calibration_mask: np.ndarray | None = None  # rows the stacker and decision were fitted on
    y: np.ndarray | None = None  # the training labels, row-aligned with oof_proba


def fit_stacker(
    components: dict[str, np.ndarray], y: np.ndarray
) -> tuple[dict[str, float], float]:
    """Pooled logistic regression of the labels on the components' logits.

    One weight per component (shared by every label) plus a bias: this both blends the
    components and calibrates the sum. A component that gets a negative weight is dropped and
    the rest refitted, so every kept component raises the score where it is confident.

    Measured and not kept: weights chosen to rank each text's labels instead (softmax
    cross-entropy of the gold label over a text's labels, then one sigmoid to calibrate)
    lift WSIS Prizes top-1 with the text whole (5-fold 0.394 -> 0.428; held out as a source
    0.333 -> 0.378) but not pooled over sentences as shipped (nested 0.422 -> 0.400), and
    they drop the keyword component in most folds: the gold passages' Action Line micro-F1
    falls from 0.656 to 0.575 (rules cross-fitted).
    """
    from sklearn.linear_model import LogisticRegression

    names = list(components)
    target = np.ravel(y).astype(int)
    while names:
        x = np.stack([np.ravel(components[n]) for n in names], axis=1).astype(np.float64)
        if target.min() == target.max():
            return {n: 1.0 for n in names}, 0.0
        model = LogisticRegression(C=1e4, max_iter=2000).fit(x, target)
        coef = model.coef_[0]
        if (coef > 0).all() or len(names) == 1:
            return dict(zip(names, map(float, coef))), float(model.intercept_[0])
        names = [n for n, c in zip(names, coef) if c > 0] or [names[int(np.argmax(coef))]]
    return {}, 0.0


def fit_lexical(texts: Sequence[str], y: np.ndarray, c: float = 10.0) -> LexicalHead:
    """TF-IDF (1-2 grams, terms in at least 2 texts) + one-vs-rest logistic heads."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(**lexical_settings(), min_df=2, max_features=40000)
    x = vectorizer.fit_transform(list(texts))
    weights, bias = fit_head(x, y, c)
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        vocabulary[index] = term
    # stored as float16: quantise now so a saved model scores exactly like the in-memory one
    weights = weights.astype(np.float16).astype(np.float32)
    return LexicalHead(vocabulary, vectorizer.idf_.astype(np.float32), weights, bias)


@dataclass(frozen=True)
class StackFit:
    """What :func:`fit_stack` fitted: the stacker, the calibrated scores of every row, the
    per-label thresholds and the decision rule (whose ``thresholds`` are the ones to use)."""

    mix: dict[str, float]
    bias: float
    proba: np.ndarray  # (n, L) stacked, calibrated scores of every row
    threshold_sources: list[str]
    scheme_threshold: float
    decision: Decision
    mask: np.ndarray  # (n,) bool: the rows everything was fitted on


def fit_stack(
    oof: dict[str, np.ndarray], y: np.ndarray, calibrate: np.ndarray | None = None,
    held: np.ndarray | None = None, objective: Any = "micro_f1",
) -> StackFit:
    """Stack out-of-fold component logits and fit the decision: the stacker
    (:func:`fit_stacker`), per-label thresholds (:func:`calibrate_thresholds`) and the
    decision rule (:func:`fit_decision`), all on the rows that may calibrate.

    :func:`fit_layer` ends with it, and the evaluation stacks every system and ablation with
    it over shared logits, so both fit a layer's calibration the same way.

    Args:
        oof: component name -> ``(n, L)`` out-of-fold logits, in stacking order; every entry
            is stacked.
        y: ``(n, L)`` boolean labels.
        calibrate: rows that may calibrate (default: all).
        held: rows that have out-of-fold logits of the supervised components (``None``: all;
            pass it when a supervised component is stacked).
        objective: the decision objective (see :func:`fit_decision`).

    Raises:
        ValueError: no row may calibrate.
    """
    mask = np.ones(len(y), bool) if calibrate is None else np.array(calibrate, bool)
    if held is not None:
        mask &= held  # rows of sources too small to hold out have no out-of-fold logits
    if not mask.any():
        raise ValueError("No training row may calibrate the stacker")
    mix, mix_bias = fit_stacker({k: v[mask] for k, v in oof.items()}, y[mask])
    z = mix_bias + sum(mix[name] * oof[name] for name in mix)
    proba = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    thresholds, sources, scheme_t = calibrate_thresholds(proba[mask], y[mask])
    decision = fit_decision(proba[mask], y[mask], thresholds, objective)
    return StackFit(mix, mix_bias, proba, sources, scheme_t, decision, mask)


def fit_layer(
    labels: list[str],
    vectors: np.ndarray,
    y: np.ndarray,
    prototypes: np.ndarray | None,
    texts: Sequence[str] | None = None,
    components: Sequence[str] = COMPONENTS,
    n_folds: int = 5,
    c: float = 1.0,
    seed: int = 0,
    background: np.ndarray | None = None,
    calibrate: np.ndarray | None = None,
    keywords: dict[str, list[str]] | None = None,
    groups: Sequence[str] | None = None,
    objective: str = "micro_f1",
) -> LayerFit:
    """Fit one scoring layer and calibrate it on out-of-fold predictions.

    Args:
        labels: label ids (columns of ``y``).
        vectors: ``(n, d)`` unit embeddings of the training texts.
        y: ``(n, L)`` boolean label matrix.
        prototypes: ``(L, d)`` unit prototypes (needed for the ``prototype`` component).
        texts: the training texts (needed for the ``lexical`` and ``keyword`` components).
        components: which of ``prototype``, ``keyword``, ``head``, ``knn``, ``lexical`` to
            use; ``("prototype", "keyword")`` is zero-shot, ``("lexical",)`` the TF-IDF
            baseline.
        c: inverse regularisation of the embedding heads (small: the labelled sets are
            small and mixed in style, so strong regularisation generalises better).
        background: texts whose prototype-cosine mean and spread standardise each label
            (default: the training texts; their labels are not used).
        calibrate: boolean mask of the examples the stacker and thresholds are fitted on
            (default: all). Exclude texts the prototypes were written from: their prototype
            scores are not held-out.
        keywords: taxonomy keywords per label (needed for the ``keyword`` component).

    Every component's logits for a training text come from a model that did not see it
    (k-fold), so the stacker weights, the calibration and the thresholds are all held-out.
    """
    use = [name for name in components if name in COMPONENTS]
    if "prototype" in use and (prototypes is None or len(prototypes) != len(labels)):
        use.remove("prototype")
    if "lexical" in use and texts is None:
        use.remove("lexical")
    if "keyword" in use and (texts is None or not keywords):
        use.remove("keyword")
    if not use:
        raise ValueError(f"No usable scoring component among {tuple(components)!r}")
    dim = vectors.shape[1]
    proto = prototypes if "prototype" in use else np.zeros((0, dim), np.float32)
    center, spread = background_stats(vectors if background is None else background, proto)
    oof: dict[str, np.ndarray] = {}
    if "prototype" in use:
        oof["prototype"] = (vectors @ proto.T - center) / spread
    if "keyword" in use:
        assert texts is not None
        probe = ScoringLayer(list(labels), proto, keywords=keywords)
        oof["keyword"] = probe.keyword_logits(texts)
    supervised = [n for n in use if n not in ("prototype", "keyword")]
    held: np.ndarray | None = None  # rows with out-of-fold supervised logits
    if supervised:
        for name in supervised:
            oof[name] = np.zeros(y.shape, dtype=np.float64)
        folds = source_folds(groups) if groups is not None else []
        if len(folds) < 2:
            folds = _folds(y, n_folds, seed)
        held = np.zeros(len(y), bool)
        for _, test_idx in folds:
            held[test_idx] = True
        for train_idx, test_idx in folds:
            if "head" in supervised:
                w, b = fit_head(vectors[train_idx], y[train_idx], c)
                oof["head"][test_idx] = vectors[test_idx] @ w.T + b
            if "knn" in supervised:
                oof["knn"][test_idx] = knn_vote(vectors[test_idx], vectors[train_idx],
                                                y[train_idx])
            if "lexical" in supervised:
                assert texts is not None
                lex = fit_lexical([texts[i] for i in train_idx], y[train_idx])
                oof["lexical"][test_idx] = lex.logits([texts[i] for i in test_idx])
    stack = fit_stack(oof, y, calibrate, held, objective)
    mix, mix_bias, decision = stack.mix, stack.bias, stack.decision
    weights = bias = None
    if "head" in mix:
        weights, bias = fit_head(vectors, y, c)
    layer = ScoringLayer(
        labels=list(labels),
        prototypes=proto.astype(np.float32) if "prototype" in mix else np.zeros((0, dim), np.float32),
        mix=mix, mix_bias=mix_bias, proto_center=center, proto_spread=spread,
        weights=weights, bias=bias,
        knn_vectors=vectors.astype(np.float16) if "knn" in mix else None,
        knn_labels=y.copy() if "knn" in mix else None,
        lexical=fit_lexical(texts, y) if "lexical" in mix and texts is not None else None,
        thresholds=decision.thresholds, threshold_source=stack.threshold_sources,
        keywords={lab: list(keywords.get(lab, [])) for lab in labels}
        if keywords and "keyword" in mix else None,
        floor=decision.floor, cap=decision.cap,
    )
    if "prototype" not in mix:
        layer.proto_center = np.zeros(0, np.float32)
        layer.proto_spread = np.ones(0, np.float32)
    return LayerFit(layer, stack.proba, stack.scheme_threshold, oof, decision, stack.mask, y)


# --------------------------------------------------------------------------------------------
# Prototypes


def label_prototype_texts(taxonomy: Taxonomy, scheme: str, label: Label) -> list[str]:
    """Texts averaged into a label's prototype (children's texts feed parents)."""
    texts = label.prototype_texts()
    if scheme == SDGS and label.level == "goal":
        texts += [t.title for t in taxonomy.children(SDGS, label.id)]
    if scheme == GDC and label.level == "objective":
        for section in taxonomy.children(GDC, label.id):
            texts += list(section.texts)
    return texts


def build_prototypes(
    cache: EmbeddingCache, taxonomy: Taxonomy, scheme: str, labels: Sequence[Label],
    extra: dict[str, list[str]] | None = None,
) -> np.ndarray:
    rows = []
    for label in labels:
        texts = label_prototype_texts(taxonomy, scheme, label) + list((extra or {}).get(label.id, []))
        vectors = cache.encode(texts)
        rows.append(vectors.mean(axis=0))
    return normalise_rows(np.stack(rows))


# --------------------------------------------------------------------------------------------
# Zero-shot calibration shared by schemes without labelled data


@dataclass(frozen=True)
class ZeroShotCalibration:
    """Weights of the prototype and keyword logits, bias, and a decision threshold."""

    mix: dict[str, float]
    bias: float
    threshold: float
    basis: str
    background: np.ndarray | None = None  # texts that standardise other schemes' prototypes


def zero_shot_calibration(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None
) -> ZeroShotCalibration:
    """Map prototype cosine and keyword matches to a probability without labels of the
    target scheme.

    With the data directory, the map and threshold are fitted on the WSIS Prizes projects
    against Action Line prototypes and keywords built the same way as GDC ones (taxonomy
    summary + scope + keywords). Without it, each Action Line scope item is scored against prototypes
    built from the titles, summaries and keywords only (the item itself left out).
    """
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    ids = [lab.id for lab in labels]
    if datasets.data_available(data_dir) and data_dir is not None:
        examples = [Example(e.id, e.text, e.label, e.source)
                    for e in datasets.read_wsis_prizes_2021(data_dir)
                    + datasets.read_wsis_projects_2015(data_dir)]
        protos = build_prototypes(cache, taxonomy, ACTION_LINES, labels)
        basis = "transferred from Action Line prototypes on WSIS Prizes projects"
    else:
        examples = [Example(f"scope:{lab.id}:{k}", t, lab.id, "taxonomy")
                    for lab in labels for k, t in enumerate(lab.texts[2:])]
        rows = []
        for lab in labels:
            texts = [lab.title, *lab.texts[:2]] + ([", ".join(lab.keywords)] if lab.keywords else [])
            rows.append(cache.encode(texts).mean(axis=0))
        protos = normalise_rows(np.stack(rows))
        basis = "taxonomy self-test (Action Line scope items against left-out prototypes)"
    vectors = cache.encode([e.text for e in examples])
    y = label_matrix(ids, examples)
    keywords = {lab.id: list(lab.keywords) for lab in labels}
    fit = fit_layer(ids, vectors, y, protos, [e.text for e in examples],
                    ("prototype", "keyword"), keywords=keywords)
    # Precision-leaning cut (F0.5): without data of the target scheme, a wrong tag costs the
    # reviewer more than a missed suggestion, and the schemes it transfers to (GDC) have
    # more, finer labels than the Action Lines it was fitted on.
    threshold, _ = best_f1_threshold(fit.oof_proba.ravel(), y.ravel(), beta=0.5)
    basis += "; threshold maximises F0.5 (precision-leaning)"
    return ZeroShotCalibration(fit.layer.mix, fit.layer.mix_bias, threshold, basis,
                               vectors)


