"""Build taggers: prototypes from the taxonomy, supervised heads from labelled data, blend,
calibration and per-label thresholds chosen on held-out folds.

Entry points:

* :func:`train_scheme` - build one scheme's tagger (from the data directory when present,
  otherwise zero-shot from the taxonomy alone) and optionally save it.
* :func:`ensure_models` - called at service start: returns the saved model directory of every
  scheme, training (and saving) the missing ones first.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nlp import data as datasets
from nlp.classify import (
    COMPONENTS,
    ActionLineTagger,
    GdcTagger,
    LexicalHead,
    ScoringLayer,
    SdgTagger,
    Tagger,
    knn_vote,
    lexical_settings,
)
from nlp.config import Settings, get_settings
from nlp.errors import WsisError
from nlp.taxonomy import ACTION_LINES, GDC, SCHEMES, SDGS, Label, Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

DEFAULT_VERSION = "v1"
SNIPPET_CHARS = 80
Progress = Callable[[str], None]


class FeedbackError(WsisError):
    """A feedback file is malformed."""


# --------------------------------------------------------------------------------------------
# Embedding cache (training texts are embedded once per model)


class EmbeddingCache:
    """``.npy`` vectors keyed by SHA-256 of the text, one folder per embedding model."""

    def __init__(self, root: Path | None, embedder: Any) -> None:
        self.embedder = embedder
        self.dir = None
        self._vectors: dict[str, np.ndarray] = {}
        if root is not None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{embedder.name}-{embedder.dimension}")
            self.dir = Path(root) / slug
            self._load()

    def _load(self) -> None:
        assert self.dir is not None
        keys_path, vec_path = self.dir / "keys.json", self.dir / "vectors.npy"
        if keys_path.exists() and vec_path.exists():
            keys = json.loads(keys_path.read_text())
            vectors = np.load(vec_path, allow_pickle=False)
            if len(keys) == len(vectors):
                self._vectors = dict(zip(keys, vectors))

    def _save(self) -> None:
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        matrix = np.stack([self._vectors[k] for k in keys]).astype(np.float32)
        tmp_vec, tmp_keys = self.dir / "vectors.tmp.npy", self.dir / "keys.tmp.json"
        np.save(tmp_vec, matrix)
        tmp_keys.write_text(json.dumps(keys))
        tmp_vec.replace(self.dir / "vectors.npy")
        tmp_keys.replace(self.dir / "keys.json")

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            by_key = {k: t for k, t in zip(keys, texts)}
            vectors = self.embedder.encode([by_key[k] for k in missing], batch_size=32,
                                           show_progress=show_progress)
            self._vectors.update(zip(missing, vectors))
            self._save()
        if not texts:
            return np.zeros((0, self.embedder.dimension), np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Labelled examples


@dataclass(frozen=True)
class Example:
    """A training text for one scheme; ``positive=False`` only comes from feedback."""

    id: str
    text: str
    label: str
    source: str
    positive: bool = True


_SCHEME_ALIASES = {
    "action_lines": ACTION_LINES, "action-line": ACTION_LINES, "sdg": SDGS,
    "sdg_targets": SDGS, "gdc_sections": GDC, "gdc_commitments": GDC,
}


def read_feedback(path: Path) -> list[tuple[str, Example]]:
    """Read extra labelled examples from CSV or JSONL.

    Columns / keys: ``text``, ``scheme`` (action-lines | sdgs | gdc), ``label``, and optional
    ``positive`` (true/false, 1/0, yes/no; default true) and ``id``.

    Returns:
        ``[(scheme, Example), ...]``.

    Raises:
        FeedbackError: a row lacks a field or names an unknown scheme.
    """
    path = Path(path)
    if path.suffix.lower() in {".jsonl", ".json"}:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    else:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    out: list[tuple[str, Example]] = []
    for n, row in enumerate(rows, start=1):
        text, scheme, label = (str(row.get(k) or "").strip() for k in ("text", "scheme", "label"))
        if not text or not label:
            raise FeedbackError(f"{path}: row {n} needs 'text' and 'label', got {row!r}")
        scheme = _SCHEME_ALIASES.get(scheme, scheme)
        if scheme not in SCHEMES:
            raise FeedbackError(f"{path}: row {n} has unknown scheme {scheme!r} ({SCHEMES})")
        flag = str(row.get("positive", "true")).strip().lower()
        positive = flag not in {"0", "false", "no", "n", "neg", "negative"}
        ident = str(row.get("id") or f"feedback:{n}")
        out.append((scheme, Example(ident, text, label, "feedback", positive)))
    return out


def action_line_examples(data_dir: Path, taxonomy: Taxonomy) -> list[Example]:
    """Every Action Line example in the data dir plus the taxonomy's scope items."""
    out: list[Example] = []
    for item in datasets.read_wsis_prizes_2021(data_dir) + datasets.read_wsis_projects_2015(
        data_dir
    ):
        out.append(Example(item.id, item.text, item.label, item.source))
    for line in datasets.read_wsis_matrix(data_dir):
        for k, text in enumerate(line.plan_items):
            out.append(Example(f"wsis-sdg-matrix:plan:{line.id}:{k}", text, line.id,
                               "wsis-sdg-matrix-plan"))
        for k, link in enumerate(line.links):
            if link.rationale:
                out.append(Example(f"wsis-sdg-matrix:rationale:{line.id}:{k}", link.rationale,
                                   line.id, "wsis-sdg-matrix-rationale"))
    # The taxonomy's own scope items are not added: they are inside the prototypes, so their
    # prototype scores would be inflated and bias the held-out calibration.
    return out


