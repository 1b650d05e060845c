"""Component logits of every split: each supervised model (head, kNN bank, TF-IDF head) is
fitted once per distinct training set, in worker processes, and kept in a :class:`FitCache`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.scoring import knn_vote
from nlp.training.evaluation.config import HEAD_C, SUPERVISED, Progress
from nlp.training.evaluation.splits import SchemeData, Split

SEGMENT_PREFIX = "segment:"  # supervised logits of the scored texts' segments


@dataclass
class SplitLogits:
    """Component logits of one split: out-of-fold for its training rows, and for its test rows
    from components fitted on the whole training part (as the saved layer would score them)."""

    oof: dict[str, np.ndarray]  # component -> (len(train), L)
    test: dict[str, np.ndarray]  # component -> (len(test), L)
    held: np.ndarray  # (len(train),) bool
    # the test texts' segments (SchemeData.segment_*), scored like the test rows: component ->
    # (m, L), and the position in ``test`` of each segment's text
    segments: dict[str, np.ndarray] | None = None
    segment_owner: np.ndarray | None = None


def _supervised_logits(
    vectors: np.ndarray, y: np.ndarray, texts: Sequence[str], fit_rows: np.ndarray,
    score_rows: np.ndarray, final: bool, components: Sequence[str],
    extra: tuple[np.ndarray, list[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Fit the supervised components on ``fit_rows`` and score ``score_rows``, and with
    ``extra`` (vectors, texts: the scored texts' segments) those too, as ``"segment:<name>"``.

    ``final`` scores like a saved layer (kNN bank stored as float16); otherwise like
    ``fit_layer``'s out-of-fold loop (full-precision bank).
    """
    from nlp.training.fit import fit_head, fit_lexical

    out: dict[str, np.ndarray] = {}
    queries = [("", vectors[score_rows], [texts[i] for i in score_rows])]
    if extra is not None:
        queries.append((SEGMENT_PREFIX, np.asarray(extra[0], np.float32), list(extra[1])))
    if "head" in components:
        weights, bias = fit_head(vectors[fit_rows], y[fit_rows], HEAD_C)
        for prefix, query, _ in queries:
            out[prefix + "head"] = np.asarray(query @ weights.T + bias, dtype=np.float64)
    if "knn" in components:
        bank = vectors[fit_rows]
        if final:
            bank = bank.astype(np.float16).astype(np.float32)
        for prefix, query, _ in queries:
            out[prefix + "knn"] = knn_vote(query, bank, y[fit_rows])
    if "lexical" in components:
        lexical = fit_lexical([texts[i] for i in fit_rows], y[fit_rows])
        for prefix, _, query_texts in queries:
            out[prefix + "lexical"] = lexical.logits(query_texts)
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
            final: bool, segment_rows: np.ndarray | None = None) -> str:
        import hashlib

        digest = hashlib.sha256(self._code().encode())
        digest.update(b"final" if final else b"oof")
        for rows in (fit_rows, score_rows):
            digest.update(np.ascontiguousarray(data.vectors[rows]).tobytes())
            digest.update(np.ascontiguousarray(data.y[rows]).tobytes())
            digest.update("\0".join(data.texts[i] for i in rows).encode())
        if segment_rows is not None and len(segment_rows):
            assert data.segment_vectors is not None and data.segment_texts is not None
            digest.update(b"segments")
            digest.update(np.ascontiguousarray(data.segment_vectors[segment_rows]).tobytes())
            digest.update("\0".join(data.segment_texts[m] for m in segment_rows).encode())
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
    # the segments of the texts each final fit scores (the test rows: as shipped, pooled)
    segment_rows: dict[tuple[bool, bytes], np.ndarray | None] = {
        key: (np.flatnonzero(np.isin(data.segment_owner, score_rows[key]))
              if key[0] and data.has_segments else None) for key in requests}
    digests = {key: cache.key(data, requests[key][0], score_rows[key], key[0],
                              segment_rows[key]) for key in requests}
    fitted: dict[tuple[bool, bytes], dict[str, np.ndarray]] = {}
    for key in requests:
        found = cache.load(digests[key])
        if found is not None:
            fitted[key] = found
    todo = [key for key in requests if key not in fitted]

    def extra(key: tuple[bool, bytes]) -> tuple[np.ndarray, list[str]] | None:
        rows = segment_rows[key]
        if rows is None:
            return None
        assert data.segment_vectors is not None and data.segment_texts is not None
        return data.segment_vectors[rows], [data.segment_texts[m] for m in rows]

    tasks = [(_supervised_logits, (data.vectors, data.y, data.texts, requests[key][0],
                                   score_rows[key], key[0], SUPERVISED, extra(key)))
             for key in todo]
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

    def key_of(final: bool, fit_rows: np.ndarray) -> tuple[bool, bytes]:
        return (final, np.asarray(fit_rows, np.int64).tobytes())

    def lookup(final: bool, fit_rows: np.ndarray, rows: np.ndarray, name: str) -> np.ndarray:
        key = key_of(final, fit_rows)
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
        segments = owner = None
        key = key_of(True, split.train)
        rows = segment_rows[key]
        if rows is not None:
            # final fits score exactly their own split's test rows, so their segment logits
            # are this split's in segment order
            assert data.segment_owner is not None and data.segment_vectors is not None
            segments = {"prototype": (data.segment_vectors[rows] @ data.prototypes.T - center)
                        / spread,
                        "keyword": data.segment_keyword_logits()[rows]}
            for name in SUPERVISED:
                segments[name] = fitted[key][SEGMENT_PREFIX + name]
            owner = np.searchsorted(split.test, data.segment_owner[rows])
        if not data.keywords:
            oof.pop("keyword"), test.pop("keyword")
            if segments is not None:
                segments.pop("keyword")
        out.append(SplitLogits(oof, test, split.held(), segments, owner))
    return out
