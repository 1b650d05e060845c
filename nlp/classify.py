"""Taggers: one interface, one implementation per label scheme.

A tagger scores every label of its scheme for a text in [0, 1] and marks the labels whose score
reaches that label's calibrated threshold. Scoring is cheap arithmetic on one embedding per text
(plus a sparse TF-IDF product where a lexical head was trained); see :class:`ScoringLayer`:

* **prototype similarity** - cosine to each label's prototype (the mean embedding of its
  taxonomy texts), standardised per label;
* **supervised head** - one-vs-rest logistic weights on the embedding;
* **nearest labelled examples** - similarity-weighted vote of the closest training examples;
* **lexical head** - TF-IDF logistic weights;

weighed and calibrated by a logistic stacker fitted on out-of-fold predictions
(see :mod:`nlp.train`). Schemes without labelled data use the prototype component alone.

Evidence (the sentences that drove a tag, with character offsets; nearest labelled examples;
matched taxonomy keywords) comes from per-sentence vectors scored by the same layers.

Saved taggers are directories: ``manifest.json`` (labels, thresholds, embedding model, data
hashes, metrics), ``weights.npz`` (no pickle), ``examples.json``, ``keywords.json`` and
``lexicon.json`` (TF-IDF vocabulary).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nlp.errors import ManifestMismatchError, ModelNotFoundError, WsisError
from nlp.taxonomy import ACTION_LINES, GDC, SDGS

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
EXAMPLES = "examples.json"
KEYWORDS = "keywords.json"
LEXICON = "lexicon.json"


class EmptyTextError(WsisError):
    """A text to tag is empty or whitespace only."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


# --------------------------------------------------------------------------------------------
# Scoring layer: the numeric core shared by every scheme

COMPONENTS = ("prototype", "keyword", "head", "knn", "lexical")
KNN_K = 15
KNN_TEMPERATURE = 20.0
KNN_FLOOR = 0.01


@dataclass
class LexicalHead:
    """TF-IDF (word 1-2 grams) + one-vs-rest logistic weights, stored as arrays, not pickles."""

    vocabulary: list[str]
    idf: np.ndarray  # (V,)
    weights: np.ndarray  # (L, V)
    bias: np.ndarray  # (L,)

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(**lexical_settings(),
                                     vocabulary={t: i for i, t in enumerate(self.vocabulary)})
        vectorizer.idf_ = np.asarray(self.idf, dtype=np.float64)
        return vectorizer

    def transform(self, texts: Sequence[str]) -> Any:
        if not hasattr(self, "_cached"):
            self._cached = self._vectorizer()
        return self._cached.transform(list(texts))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.transform(texts) @ self.weights.T) + self.bias


def lexical_settings() -> dict[str, Any]:
    """TF-IDF settings shared by training and inference (and the baseline)."""
    return {"ngram_range": (1, 2), "sublinear_tf": True, "strip_accents": "unicode",
            "lowercase": True, "dtype": np.float32}