def taxonomy_examples(taxonomy: Taxonomy, scheme: str) -> list[Example]:
    out = []
    for label in taxonomy.labels[scheme]:
        if scheme == ACTION_LINES and label.id == "C7":
            continue
        for k, text in enumerate(label.texts):
            out.append(Example(f"taxonomy:{label.id}:{k}", text, label.id, "taxonomy"))
    return out


def sdg_goal_examples(data_dir: Path) -> list[Example]:
    """SDG sentences, target and indicator texts, and Matrix rationales, labelled by goal."""
    out = [Example(s.id, s.text, s.label, s.source) for s in datasets.read_sdg_sentences(data_dir)]
    for target, text in datasets.read_sdg_targets(data_dir).items():
        out.append(Example(f"sdg-target:{target}", text, target.split(".")[0], "sdg-targets"))
    for target, texts in datasets.read_sdg_indicators(data_dir).items():
        for k, text in enumerate(texts):
            out.append(Example(f"sdg-indicator:{target}:{k}", text, target.split(".")[0],
                               "sdg-indicators"))
    for line in datasets.read_wsis_matrix(data_dir):
        for k, link in enumerate(line.links):
            if link.rationale:
                out.append(Example(f"wsis-sdg-matrix:rationale:{line.id}:{k}", link.rationale,
                                   link.goal, "wsis-sdg-matrix-rationale"))
    return out


def sdg_target_calibration(data_dir: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Matrix rationales with the SDG targets they name (held-out set for the target layer)."""
    out = []
    for line in datasets.read_wsis_matrix(data_dir):
        for link in line.links:
            if link.rationale and link.targets:
                out.append((link.rationale, link.targets))
    return out


# --------------------------------------------------------------------------------------------
# Fitting


# Sources the prototypes were written from (taxonomy paraphrases of the Plan of Action; goal
# prototypes contain the target texts): their prototype scores are not held-out, so they
# train the heads but do not calibrate.
PROTOTYPE_SOURCES = frozenset({"wsis-sdg-matrix-plan", "sdg-targets", "taxonomy"})


def calibration_mask(examples: Sequence[Example]) -> np.ndarray:
    return np.array([ex.source not in PROTOTYPE_SOURCES for ex in examples], dtype=bool)


def label_matrix(labels: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
    index = {lab: j for j, lab in enumerate(labels)}
    y = np.zeros((len(examples), len(labels)), dtype=bool)
    for i, ex in enumerate(examples):
        if ex.label in index and ex.positive:
            y[i, index[ex.label]] = True
    return y


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


def fit_stacker(
    components: dict[str, np.ndarray], y: np.ndarray
) -> tuple[dict[str, float], float]:
    """Pooled logistic regression of the labels on the components' logits.

    One weight per component (shared by every label) plus a bias: this both blends the
    components and calibrates the sum. A component that gets a negative weight is dropped and
    the rest refitted, so every kept component raises the score where it is confident.
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
    if supervised:
        for name in supervised:
            oof[name] = np.zeros(y.shape, dtype=np.float64)
        for train_idx, test_idx in _folds(y, n_folds, seed):
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
    mask = np.ones(len(y), bool) if calibrate is None else np.asarray(calibrate, bool)
    mix, mix_bias = fit_stacker({k: v[mask] for k, v in oof.items()}, y[mask])
    z = mix_bias + sum(mix[name] * oof[name] for name in mix)
    proba = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    thresholds, sources, scheme_t = calibrate_thresholds(proba[mask], y[mask])
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
        thresholds=thresholds, threshold_source=sources,
        keywords={lab: list(keywords.get(lab, [])) for lab in labels}
        if keywords and "keyword" in mix else None,
    )
    if "prototype" not in mix:
        layer.proto_center = np.zeros(0, np.float32)
        layer.proto_spread = np.ones(0, np.float32)
    return LayerFit(layer, proba, scheme_t, oof)


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
    return _normalise(np.stack(rows))


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
        protos = _normalise(np.stack(rows))
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


