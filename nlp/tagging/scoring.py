"""The numeric core shared by every scheme: components, stacker and calibrated scores.

See :class:`ScoringLayer`. Pure numpy (plus a sparse TF-IDF product for the lexical head)."""

from __future__ import annotations

import functools
import itertools
import operator
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlp.tagging.keywords import KeywordMatcher


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def _logit(p: np.ndarray | float) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-17, 1.0 - 1e-16)
    return np.log(q) - np.log1p(-q)



COMPONENTS = ("prototype", "keyword", "head", "knn", "lexical")
KNN_K = 15
KNN_TEMPERATURE = 20.0
KNN_FLOOR = 0.01
# Share of a text's best sentence or clause in its pooled score (pool_scores); layers saved
# before the weight was a setting pooled with this value.
POOL_WEIGHT = 0.5


@dataclass
class LexicalHead:
    """TF-IDF (word 1-2 grams) + one-vs-rest logistic weights, stored as arrays, not pickles."""

    vocabulary: list[str]
    idf: np.ndarray  # (V,)
    weights: np.ndarray  # (L, V)
    bias: np.ndarray  # (L,)

    def rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """TF-IDF rows of ``texts`` as ``(columns int32, values float32)``, columns ascending:
        the numbers scikit-learn's ``TfidfVectorizer(**lexical_settings(), vocabulary=...)``
        with ``idf_`` set gives, step for step (``tests/nlp/tagging/test_lexical.py`` checks
        they are equal), without importing scikit-learn or scipy (each was a share of every
        `wsis tag` start) or their per-call input validation."""
        indptr, columns, values = self._csr(texts)
        return [(columns[a:b], values[a:b]) for a, b in itertools.pairwise(indptr)]

    def _csr(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`rows` of all texts at once: ``(indptr, columns, values)``, as in CSR."""
        if not hasattr(self, "_column"):
            self._column = {term: j for j, term in enumerate(self.vocabulary)}
            self._idf64 = np.asarray(self.idf, dtype=np.float64)
        lookup = self._column.get
        known = functools.partial(operator.is_not, None)
        found: list[int] = []
        counted: list[int] = []
        lengths = np.zeros(len(texts), np.int64)
        for i, text in enumerate(texts):
            # vocabulary columns of the text's n-grams, counted (C-level iterators: this loop
            # runs for every text, sentence and clause of every tagging call)
            counts = Counter(filter(known, map(lookup, _analyze(text))))
            found.extend(counts)
            counted.extend(counts.values())
            lengths[i] = len(counts)
        row = np.repeat(np.arange(len(texts)), lengths)
        order = np.lexsort((np.asarray(found, np.int64), row))  # columns ascending per row
        columns = np.asarray(found, np.int32)[order]
        data = np.asarray(counted, np.float32)[order]
        np.log(data, data)  # sublinear tf: 1 + log(count)
        data += 1.0
        data[:] = data * self._idf64[columns]  # float64 product, stored as float32
        # l2 as sklearn's cython: float32 squares, a double sum in order (trailing zeros of
        # the padding add nothing)
        norm = _row_sums((data * data).astype(np.float64), lengths)[:, 0]
        scale = np.sqrt(norm)[row]
        keep = scale != 0.0
        data[keep] = (data[keep].astype(np.float64) / scale[keep]).astype(np.float32)
        indptr = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return indptr, columns, data

    def transform(self, texts: Sequence[str]) -> Any:
        """:meth:`rows` as a scipy CSR matrix (float32), for training and tests."""
        from scipy import sparse

        indptr, columns, values = self._csr(texts)
        return sparse.csr_array((values, columns, indptr.astype(np.int32)),
                                shape=(len(texts), len(self.vocabulary)), dtype=np.float32)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """``rows @ weights.T + bias``, each row's products summed in column order in
        float32, as scipy's sparse-times-dense product does (same bits, no scipy import)."""
        if not hasattr(self, "_weights_t"):
            self._weights_t = np.ascontiguousarray(self.weights.T, dtype=np.float32)
        indptr, columns, values = self._csr(texts)
        terms = values[:, None] * self._weights_t[columns]
        return _row_sums(terms, np.diff(indptr)) + self.bias


def _row_sums(values: np.ndarray, lengths: np.ndarray, budget: int = 1 << 22) -> np.ndarray:
    """Sums of consecutive runs of ``values`` (run ``i`` is ``lengths[i]`` rows; a 1-d array
    counts as one column), each added in order as a sequential loop adds it (so the bits
    match scipy's and scikit-learn's), for many runs at once: runs sorted by length are
    padded with zeros (adding zero changes no sum) into blocks of about ``budget`` numbers,
    each summed by one cumsum. Returns ``(len(lengths), columns)`` in ``values``' dtype."""
    values = values.reshape(len(values), -1)
    width = values.shape[1]
    lengths = np.asarray(lengths, np.int64)
    out = np.zeros((len(lengths), width), values.dtype)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    by_length = np.argsort(lengths, kind="stable")
    sorted_lengths = np.maximum(lengths[by_length], 1)
    a = 0
    while a < len(by_length):
        # ascending lengths: a block's last run is its longest; a block ends where runs grow
        # by a quarter (little padding) or its padded size would pass the budget
        b = a + 1
        while (b < len(by_length) and sorted_lengths[b] * 4 <= sorted_lengths[a] * 5
               and (b + 1 - a) * sorted_lengths[b] * width <= budget):
            b += 1
        block = by_length[a:b]
        sizes = lengths[block]
        owner = np.repeat(np.arange(len(block)), sizes)
        slot = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        padded = np.zeros((len(block), int(sorted_lengths[b - 1]), width), values.dtype)
        padded[owner, slot] = values[starts[block][owner] + slot]
        out[block] = np.cumsum(padded, axis=1, dtype=values.dtype)[:, -1]
        a = b
    return out


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


def _strip_accents(text: str) -> str:
    """scikit-learn's ``strip_accents_unicode``."""
    try:
        text.encode("ASCII", errors="strict")
        return text
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", text)
        return "".join([c for c in normalized if not unicodedata.combining(c)])


_ANALYZED: dict[str, list[str]] = {}  # text -> its n-grams: every lexical head reads them
_ANALYZED_MAX = 4096  # texts kept (a batch of passages and their sentences and clauses)


def _analyze(text: str) -> list[str]:
    """Word 1- and 2-grams of ``text`` as :func:`lexical_settings` makes them (lower case,
    accents stripped, tokens of two or more word characters); kept for the next layer that
    scores the same text (read them only)."""
    found = _ANALYZED.get(text)
    if found is None:
        tokens = _TOKEN.findall(_strip_accents(text.lower()))
        found = tokens + [" ".join(tokens[i : i + 2]) for i in range(len(tokens) - 1)]
        if len(_ANALYZED) >= _ANALYZED_MAX:
            _ANALYZED.clear()
        _ANALYZED[text] = found
    return found


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

    ``score_map`` ``(a, b)`` recalibrates that score on in-domain labelled text when a layer
    has no held-out source of its own (the GDC layers, on the gold passages):
    ``p = sigmoid(a * (sum_k mix[k] * component_k + mix_bias) + b)``. It is monotone
    (``a > 0``), and :meth:`remap` moves the thresholds and floor with it, so it changes what
    a score means, never a decision.
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
    floor: float = 0.0  # the top label is predicted when its score reaches the floor
    cap: int = 0  # at most this many labels per text (0: no cap)
    pool: bool = False  # also score a text's sentences and clauses (Tagger.layer_proba)
    pool_weight: float = POOL_WEIGHT  # share of the best segment in a pooled score
    score_map: tuple[float, float] = (1.0, 0.0)  # (a, b): p = sigmoid(a * logit + b)
    # the held-out-source thresholds, on the stacker's own scores, that a decision rule
    # refitted on in-domain text (nlp.training.tune) starts from; None: ``thresholds``
    source_thresholds: np.ndarray | None = None

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
        a, b = self.score_map
        return _sigmoid(a * self.logits(vectors, texts) + b)

    def remap(self, a: float, b: float) -> None:
        """Put scores on the map ``(a, b)`` (see the class docstring; ``(1, 0)``: the
        stacker's own calibration) and move the thresholds and the floor with them, so every
        decision stays what it was.

        Raises:
            ValueError: ``a`` is not positive (the map would reorder scores).
        """
        if not a > 0:
            raise ValueError(f"Score map slope {a!r} must be positive")
        old_a, old_b = self.score_map

        def move(p: np.ndarray | float) -> np.ndarray:
            p = np.asarray(p, dtype=np.float64)
            moved = _sigmoid(a * (_logit(p) - old_b) / old_a + b)
            # a threshold of 1 (never predicted) or 0 (always) means the same on any map
            return np.where(p >= 1.0, 1.0, np.where(p <= 0.0, 0.0, moved))

        self.thresholds = move(np.asarray(self.thresholds, dtype=np.float64))
        if self.floor > 0:
            self.floor = float(move(self.floor))
        self.score_map = (float(a), float(b))

    @staticmethod
    def apply_decision(proba: np.ndarray, thresholds: np.ndarray, floor: float = 0.0,
                       cap: int = 0) -> np.ndarray:
        """Labels whose score reaches their threshold, plus the top label when it reaches
        ``floor`` (``floor <= 0``: no special rule), keeping the ``cap`` strongest."""
        pred = proba >= thresholds
        if floor > 0 and proba.shape[1]:
            rows = np.arange(len(proba))
            top = proba.argmax(axis=1)
            pred[rows, top] |= proba[rows, top] >= floor
        if cap and proba.shape[1] > cap:
            rank = np.argsort(np.argsort(-proba, axis=1), axis=1)
            pred &= rank < cap
        return pred

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Multi-label decisions for calibrated scores ``(n, L)``."""
        return self.apply_decision(proba, self.thresholds, self.floor, self.cap)

    # --- persistence ----------------------------------------------------------------------
    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.prototypes": self.prototypes.astype(np.float32),
               f"{prefix}.proto_center": np.asarray(self.proto_center, np.float32),
               f"{prefix}.proto_spread": np.asarray(self.proto_spread, np.float32),
               f"{prefix}.thresholds": np.asarray(self.thresholds, dtype=np.float64)}
        if self.source_thresholds is not None:
            out[f"{prefix}.source_thresholds"] = np.asarray(self.source_thresholds,
                                                            dtype=np.float64)
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
            # the floor unrounded: a gold rule's floor can be 1.6e-6 (rounded, it moved
            # decisions); the thresholds are exact in the arrays
            "decision": {"floor": float(self.floor), "cap": int(self.cap),
                         "pool_segments": bool(self.pool),
                         "pool_weight": round(float(self.pool_weight), 6)},
            "score_map": [float(v) for v in self.score_map],
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
            source_thresholds=get("source_thresholds", np.float64),
            threshold_source=[config["threshold_source"][lab] for lab in config["labels"]],
            keywords=(extra or {}).get("keywords"),
            floor=float(config.get("decision", {}).get("floor", 0.0)),
            cap=int(config.get("decision", {}).get("cap", 0)),
            pool=bool(config.get("decision", {}).get("pool_segments", False)),
            pool_weight=float(config.get("decision", {}).get("pool_weight", POOL_WEIGHT)),
            score_map=_score_map(config.get("score_map")),
        )


def _score_map(saved: Sequence[float] | None) -> tuple[float, float]:
    """A saved ``score_map``; layers saved before it existed have none (the identity)."""
    if saved is None:
        return (1.0, 0.0)
    a, b = (float(v) for v in saved)
    return (a, b)


def pool_scores(proba: np.ndarray, segment_proba: np.ndarray, owner: np.ndarray,
                weight: float = POOL_WEIGHT) -> np.ndarray:
    """Each text's scores pooled with its segments' (sentences and clauses):
    ``(1 - weight) * text + weight * max(text, best segment)`` per label, so a passage that
    serves one label in one clause and another in the next scores on both. ``owner[m]`` is
    the row of ``proba`` that segment ``m`` belongs to; texts without segments keep their
    scores. Returns a new array."""
    out = np.array(proba, dtype=np.float64, copy=True)
    owner = np.asarray(owner, np.int64)
    if not len(owner) or not len(out):
        return out
    best = np.full_like(out, -1.0)
    np.maximum.at(best, owner, segment_proba)
    has = np.zeros(len(out), bool)
    has[owner] = True
    out[has] = (1.0 - weight) * out[has] + weight * np.maximum(out[has], best[has])
    return out


def top_k(sims: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row of ``sims``, largest first;
    of equal values the lower column comes first, so the choice among duplicate examples at
    the ``k``-th place never depends on the selection algorithm.

    Only the values at or above a lower bound of each row's ``k``-th largest are sorted. For
    a wide matrix (a 9,000-example bank) the columns are dealt into groups of ``block``
    (column ``c`` to group ``c % groups``), and the bound is the ``k``-th largest of a row's
    group maxima: only the few groups whose maximum reaches it are searched. Dealing columns
    out, rather than cutting contiguous runs, makes the maxima an elementwise max of
    ``block`` contiguous slices, about three times faster than a max over each short run
    (1,250 rows against 9,078 examples: 23 ms against 52 ms here)."""
    n, m = sims.shape
    if k >= m:
        return np.argsort(-sims, axis=1, kind="stable")
    groups = m // block
    if groups >= 4 * k:
        body = sims[:, : groups * block].reshape(n, block, groups)
        maxima = body.max(axis=1)
        bound = np.partition(maxima, groups - k, axis=1)[:, groups - k]
        # a value at or above the bound lies in a group whose maximum reaches it
        group_row, group = np.nonzero(maxima >= bound[:, None])
        hit, step = np.nonzero(body[group_row, :, group] >= bound[group_row][:, None])
        rows, cols = group_row[hit], group[hit] + groups * step
        tail_rows, tail_cols = np.nonzero(sims[:, groups * block :] >= bound[:, None])
        rows = np.concatenate([rows, tail_rows])
        cols = np.concatenate([cols, tail_cols + groups * block])
        order = np.lexsort((cols, rows))  # by row, columns ascending within a row
        rows, cols = rows[order], cols[order]
    else:
        bound = np.partition(sims, m - k, axis=1)[:, m - k]
        rows, cols = np.nonzero(sims >= bound[:, None])  # columns ascending within a row
    counts = np.bincount(rows, minlength=n)
    slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    width = int(counts.max())
    cand = np.zeros((n, width), np.int64)
    cand_sims = np.full((n, width), -np.inf, sims.dtype)
    cand[rows, slot] = cols
    cand_sims[rows, slot] = sims[rows, cols]
    order = np.argsort(-cand_sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand, order, axis=1)


def knn_vote(vectors: np.ndarray, bank: np.ndarray, bank_labels: np.ndarray,
             k: int = KNN_K, temperature: float = KNN_TEMPERATURE) -> np.ndarray:
    """``log(floor + vote)``: similarity-weighted share of each label among the k nearest."""
    n_labels = bank_labels.shape[1]
    if len(bank) == 0:
        return np.full((len(vectors), n_labels), np.log(KNN_FLOOR))
    k = min(k, len(bank))
    sims = vectors @ bank.T
    idx = top_k(sims, k)
    near = np.take_along_axis(sims, idx, axis=1)
    weights = np.exp(temperature * (near - 1.0))
    weights /= weights.sum(axis=1, keepdims=True)
    votes = np.einsum("nk,nkl->nl", weights, bank_labels[idx].astype(np.float32))
    return np.log(KNN_FLOOR + votes)