@dataclass
class ScoringLayer:
    """Scores one flat label set from embeddings (and, for the lexical head, the texts).

    Up to four components give each label a logit; a pooled logistic "stacker" fitted on
    out-of-fold component logits weighs them and maps the sum to a calibrated probability:
    ``p = sigmoid(sum_k mix[k] * component_k + mix_bias)``.

    * ``prototype``: cosine to the label prototype, standardised per label by the mean
      (``proto_center``) and spread (``proto_spread``) over background texts, which stops
      "hub" prototypes close to every text from winning;
    * ``head``: one-vs-rest logistic regression on the embedding (``weights``, ``bias``);
    * ``knn``: log of the similarity-weighted vote of the nearest labelled examples;
    * ``lexical``: TF-IDF logistic head (:class:`LexicalHead`);
    * ``keyword``: ``log(1 + distinct taxonomy keywords of the label found in the text)``.

    ``thresholds`` are per-label decision thresholds on the calibrated score, chosen on
    held-out folds; ``threshold_source`` says how.
    """

    labels: list[str]
    prototypes: np.ndarray
    mix: dict[str, float] = field(default_factory=lambda: {"prototype": 1.0})
    mix_bias: float = 0.0
    proto_center: np.ndarray | None = None
    proto_spread: np.ndarray | None = None
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    knn_vectors: np.ndarray | None = None
    knn_labels: np.ndarray | None = None  # (N, L) bool
    lexical: LexicalHead | None = None
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold_source: list[str] = field(default_factory=list)
    keywords: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.thresholds) == 0:
            self.thresholds = np.full(n, 0.5)
            self.threshold_source = ["default"] * n
        if self.proto_center is None:
            self.proto_center = np.zeros(n, np.float32)
        if self.proto_spread is None:
            self.proto_spread = np.ones(n, np.float32)
        self._knn32 = (None if self.knn_vectors is None
                       else np.asarray(self.knn_vectors, dtype=np.float32))
        self._matcher = KeywordMatcher(self.keywords) if self.keywords else None

    def keyword_logits(self, texts: Sequence[str]) -> np.ndarray:
        """``log(1 + number of distinct keywords of each label found in each text)``."""
        out = np.zeros((len(texts), len(self.labels)))
        if self._matcher is None:
            return out
        column = {lab: j for j, lab in enumerate(self.labels)}
        for i, text in enumerate(texts):
            for label, hits in self._matcher.find(text).items():
                if label in column:
                    out[i, column[label]] = np.log1p(len({h.keyword.lower() for h in hits}))
        return out

    # --- components -----------------------------------------------------------------------
    def prototype_logits(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors @ self.prototypes.T - self.proto_center) / self.proto_spread

    def head_logits(self, vectors: np.ndarray) -> np.ndarray:
        assert self.weights is not None and self.bias is not None
        return vectors @ self.weights.T + self.bias

    def knn_logits(self, vectors: np.ndarray) -> np.ndarray:
        assert self._knn32 is not None and self.knn_labels is not None
        return knn_vote(vectors, self._knn32, self.knn_labels)

    def components(self, vectors: np.ndarray, texts: Sequence[str] | None = None
                   ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in self.mix:
            if name == "prototype":
                out[name] = self.prototype_logits(vectors)
            elif name == "head":
                out[name] = self.head_logits(vectors)
            elif name == "knn":
                out[name] = self.knn_logits(vectors)
            elif name == "lexical":
                if texts is None or self.lexical is None:
                    raise ValueError("This layer has a lexical head: pass the texts too")
                out[name] = self.lexical.logits(texts)
            elif name == "keyword":
                if texts is None:
                    raise ValueError("This layer scores keywords: pass the texts too")
                out[name] = self.keyword_logits(texts)
            else:
                raise ValueError(f"Unknown scoring component {name!r}")
        return out

    def logits(self, vectors: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        z = np.full((vectors.shape[0], len(self.labels)), self.mix_bias, dtype=np.float64)
        for name, value in self.components(vectors, texts).items():
            z += self.mix[name] * value
        return z

    def proba(self, vectors: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated scores ``(n, L)`` in [0, 1]."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return _sigmoid(self.logits(vectors, texts))

    # --- persistence ----------------------------------------------------------------------
    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.prototypes": self.prototypes.astype(np.float32),
               f"{prefix}.proto_center": np.asarray(self.proto_center, np.float32),
               f"{prefix}.proto_spread": np.asarray(self.proto_spread, np.float32),
               f"{prefix}.thresholds": np.asarray(self.thresholds, dtype=np.float64)}
        if self.weights is not None and self.bias is not None:
            out[f"{prefix}.weights"] = self.weights.astype(np.float32)
            out[f"{prefix}.bias"] = self.bias.astype(np.float32)
        if self.knn_vectors is not None and self.knn_labels is not None:
            out[f"{prefix}.knn_vectors"] = np.asarray(self.knn_vectors, np.float16)
            out[f"{prefix}.knn_labels"] = np.asarray(self.knn_labels, bool)
        if self.lexical is not None:
            out[f"{prefix}.lexical_idf"] = self.lexical.idf.astype(np.float32)
            out[f"{prefix}.lexical_weights"] = self.lexical.weights.astype(np.float16)
            out[f"{prefix}.lexical_bias"] = self.lexical.bias.astype(np.float32)
        return out

    def config(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "mix": {k: float(v) for k, v in self.mix.items()},
            "mix_bias": float(self.mix_bias),
            "thresholds": {lab: round(float(t), 6) for lab, t in zip(self.labels, self.thresholds)},
            "threshold_source": dict(zip(self.labels, self.threshold_source)),
        }

    def extra_files(self) -> dict[str, Any]:
        """JSON side data: the lexical vocabulary and the keyword lists."""
        out: dict[str, Any] = {}
        if self.lexical:
            out["lexical_vocabulary"] = self.lexical.vocabulary
        if self.keywords:
            out["keywords"] = self.keywords
        return out

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: Any, prefix: str,
                   extra: dict[str, Any] | None = None) -> ScoringLayer:
        def get(name: str, dtype: Any = np.float32) -> np.ndarray | None:
            key = f"{prefix}.{name}"
            return np.asarray(arrays[key], dtype=dtype) if key in arrays.files else None

        lexical = None
        if get("lexical_idf") is not None and extra and "lexical_vocabulary" in extra:
            lexical = LexicalHead(list(extra["lexical_vocabulary"]), get("lexical_idf"),
                                  get("lexical_weights"), get("lexical_bias"))
        return cls(
            labels=list(config["labels"]),
            prototypes=get("prototypes"),
            mix={k: float(v) for k, v in config["mix"].items()},
            mix_bias=float(config["mix_bias"]),
            proto_center=get("proto_center"),
            proto_spread=get("proto_spread"),
            weights=get("weights"),
            bias=get("bias"),
            knn_vectors=get("knn_vectors", np.float16),
            knn_labels=get("knn_labels", bool),
            lexical=lexical,
            thresholds=get("thresholds", np.float64),
            threshold_source=[config["threshold_source"][lab] for lab in config["labels"]],
            keywords=(extra or {}).get("keywords"),
        )


def knn_vote(vectors: np.ndarray, bank: np.ndarray, bank_labels: np.ndarray,
             k: int = KNN_K, temperature: float = KNN_TEMPERATURE) -> np.ndarray:
    """``log(floor + vote)``: similarity-weighted share of each label among the k nearest."""
    n_labels = bank_labels.shape[1]
    if len(bank) == 0:
        return np.full((len(vectors), n_labels), np.log(KNN_FLOOR))
    k = min(k, len(bank))
    sims = vectors @ bank.T
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(sims, idx, axis=1)
    weights = np.exp(temperature * (near - 1.0))
    weights /= weights.sum(axis=1, keepdims=True)
    votes = np.einsum("nk,nkl->nl", weights, bank_labels[idx].astype(np.float32))
    return np.log(KNN_FLOOR + votes)
# --------------------------------------------------------------------------------------------
# Evidence helpers


_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*", re.UNICODE)


def _fold(token: str) -> str:
    """Lower-case and drop a plural ``s`` so "divides" matches "divide" (not "ss": "access")."""
    token = token.lower()
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


@lru_cache(maxsize=512)
def _folded_tokens(text: str) -> tuple[tuple[str, int, int], ...]:
    """Folded tokens with offsets; cached because every layer of every tagger matches the
    same text."""
    return tuple((_fold(m.group(0)), m.start(), m.end()) for m in _TOKEN.finditer(text))


class KeywordMatcher:
    """Case-insensitive whole-word matching of many keyword phrases, by token n-gram lookup.

    Tokens are compared after :func:`_fold`, so simple plurals match their singular.
    """

    def __init__(self, keywords: dict[str, Sequence[str]], max_words: int = 8) -> None:
        self.keywords = {label: list(words) for label, words in keywords.items()}
        self._table: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self._prefixes: set[tuple[str, ...]] = set()
        for label, words in self.keywords.items():
            for word in words:
                key = tuple(_fold(t) for t in _TOKEN.findall(word))
                if not key or len(key) > max_words:
                    continue
                self._table.setdefault(key, []).append((label, word))
                self._prefixes.update(key[:n] for n in range(1, len(key) + 1))

    def find(self, text: str) -> dict[str, list[KeywordMatch]]:
        """``{label: [KeywordMatch, ...]}`` with offsets into ``text``."""
        tokens = _folded_tokens(text)
        out: dict[str, list[KeywordMatch]] = {}
        for i in range(len(tokens)):
            key: tuple[str, ...] = ()
            for j in range(i, len(tokens)):
                key = (*key, tokens[j][0])
                if key not in self._prefixes:
                    break
                for label, word in self._table.get(key, ()):
                    out.setdefault(label, []).append(
                        KeywordMatch(word, tokens[i][1], tokens[j][2])
                    )
        return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (spaCy sentencizer via :mod:`nlp.chunk`); whole text if none."""
    from nlp.chunk import split_sentences

    spans = split_sentences(text)
    if not spans:
        stripped = text.strip()
        start = text.find(stripped) if stripped else 0
        spans = [(start, start + len(stripped))]
    return spans


# --------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class KeywordMatch:
    keyword: str
    start: int
    end: int


@dataclass(frozen=True)
class SentenceEvidence:
    """A sentence of the input that supports a tag; ``text[start:end] == sentence``."""

    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class ExampleEvidence:
    """A labelled training example close to the input (snippet only; full text in data dir)."""

    id: str
    label: str
    source: str
    snippet: str
    similarity: float


@dataclass(frozen=True)
class LabelScore:
    """One label's score for one text, with evidence when it was requested."""

    label: str
    score: float
    predicted: bool
    threshold: float
    sentences: tuple[SentenceEvidence, ...] = ()
    examples: tuple[ExampleEvidence, ...] = ()
    keywords: tuple[KeywordMatch, ...] = ()

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "score": round(float(self.score), 6),
            "predicted": bool(self.predicted),
        }
        if evidence:
            out["threshold"] = round(float(self.threshold), 6)
            out["sentences"] = [asdict(s) for s in self.sentences]
            out["examples"] = [asdict(e) for e in self.examples]
            out["keywords"] = [asdict(k) for k in self.keywords]
        return out