# --------------------------------------------------------------------------------------------
# Scheme trainers


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


# Texts written for this project (or by the user) may travel with a model; third-party data
# set texts are referenced by id and read from the data directory when evidence is shown.
OWN_SOURCES = frozenset({"taxonomy", "feedback", "gdc-taxonomy"})


def _bank(examples: Sequence[Example], vectors: np.ndarray, sources: set[str]) -> tuple[
    np.ndarray, list[dict[str, str]]
]:
    keep = [i for i, ex in enumerate(examples) if ex.source in sources and ex.positive]
    meta = [{"id": examples[i].id, "label": examples[i].label, "source": examples[i].source,
             "snippet": _snippet(examples[i].text) if examples[i].source in OWN_SOURCES else ""}
            for i in keep]
    bank = vectors[keep] if keep else np.zeros((0, vectors.shape[1]), np.float32)
    return bank.astype(np.float16), meta


@lru_cache(maxsize=4)
def _example_texts(taxonomy_dir: Path, data_dir: Path | None) -> dict[str, str]:
    if not datasets.data_available(data_dir):
        return {}
    taxonomy = load_taxonomy(taxonomy_dir, data_dir)
    examples = action_line_examples(data_dir, taxonomy) + sdg_goal_examples(data_dir)
    return {ex.id: ex.text for ex in examples}


def example_snippet(example_id: str, settings: Settings | None = None) -> str:
    """The text of a labelled example, shortened, looked up by id in the data directory.

    Models store only ids for third-party examples; ``""`` when the data is not available.
    """
    settings = settings or get_settings()
    text = _example_texts(settings.taxonomy_dir, settings.data_dir).get(example_id, "")
    return _snippet(text) if text else ""


def _with_feedback(examples: list[Example], feedback: Iterable[Example]) -> list[Example]:
    return examples + [ex for ex in feedback if ex.positive]


@dataclass
class TrainResult:
    tagger: Tagger
    path: Path | None
    fits: dict[str, LayerFit]
    info: dict[str, Any]


def _manifest_base(taxonomy: Taxonomy, scheme: str, embedder: Any, data_dir: Path | None,
                   data_files: Sequence[str], mode: str) -> dict[str, Any]:
    import sklearn

    return {
        "taxonomy_version": taxonomy.versions[scheme],
        "taxonomy_fingerprint": taxonomy.fingerprint(scheme),
        "training_mode": mode,
        "training_data": datasets.dataset_hashes(data_dir, data_files) if data_dir else {},
        "libraries": {"numpy": np.__version__, "scikit-learn": sklearn.__version__},
    }


AL_FILES = ("wsis-stocktaking/wsis-prizes-2021-train.csv", "wsis-stocktaking/wsis-projects-data.csv",
            "wsis-sdg-matrix/actions.json")
SDG_FILES = ("qu-sdg-sentences/original_data.csv", "sdg-taxonomy/global_goals.yml",
             "sdg-taxonomy/global_targets.yml", "sdg-taxonomy/global_indicators.yml",
             "sdg-taxonomy/SDG_Target_Indicator_UNSD_2023.csv", "wsis-sdg-matrix/actions.json")


def train_action_lines(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    ids = [lab.id for lab in labels]
    protos = build_prototypes(cache, taxonomy, ACTION_LINES, labels)
    keywords = {lab.id: list(lab.keywords) for lab in taxonomy.action_lines}
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    if datasets.data_available(data_dir) and data_dir is not None:
        examples = _with_feedback(action_line_examples(data_dir, taxonomy), feedback)
        vectors = cache.encode([e.text for e in examples])
        y = label_matrix(ids, examples)
        fit = fit_layer(ids, vectors, y, protos, [e.text for e in examples],
                        calibrate=calibration_mask(examples), keywords=keywords)
        bank, meta = _bank(examples, vectors, {"wsis-prizes-2021", "wsis-projects-2015",
                                                "wsis-sdg-matrix-rationale", "feedback"})
        manifest = _manifest_base(taxonomy, ACTION_LINES, cache.embedder, data_dir, AL_FILES,
                                  "supervised+prototypes")
        manifest["n_training_examples"] = len(examples)
        manifest["training_sources"] = _count_sources(examples)
        fits = {"action_lines": fit}
        layer = fit.layer
    else:
        zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
        layer = _zero_shot_layer(ids, protos, zs, keywords)
        bank, meta = np.zeros((0, protos.shape[1]), np.float16), []
        manifest = _manifest_base(taxonomy, ACTION_LINES, cache.embedder, None, (), "zero-shot")
        manifest["zero_shot_calibration"] = zs.basis
        fits = {}
    tagger = ActionLineTagger({"action_lines": layer}, embedding, manifest, bank, meta, keywords)
    return TrainResult(tagger, None, fits, manifest)


def _zero_shot_layer(
    ids: list[str], protos: np.ndarray, zs: ZeroShotCalibration,
    keywords: dict[str, list[str]] | None = None,
) -> ScoringLayer:
    background = zs.background if zs.background is not None else protos
    center, spread = background_stats(background, protos)
    mix = dict(zs.mix)
    if not keywords:
        mix.pop("keyword", None)
    return ScoringLayer(
        labels=list(ids), prototypes=protos, mix=mix, mix_bias=zs.bias,
        thresholds=np.full(len(ids), zs.threshold),
        threshold_source=[f"zero-shot rule: {zs.basis}"] * len(ids),
        proto_center=center, proto_spread=spread,
        keywords={i: list(keywords.get(i, [])) for i in ids} if keywords else None,
    )


def _count_sources(examples: Sequence[Example]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ex in examples:
        out[ex.source] = out.get(ex.source, 0) + 1
    return out


def _aurora_phrases(data_dir: Path) -> dict[str, list[str]]:
    try:
        aurora = datasets.read_aurora_queries(data_dir)
    except WsisError:
        return {}
    return {t: [p for p in a.phrases if " " in p] for t, a in aurora.items()}


def sdg_goal_keywords(taxonomy: Taxonomy, data_dir: Path) -> dict[str, list[str]]:
    """Keywords per SDG target (JRC + multi-word Aurora phrases) and per goal (their union)."""
    aurora = _aurora_phrases(data_dir)
    targets = taxonomy.sdg_targets
    keywords = {t.id: list(dict.fromkeys([*t.keywords, *aurora.get(t.id, [])])) for t in targets}
    for goal in taxonomy.sdg_goals:
        keywords[goal.id] = sorted({k for t in targets if t.parent == goal.id
                                    for k in keywords[t.id]})
    return keywords


def train_sdgs(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    goals = taxonomy.sdg_goals
    goal_ids = [g.id for g in goals]
    goal_protos = build_prototypes(cache, taxonomy, SDGS, goals)
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    layers: dict[str, ScoringLayer] = {}
    fits: dict[str, LayerFit] = {}
    if datasets.data_available(data_dir) and data_dir is not None:
        targets = taxonomy.sdg_targets
        target_ids = [t.id for t in targets]
        aurora = _aurora_phrases(data_dir)
        keywords = sdg_goal_keywords(taxonomy, data_dir)
        examples = _with_feedback(sdg_goal_examples(data_dir), feedback)
        vectors = cache.encode([e.text for e in examples], show_progress=False)
        y = label_matrix(goal_ids, examples)
        fits["sdgs"] = fit_layer(goal_ids, vectors, y, goal_protos, [e.text for e in examples],
                                 calibrate=calibration_mask(examples), keywords=keywords)
        layers["sdgs"] = fits["sdgs"].layer
        # Targets: zero-shot prototypes (text + indicators + JRC keywords + Aurora phrases) and
        # keyword matches, calibrated on Matrix rationales that name targets.
        extra = {t: [", ".join(p)] for t, p in aurora.items() if p}
        t_protos = build_prototypes(cache, taxonomy, SDGS, targets, extra)
        calib = sdg_target_calibration(data_dir)
        c_vectors = cache.encode([text for text, _ in calib])
        index = {t: j for j, t in enumerate(target_ids)}
        cy = np.zeros((len(calib), len(target_ids)), dtype=bool)
        for i, (_, ts) in enumerate(calib):
            for t in ts:
                if t in index:
                    cy[i, index[t]] = True
        fits["sdg_targets"] = fit_layer(
            target_ids, c_vectors, cy, t_protos, [text for text, _ in calib],
            ("prototype", "keyword"), background=vectors, keywords=keywords)
        layer = fits["sdg_targets"].layer
        layer.threshold_source = [
            s + "; calibrated on WSIS-SDG Matrix rationales" for s in layer.threshold_source
        ]
        layers["sdg_targets"] = layer
        bank, meta = _bank(examples, vectors, {"qu-sdg-sentences", "wsis-sdg-matrix-rationale",
                                                "sdg-targets", "feedback"})
        manifest = _manifest_base(taxonomy, SDGS, cache.embedder, data_dir, SDG_FILES,
                                  "supervised+prototypes (goals); zero-shot calibrated (targets)")
        manifest["n_training_examples"] = len(examples)
        manifest["training_sources"] = _count_sources(examples)
    else:
        zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
        layers["sdgs"] = _zero_shot_layer(goal_ids, goal_protos, zs)
        # No target texts: a target scores like its goal and is never marked predicted.
        target_ids = [t.id for t in taxonomy.sdg_targets]
        rows = [goal_ids.index(t.split(".")[0]) for t in target_ids]
        targets = _zero_shot_layer(target_ids, goal_protos[rows], zs)
        targets.thresholds = np.ones(len(target_ids))
        reason = "no target texts without the data directory: never predicted"
        targets.threshold_source = [reason] * len(target_ids)
        layers["sdg_targets"] = targets
        bank, meta, keywords = np.zeros((0, goal_protos.shape[1]), np.float16), [], {}
        manifest = _manifest_base(taxonomy, SDGS, cache.embedder, None, (), "zero-shot")
        manifest["zero_shot_calibration"] = zs.basis
    tagger = SdgTagger(layers, embedding, manifest, bank, meta, keywords)
    return TrainResult(tagger, None, fits, manifest)


def train_gdc(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    """GDC has no labelled data: prototypes from the taxonomy, calibration transferred."""
    zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    keywords: dict[str, list[str]] = {}
    for lab in taxonomy.labels[GDC]:
        keywords[lab.id] = list(lab.keywords)
    for lab in taxonomy.level(GDC, "objective"):
        keywords[lab.id] = sorted({k for s in taxonomy.children(GDC, lab.id) for k in s.keywords})
    layers = {}
    for key, level in (("gdc", "objective"), ("gdc_sections", "section"),
                       ("gdc_commitments", "commitment")):
        labels = taxonomy.level(GDC, level)
        extra: dict[str, list[str]] = {}
        for ex in feedback:
            if ex.positive and ex.label in {lab.id for lab in labels}:
                extra.setdefault(ex.label, []).append(ex.text)
        protos = (build_prototypes(cache, taxonomy, GDC, labels, extra) if labels
                  else np.zeros((0, cache.embedder.dimension), np.float32))
        layers[key] = _zero_shot_layer([lab.id for lab in labels], protos, zs, keywords)
    commitments = taxonomy.level(GDC, "commitment")
    bank_vectors = cache.encode([c.texts[0] if c.texts else c.title for c in commitments])
    meta = [{"id": f"gdc.yaml:{c.id}", "label": c.id, "source": "gdc-taxonomy",
             "snippet": _snippet(c.texts[0] if c.texts else c.title)} for c in commitments]
    manifest = _manifest_base(taxonomy, GDC, cache.embedder, data_dir,
                              AL_FILES if datasets.data_available(data_dir) else (), "zero-shot")
    manifest["zero_shot_calibration"] = zs.basis
    manifest["parents"] = {lab.id: lab.parent for lab in taxonomy.labels[GDC] if lab.parent}
    tagger = GdcTagger(layers, embedding, manifest, bank_vectors.astype(np.float16), meta,
                       keywords)
    return TrainResult(tagger, None, {}, manifest)


TRAINERS = {ACTION_LINES: train_action_lines, SDGS: train_sdgs, GDC: train_gdc}


def train_scheme(
    scheme: str,
    embedder: Any,
    taxonomy: Taxonomy,
    data_dir: Path | None,
    cache_dir: Path | None = None,
    feedback: Sequence[Example] = (),
    out_dir: Path | None = None,
    metrics: dict[str, Any] | None = None,
    zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    """Train one scheme's tagger; save it to ``out_dir`` when given.

    Args:
        scheme: ``"action-lines"``, ``"sdgs"`` or ``"gdc"``.
        embedder: the embedding model (its name and dimension go into the manifest).
        taxonomy: loaded with :func:`nlp.taxonomy.load_taxonomy`.
        data_dir: third-party data; ``None`` or missing files -> zero-shot from the taxonomy.
        cache_dir: where training-text embeddings are cached (``None``: no cache).
        feedback: extra labelled examples for this scheme.
        out_dir: model directory ``models/<scheme>/<version>`` to write.
        metrics: cross-validated figures to record in the manifest and model card.
    """
    if scheme not in TRAINERS:
        raise ValueError(f"Scheme {scheme!r} is not one of {SCHEMES}")
    cache = EmbeddingCache(cache_dir, embedder)
    result = TRAINERS[scheme](cache, taxonomy, data_dir, feedback, zero_shot)
    if metrics:
        result.tagger.manifest["metrics"] = metrics
    result.tagger.manifest["n_feedback_examples"] = len(feedback)
    if out_dir is not None:
        from nlp.evaluate import model_card

        result.tagger.manifest["version"] = Path(out_dir).name
        result.tagger.manifest["model_card"] = model_card(result.tagger, taxonomy)
        result.path = result.tagger.save(out_dir)
    return result


# --------------------------------------------------------------------------------------------
# Service start-up


def find_model(models_dir: Path | Sequence[Path], scheme: str,
               embedder: Any | None = None) -> Path | None:
    """Newest saved model of ``scheme`` (by creation time, then version name) built with
    ``embedder``'s model, in one models folder or several (``Settings.model_dirs``)."""
    roots = [Path(models_dir)] if isinstance(models_dir, (str, Path)) else list(models_dir)
    manifests = [m for root in roots if (root / scheme).is_dir()
                 for m in (root / scheme).glob("*/manifest.json")]
    candidates = []
    for manifest_path in manifests:
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        emb = manifest.get("embedding", {})
        if embedder is not None and (emb.get("name"), emb.get("dimension")) != (
            embedder.name, embedder.dimension
        ):
            continue
        candidates.append((manifest.get("created", ""), manifest_path.parent.name,
                           manifest_path.parent))
    if not candidates:
        return None
    return max(candidates)[2]


def default_version(embedder: Any) -> str:
    from nlp.embed import BUNDLED_MODEL

    if embedder.name == BUNDLED_MODEL:
        return DEFAULT_VERSION
    return f"{DEFAULT_VERSION}-{re.sub(r'[^A-Za-z0-9]+', '-', embedder.name).strip('-')}"


def _stale(path: Path, scheme: str, taxonomy: Taxonomy) -> bool:
    """True when a saved model's taxonomy fingerprint differs from the current files.

    SDG label texts come from the data directory, not the repository, so only the Action Line
    and GDC taxonomies are compared.
    """
    if scheme == SDGS:
        return False
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return True
    return manifest.get("taxonomy_fingerprint") != taxonomy.fingerprint(scheme)


def ensure_models(
    settings: Any, embedder: Any, progress: Progress | None = None
) -> dict[str, Path]:
    """Model directory of every scheme, training the missing or outdated ones first.

    Uses the data directory when it holds the training data, otherwise builds zero-shot models
    from the taxonomy alone (and says so through ``progress`` and the log). A GDC or Action
    Line model built from an older taxonomy file is rebuilt (GDC always, being zero-shot;
    Action Lines only when the training data is available), so new GDC commitments appear
    as labels without a manual retrain.

    Returns:
        ``{"action-lines": Path, "sdgs": Path, "gdc": Path}``.
    """
    say = progress or log.info
    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    paths: dict[str, Path] = {}
    todo: dict[str, Path] = {}
    for scheme in SCHEMES:
        found = find_model(settings.model_dirs, scheme, embedder)
        if found is None:
            todo[scheme] = Path(settings.models_dir) / scheme / default_version(embedder)
        elif _stale(found, scheme, taxonomy) and (scheme == GDC or data_dir is not None):
            say(f"{scheme} taxonomy changed since {found} was built: rebuilding it")
            todo[scheme] = found
        else:
            if _stale(found, scheme, taxonomy):
                say(f"{scheme} taxonomy changed since {found} was built, but there is no "
                    "training data to rebuild it; run `wsis train` with WSIS_DATA_DIR set")
            paths[scheme] = found
    if not todo:
        return paths
    if data_dir is None and set(todo) - {GDC}:
        say("Tagger models missing and no training data found: building zero-shot models from "
            "the taxonomy alone (set WSIS_DATA_DIR and run `wsis train all` for trained ones).")
    elif data_dir is not None:
        say(f"Building tagger models for {', '.join(todo)} from {data_dir} ...")
    cache_dir = Path(settings.home) / "cache" / "embeddings"
    zs = zero_shot_calibration(EmbeddingCache(cache_dir, embedder), taxonomy, data_dir)
    for scheme, out in todo.items():
        result = train_scheme(scheme, embedder, taxonomy, data_dir, cache_dir, out_dir=out,
                              zero_shot=zs)
        assert result.path is not None
        paths[scheme] = result.path
        say(f"Built {scheme} tagger at {result.path}")
    return {scheme: paths[scheme] for scheme in SCHEMES}


def load_suite(settings: Any, embedder: Any) -> Any:
    """Ensure the models exist and load them as one :class:`nlp.classify.TaggerSuite`."""
    from nlp.classify import TaggerSuite

    paths = ensure_models(settings, embedder)
    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    return TaggerSuite.load(paths, embedder, taxonomy)


def run_training(
    settings: Any,
    embedder: Any,
    schemes: Sequence[str] = SCHEMES,
    feedback_path: Path | None = None,
    version: str | None = None,
    with_evaluation: bool = True,
    n_folds: int = 5,
    report_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """What ``wsis train`` does: (evaluate,) train and save each scheme; return a summary.

    Returns:
        ``{"models": {scheme: path}, "metrics": {scheme: headline figures}, "reports": {...},
        "mode": "data" | "zero-shot"}``.
    """
    from nlp.evaluate import evaluate_action_lines, evaluate_sdgs, headline, write_reports

    say = progress or log.info
    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    cache_dir = Path(settings.home) / "cache" / "embeddings"
    feedback: dict[str, list[Example]] = {s: [] for s in SCHEMES}
    if feedback_path is not None:
        for scheme, example in read_feedback(feedback_path):
            feedback[scheme].append(example)
        say(f"Feedback: {sum(len(v) for v in feedback.values())} examples from {feedback_path}")
    if data_dir is None:
        say("No training data in the data directory: building zero-shot models from the taxonomy.")
    zs = zero_shot_calibration(EmbeddingCache(cache_dir, embedder), taxonomy, data_dir)
    evaluators = {ACTION_LINES: evaluate_action_lines, SDGS: evaluate_sdgs}
    results: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {"models": {}, "metrics": {}, "reports": {},
                               "mode": "data" if data_dir else "zero-shot"}
    for scheme in schemes:
        metrics = None
        if with_evaluation and data_dir is not None and scheme in evaluators:
            say(f"[{scheme}] cross-validating ({n_folds} folds) ...")
            metrics = evaluators[scheme](embedder, taxonomy, data_dir, cache_dir, n_folds,
                                         progress=say)
            results[scheme] = metrics
            summary["metrics"][scheme] = headline(metrics)
        say(f"[{scheme}] training ...")
        out = Path(settings.models_dir) / scheme / (version or default_version(embedder))
        result = train_scheme(scheme, embedder, taxonomy, data_dir, cache_dir, feedback[scheme],
                              out_dir=out, metrics=metrics, zero_shot=zs)
        summary["models"][scheme] = str(result.path)
        say(f"[{scheme}] saved {result.path}")
    if results and report_dir is not None:
        summary["reports"] = {k: str(v) for k, v in write_reports(results, report_dir).items()}
    return summary