@dataclass(frozen=True)
class TextTags:
    """Every label of every requested scheme for one text, keyed like the ``wsis tag`` contract
    (``action_lines``, ``sdgs``, ``sdg_targets``, ``gdc``, ``gdc_sections``, ``gdc_commitments``).
    Each list holds every label of that key, sorted by score descending."""

    text: str
    tags: dict[str, list[LabelScore]]
    consistency: dict[str, list[str]] = field(default_factory=dict)

    def predicted(self, key: str) -> list[str]:
        return [t.label for t in self.tags.get(key, []) if t.predicted]

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            key: [t.to_dict(evidence) for t in values] for key, values in self.tags.items()
        }
        if self.consistency:
            out["matrix_consistency"] = self.consistency
        return out


# --------------------------------------------------------------------------------------------
# Taggers


class Tagger:
    """Base class: scores every label of one scheme from text embeddings.

    Subclasses fix the scheme, the output keys and how hierarchical labels combine.
    """

    scheme: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        layers: dict[str, ScoringLayer],
        embedding: dict[str, Any],
        manifest: dict[str, Any] | None = None,
        bank: np.ndarray | None = None,
        bank_meta: list[dict[str, str]] | None = None,
        keywords: dict[str, list[str]] | None = None,
    ) -> None:
        self.layers = layers
        self.embedding = embedding  # {"name": ..., "dimension": ...}
        self.manifest = manifest or {}
        self.bank = bank if bank is not None else np.zeros((0, embedding["dimension"]), np.float16)
        self.bank_meta = bank_meta or []
        self.keywords = keywords or {}
        self._matcher = KeywordMatcher(self.keywords)
        self._bank_rows: dict[str, np.ndarray] = {}
        labels = np.array([m["label"] for m in self.bank_meta])
        for label in set(labels.tolist()):
            self._bank_rows[label] = np.flatnonzero(labels == label)

    # --- scoring --------------------------------------------------------------------------
    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str]
    ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        """``{key: (labels, scores (n, L), predicted (n, L) bool)}`` for embedded texts."""
        raise NotImplementedError

    def labels(self) -> dict[str, list[str]]:
        """Every label id under every output key."""
        return {key: labs for key, (labs, _, _) in self.score_vectors(
            np.zeros((1, self.embedding["dimension"]), np.float32), ["x"]).items()}

    def thresholds(self, key: str) -> dict[str, float]:
        """Decision threshold of every label under ``key``."""
        raise NotImplementedError

    def check_embedder(self, embedder: Any) -> None:
        """Raise :class:`ManifestMismatchError` if ``embedder`` differs from the training one."""
        want = (self.embedding["name"], int(self.embedding["dimension"]))
        have = (embedder.name, int(embedder.dimension))
        if want != have:
            raise ManifestMismatchError(
                f"{self.scheme} tagger was trained with embedding model {want[0]!r} "
                f"(dimension {want[1]}) but the configured embedder is {have[0]!r} "
                f"(dimension {have[1]})"
            )

    def predict(self, texts: Sequence[str], embedder: Any) -> list[TextTags]:
        """Scores only (one encoder call for all texts, no evidence)."""
        self.check_embedder(embedder)
        vectors = embedder.encode(list(texts))
        return self.build(texts, vectors)

    def build(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        sentence_vectors: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None,
        max_sentences: int = 3,
        max_examples: int = 3,
    ) -> list[TextTags]:
        """Turn embeddings into :class:`TextTags`; add evidence when sentence vectors are given."""
        scored = self.score_vectors(vectors, texts)
        sentence_scores: list[dict[str, tuple[list[str], np.ndarray, np.ndarray]]] = []
        if sentence_vectors is not None:
            # every sentence of every text in one scoring call, then split per text
            bounds = np.cumsum([0] + [len(sv) for _, sv in sentence_vectors])
            scored_all = self.score_vectors(
                np.vstack([sv for _, sv in sentence_vectors]),
                [text[a:b] for text, (spans, _) in zip(texts, sentence_vectors) for a, b in spans],
            )
            sentence_scores = [
                {key: (labs, sc[bounds[i] : bounds[i + 1]], pr[bounds[i] : bounds[i + 1]])
                 for key, (labs, sc, pr) in scored_all.items()}
                for i in range(len(texts))
            ]
        bank = self.bank.astype(np.float32) if len(self.bank) and sentence_vectors else None
        per_key = {}
        for key, (labels, scores, predicted) in scored.items():
            by_label = self.thresholds(key)
            thresholds = np.array([by_label.get(lab, 0.5) for lab in labels])
            name_rank = np.argsort(np.argsort(np.array(labels, dtype=object)))
            # rows sorted by score descending, ties by label id
            orders = [np.lexsort((name_rank, -scores[i])) for i in range(len(texts))]
            per_key[key] = (labels, scores, predicted, thresholds, orders)
        results: list[TextTags] = []
        for i, text in enumerate(texts):
            keyword_hits = self.keyword_evidence(text) if sentence_vectors is not None else {}
            bank_sims = bank @ vectors[i] if bank is not None else None
            tags: dict[str, list[LabelScore]] = {}
            for key, (labels, scores, predicted, thresholds, orders) in per_key.items():
                row: list[LabelScore] = []
                for rank, j in enumerate(orders[i]):
                    label = labels[j]
                    sentences: tuple[SentenceEvidence, ...] = ()
                    examples: tuple[ExampleEvidence, ...] = ()
                    keywords: tuple[KeywordMatch, ...] = ()
                    # evidence for predicted labels, and for the top label of every key
                    if sentence_vectors is not None and (predicted[i, j] or rank == 0):
                        spans, _ = sentence_vectors[i]
                        col = sentence_scores[i][key][1][:, j]
                        top = np.argsort(-col)[:max_sentences]
                        sentences = tuple(
                            SentenceEvidence(spans[k][0], spans[k][1],
                                             text[spans[k][0] : spans[k][1]], float(col[k]))
                            for k in top
                        )
                        keywords = tuple(keyword_hits.get(label, ()))
                        examples = self._nearest_examples(label, bank_sims, max_examples)
                    row.append(
                        LabelScore(label, float(scores[i, j]), bool(predicted[i, j]),
                                   float(thresholds[j]), sentences, examples, keywords)
                    )
                tags[key] = row
            results.append(TextTags(text, tags))
        return results

    def keyword_evidence(self, text: str) -> dict[str, list[KeywordMatch]]:
        """Taxonomy keywords found in ``text``, per label."""
        return self._matcher.find(text)

    def _nearest_examples(
        self, label: str, sims: np.ndarray | None, k: int
    ) -> tuple[ExampleEvidence, ...]:
        rows = self._bank_rows.get(label)
        if sims is None or rows is None or len(rows) == 0:
            return ()
        best = rows[np.argsort(-sims[rows])[:k]]
        return tuple(
            ExampleEvidence(self.bank_meta[r]["id"], label, self.bank_meta[r]["source"],
                            self.bank_meta[r]["snippet"] or _example_snippet(self.bank_meta[r]["id"]),
                            float(sims[r]))
            for r in best
        )

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: Path, extra_manifest: dict[str, Any] | None = None) -> Path:
        """Write the tagger to ``path`` atomically (temp dir, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        arrays: dict[str, np.ndarray] = {}
        for name, layer in self.layers.items():
            arrays.update(layer.arrays(name))
        arrays["bank.embeddings"] = self.bank.astype(np.float16)
        np.savez_compressed(tmp / WEIGHTS, **arrays)
        (tmp / EXAMPLES).write_text(json.dumps(self.bank_meta, ensure_ascii=False, indent=0))
        (tmp / KEYWORDS).write_text(json.dumps(self.keywords, ensure_ascii=False, indent=0))
        extra = {name: layer.extra_files() for name, layer in self.layers.items()}
        (tmp / LEXICON).write_text(json.dumps({k: v for k, v in extra.items() if v},
                                              ensure_ascii=False))
        manifest = {
            **self.manifest,
            **(extra_manifest or {}),
            "format_version": FORMAT_VERSION,
            "kind": "tagger",
            "scheme": self.scheme,
            "tagger_class": type(self).__name__,
            "embedding": {"name": self.embedding["name"],
                          "dimension": int(self.embedding["dimension"])},
            "layers": {name: layer.config() for name, layer in self.layers.items()},
        }
        manifest.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        readme = manifest.get("model_card")
        if readme:
            (tmp / "README.md").write_text(readme)
        for child in tmp.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        self.manifest = manifest
        if path.exists():
            old = path.with_name(path.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path, embedder: Any | None = None) -> Tagger:
        """Load a saved tagger; with ``embedder``, check it matches the manifest.

        Raises:
            ModelNotFoundError: no manifest at ``path``.
            ManifestMismatchError: wrong scheme or embedding model.
        """
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise ModelNotFoundError(f"No tagger manifest at {str(path)!r}")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION or manifest.get("kind") != "tagger":
            raise ManifestMismatchError(
                f"{str(path)!r} holds format {manifest.get('format_version')!r} of kind "
                f"{manifest.get('kind')!r}; this library reads tagger format {FORMAT_VERSION}"
            )
        target_cls = _TAGGER_CLASSES.get(manifest.get("scheme", ""))
        if target_cls is None:
            raise ManifestMismatchError(f"Unknown tagger scheme {manifest.get('scheme')!r}")
        if cls is not Tagger and target_cls is not cls:
            raise ManifestMismatchError(
                f"{str(path)!r} holds a {manifest['scheme']!r} tagger, not {cls.scheme!r}"
            )
        extra = json.loads((path / LEXICON).read_text()) if (path / LEXICON).exists() else {}
        with np.load(path / WEIGHTS, allow_pickle=False) as arrays:
            layers = {
                name: ScoringLayer.from_saved(config, arrays, name, extra.get(name))
                for name, config in manifest["layers"].items()
            }
            bank = np.asarray(arrays["bank.embeddings"])
        bank_meta = json.loads((path / EXAMPLES).read_text()) if (path / EXAMPLES).exists() else []
        keywords = json.loads((path / KEYWORDS).read_text()) if (path / KEYWORDS).exists() else {}
        tagger = target_cls(layers, manifest["embedding"], manifest, bank, bank_meta, keywords)
        if embedder is not None:
            tagger.check_embedder(embedder)
        return tagger


def _example_snippet(example_id: str) -> str:
    """Third-party example texts are not stored in models: read them from the data directory."""
    from nlp.train import example_snippet  # train imports this module

    return example_snippet(example_id)


def _hierarchy_max(
    parent_labels: list[str],
    parent_scores: np.ndarray,
    parent_pred: np.ndarray,
    child_labels: list[str],
    child_scores: np.ndarray,
    child_pred: np.ndarray,
    parent_of: dict[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """A parent scores at least as high as its best child and is predicted if any child is."""
    scores, pred = parent_scores.copy(), parent_pred.copy()
    index = {lab: j for j, lab in enumerate(parent_labels)}
    for c, child in enumerate(child_labels):
        p = index.get(parent_of.get(child, ""))
        if p is None:
            continue
        scores[:, p] = np.maximum(scores[:, p], child_scores[:, c])
        pred[:, p] |= child_pred[:, c]
    return scores, pred


# "Action Line C5", "Action Line 5", "AL C3", "(C2)", "AL C7 e-health": WSIS texts cite
# Action Lines by code.
_AL_REFERENCE = re.compile(
    r"(?:\bAction\s+Lines?\s*C?|\bAL\s*C?|\(C)(\d{1,2})\b(?:[\s.:,-]*e-?(government|business|"
    r"learning|health|employment|environment|agriculture|science)\b)?",
    re.IGNORECASE,
)


def action_line_references(text: str) -> list[tuple[str, int, int]]:
    """Action Lines the text names by code: ``[(label, start, end), ...]``."""
    out = []
    for match in _AL_REFERENCE.finditer(text):
        number = int(match.group(1))
        if not 1 <= number <= 11:
            continue
        sub = match.group(2)
        label = f"C7.e-{sub.lower()}" if number == 7 and sub else f"C{number}"
        out.append((label, match.start(), match.end()))
    return out


class ActionLineTagger(Tagger):
    """WSIS Action Lines C1-C11; C7 scores as the best of its eight sub-lines.

    A text that names an Action Line by code ("Action Line C5", "(C2)") gets that label
    predicted, with its score raised to at least halfway between its threshold and 1.
    """

    scheme = ACTION_LINES
    keys = ("action_lines",)
    PARENT = "C7"

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str]
    ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        layer = self.layers["action_lines"]
        proba = layer.proba(vectors, texts)
        pred = proba >= layer.thresholds
        column = {lab: j for j, lab in enumerate(layer.labels)}
        for i, text in enumerate(texts):
            for label, _, _ in action_line_references(text):
                j = column.get(label)
                if j is not None:
                    floor = (1.0 + layer.thresholds[j]) / 2
                    proba[i, j] = max(proba[i, j], floor)
                    pred[i, j] = True
        labels = list(layer.labels)
        children = [j for j, lab in enumerate(labels) if lab.startswith(self.PARENT + ".")]
        if children and self.PARENT not in labels:
            labels.append(self.PARENT)
            proba = np.hstack([proba, proba[:, children].max(axis=1, keepdims=True)])
            pred = np.hstack([pred, pred[:, children].any(axis=1, keepdims=True)])
        return {"action_lines": (labels, proba, pred)}

    def keyword_evidence(self, text: str) -> dict[str, list[KeywordMatch]]:
        hits = super().keyword_evidence(text)
        for label, start, end in action_line_references(text):
            hits.setdefault(label, []).append(KeywordMatch(text[start:end], start, end))
        return hits

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers["action_lines"]
        out = dict(zip(layer.labels, map(float, layer.thresholds)))
        children = [out[lab] for lab in out if lab.startswith(self.PARENT + ".")]
        if children:
            out.setdefault(self.PARENT, float(min(children)))
        return out


class SdgTagger(Tagger):
    """SDG goals ``"1"``-``"17"`` and targets ``"1.1"``-``"17.19"``.

    A target is predicted only when its own score passes its threshold and its goal is
    predicted, which keeps target tags inside the goals the text plainly serves.
    """

    scheme = SDGS
    keys = ("sdgs", "sdg_targets")

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str]
    ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        goals = self.layers["sdgs"]
        g_proba = goals.proba(vectors, texts)
        g_pred = g_proba >= goals.thresholds
        out = {"sdgs": (list(goals.labels), g_proba, g_pred)}
        targets = self.layers.get("sdg_targets")
        if targets is not None and targets.labels:
            t_proba = targets.proba(vectors, texts)
            goal_col = {lab: j for j, lab in enumerate(goals.labels)}
            parents = np.array([goal_col[t.split(".")[0]] for t in targets.labels])
            t_pred = (t_proba >= targets.thresholds) & g_pred[:, parents]
            out["sdg_targets"] = (list(targets.labels), t_proba, t_pred)
        else:
            empty = np.zeros((vectors.shape[0], 0))
            out["sdg_targets"] = ([], empty, empty.astype(bool))
        return out

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers.get(key)
        if layer is None:
            return {}
        return dict(zip(layer.labels, map(float, layer.thresholds)))


class GdcTagger(Tagger):
    """Global Digital Compact objectives, sections and commitments (zero-shot).

    A section scores at least as high as its best commitment and an objective at least as high
    as its best section, so sections with no commitments yet are scored from their titles and
    new commitments in ``gdc.yaml`` lift their section and objective once the model is rebuilt.
    """

    scheme = GDC
    keys = ("gdc", "gdc_sections", "gdc_commitments")

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str]
    ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        obj, sec, com = (self.layers[k] for k in self.keys)
        parent_of: dict[str, str] = self.manifest.get("parents", {})
        o_p, s_p, c_p = (obj.proba(vectors, texts), sec.proba(vectors, texts),
                         com.proba(vectors, texts))
        o_y, s_y, c_y = o_p >= obj.thresholds, s_p >= sec.thresholds, c_p >= com.thresholds
        s_p, s_y = _hierarchy_max(sec.labels, s_p, s_y, com.labels, c_p, c_y, parent_of)
        o_p, o_y = _hierarchy_max(obj.labels, o_p, o_y, sec.labels, s_p, s_y, parent_of)
        return {
            "gdc": (list(obj.labels), o_p, o_y),
            "gdc_sections": (list(sec.labels), s_p, s_y),
            "gdc_commitments": (list(com.labels), c_p, c_y),
        }

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers[key]
        return dict(zip(layer.labels, map(float, layer.thresholds)))


_TAGGER_CLASSES: dict[str, type[Tagger]] = {
    ACTION_LINES: ActionLineTagger,
    SDGS: SdgTagger,
    GDC: GdcTagger,
}


# --------------------------------------------------------------------------------------------
# Several taggers over one embedding pass


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def _token_pooled(
    embedder: Any, texts: Sequence[str], spans_per_text: list[list[tuple[int, int]]],
    batch_size: int,
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]]] | None:
    """Text and sentence vectors from ONE forward pass over the texts.

    A sentence's vector is the mean of the contextual token embeddings that fall inside its
    character span (tokens located with the fast tokenizer's offsets), the same pooling the
    model applies to a whole text. Sentences past the model's length limit are embedded in one
    extra call. Returns ``None`` when the embedder does not expose token embeddings.
    """
    model = getattr(embedder, "model", None)
    tokenizer = getattr(model, "tokenizer", None)
    if model is None or tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return None
    try:
        outputs = model.encode(list(texts), batch_size=batch_size, output_value=None,
                               convert_to_numpy=False)
    except TypeError:
        return None
    max_length = getattr(model, "max_seq_length", None) or 512
    text_vectors = _unit(np.stack([o["sentence_embedding"].float().numpy() for o in outputs]))
    result: list[tuple[list[tuple[int, int]], np.ndarray]] = []
    missing: list[tuple[int, int, str]] = []
    for i, (text, spans, out) in enumerate(zip(texts, spans_per_text, outputs)):
        if len(spans) <= 1:
            result.append((spans, text_vectors[i : i + 1]))
            continue
        enc = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=max_length)
        # outputs keep the batch padding: trim to the text's own tokens
        length = int(out["attention_mask"].sum()) if "attention_mask" in out else None
        ids = out["input_ids"].tolist()[:length]
        tokens = out["token_embeddings"].float().numpy()[:length]
        vectors = np.zeros((len(spans), tokens.shape[1]), np.float32)
        if enc["input_ids"] != ids:  # tokenisation differs: embed the sentences instead
            missing += [(i, k, text[a:b]) for k, (a, b) in enumerate(spans)]
        else:
            offsets = np.asarray(enc["offset_mapping"])
            real = offsets[:, 1] > offsets[:, 0]  # drops [CLS]/[SEP]
            for k, (a, b) in enumerate(spans):
                inside = real & (offsets[:, 0] >= a) & (offsets[:, 1] <= b)
                if inside.any():
                    vectors[k] = tokens[inside].mean(axis=0)
                else:
                    missing.append((i, k, text[a:b]))
        result.append((spans, vectors))
    if missing:
        extra = embedder.encode([t for _, _, t in missing], batch_size=batch_size)
        for (i, k, _), vector in zip(missing, extra):
            result[i][1][k] = vector
    return text_vectors, [(spans, _unit(v)) for spans, v in result]


def encode_with_sentences(
    embedder: Any, texts: Sequence[str], batch_size: int = 32
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]]]:
    """Embed texts and their sentences.

    With a sentence-transformers model, sentence vectors are pooled from the token embeddings
    of the same forward pass (so evidence costs about one encoding per text). Otherwise texts
    and sentences go through one encoder call; a single-sentence text reuses its own vector.

    Returns:
        ``(text_vectors (n, d), [(sentence spans, sentence vectors (k, d)), ...])``.
    """
    spans_per_text = [sentence_spans(t) for t in texts]
    pooled = _token_pooled(embedder, texts, spans_per_text, batch_size)
    if pooled is not None:
        return pooled
    batch: list[str] = list(texts)
    where: list[tuple[int, int] | None] = []
    for text, spans in zip(texts, spans_per_text):
        if len(spans) <= 1:
            where.append(None)
            continue
        where.append((len(batch), len(batch) + len(spans)))
        batch.extend(text[a:b] for a, b in spans)
    vectors = embedder.encode(batch, batch_size=batch_size)
    n = len(texts)
    sentence_vectors = []
    for i, (spans, loc) in enumerate(zip(spans_per_text, where)):
        sentence_vectors.append((spans, vectors[i : i + 1] if loc is None else vectors[loc[0] : loc[1]]))
    return vectors[:n], sentence_vectors


class TaggerSuite:
    """The three taggers sharing one embedder: each text is embedded once for all schemes."""

    def __init__(self, taggers: dict[str, Tagger], embedder: Any, taxonomy: Any | None = None):
        self.taggers = taggers
        self.embedder = embedder
        self.taxonomy = taxonomy
        for tagger in taggers.values():
            tagger.check_embedder(embedder)

    @classmethod
    def load(cls, paths: dict[str, Path], embedder: Any, taxonomy: Any | None = None) -> TaggerSuite:
        return cls({scheme: Tagger.load(p, embedder) for scheme, p in paths.items()}, embedder,
                   taxonomy)

    def tag(
        self, texts: Sequence[str], explain: bool = False, batch_size: int = 32
    ) -> list[TextTags]:
        """Tag texts with every scheme.

        Args:
            texts: non-empty strings.
            explain: add evidence (sentences with offsets, nearest examples, keywords); this
                embeds the sentences of multi-sentence texts too.

        Raises:
            EmptyTextError: a text is empty or whitespace only.
        """
        for i, text in enumerate(texts):
            if not text or not text.strip():
                raise EmptyTextError(f"Text {i} is empty or whitespace only")
        if explain:
            vectors, sentence_vectors = encode_with_sentences(self.embedder, texts, batch_size)
        else:
            vectors, sentence_vectors = self.embedder.encode(list(texts), batch_size=batch_size), None
        merged: list[dict[str, list[LabelScore]]] = [{} for _ in texts]
        for tagger in self.taggers.values():
            for i, result in enumerate(tagger.build(texts, vectors, sentence_vectors)):
                merged[i].update(result.tags)
        out = []
        for text, tags in zip(texts, merged):
            consistency: dict[str, list[str]] = {}
            if self.taxonomy is not None and "action_lines" in tags and "sdgs" in tags:
                als = [t.label for t in tags["action_lines"] if t.predicted]
                goals = [t.label for t in tags["sdgs"] if t.predicted]
                consistency = self.taxonomy.matrix_consistency(als, goals)
            out.append(TextTags(text, tags, consistency))
        return out


# --------------------------------------------------------------------------------------------
# Whole documents


@dataclass(frozen=True)
class LabelSummary:
    label: str
    share: float  # share of passages where the label is predicted
    mean_score: float
    top_passages: tuple[tuple[str, float], ...]  # (passage id, score), strongest first


@dataclass(frozen=True)
class DocumentTags:
    """Per-passage tags and, per key, a summary of every label over the document."""

    passages: list[tuple[Any, TextTags]]
    summary: dict[str, list[LabelSummary]]

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        return {
            "passages": [
                {"passage_id": getattr(p, "id", str(i)), "start": getattr(p, "start", None),
                 "end": getattr(p, "end", None), **tags.to_dict(evidence)}
                for i, (p, tags) in enumerate(self.passages)
            ],
            "summary": {
                key: [asdict(s) for s in values] for key, values in self.summary.items()
            },
        }


def summarise(passages: Sequence[Any], tagged: Sequence[TextTags], top_k: int = 3) -> DocumentTags:
    """Document-level summary: per label, share of passages predicted and strongest passages."""
    summary: dict[str, list[LabelSummary]] = {}
    if tagged:
        for key in tagged[0].tags:
            per_label: dict[str, list[tuple[str, float, bool]]] = {}
            for passage, tags in zip(passages, tagged):
                pid = getattr(passage, "id", str(passage))
                for t in tags.tags[key]:
                    per_label.setdefault(t.label, []).append((pid, t.score, t.predicted))
            rows = []
            for label, items in per_label.items():
                share = sum(p for *_, p in items) / len(items)
                best = sorted(items, key=lambda x: -x[1])[:top_k]
                rows.append(LabelSummary(label, share, float(np.mean([s for _, s, _ in items])),
                                         tuple((pid, float(s)) for pid, s, _ in best)))
            rows.sort(key=lambda s: (-s.share, -s.mean_score))
            summary[key] = rows
    return DocumentTags(list(zip(passages, tagged)), summary)


def tag_document(
    passages: Sequence[Any], suite: TaggerSuite, explain: bool = True, batch_size: int = 32
) -> DocumentTags:
    """Tag every passage of a document (objects with ``.text`` and ``.id``) and summarise.

    Empty passages are skipped.
    """
    kept = [p for p in passages if getattr(p, "text", "").strip()]
    tagged = suite.tag([p.text for p in kept], explain=explain, batch_size=batch_size)
    return summarise(kept, tagged)
