"""The API's one door to the taggers (:mod:`nlp.tagging`, :mod:`nlp.training`).

:class:`TaggingService` loads the taggers once (building them on first run when the library
can), tags free text with evidence, and keeps a table of every indexed passage's scores. That
table is computed from the vectors already stored in the index, so nothing is re-embedded,
and it is rebuilt only when the index version or the models change. When the taggers cannot
be loaded the service says why, and the endpoints that need tags answer 503.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import Settings
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.types import Passage
from nlp.workspace import Workspace

log = logging.getLogger("wsis.api")

RELOAD_CHECK_SECONDS = 30.0

# Manifest entries too bulky for an API answer (per-label arrays, prose).
_MANIFEST_SKIP = {"layers", "parents", "model_card", "keywords", "labels"}


class TaggersUnavailable(WsisError):
    """No trained taggers could be loaded; the message says why."""


@dataclass
class PassageTagTable:
    """Scores of every label for every indexed passage, row-aligned with the index.

    ``keys`` maps an output key (``action_lines``, ``sdgs``, ...) to
    ``(labels, scores (n, L) float32, predicted (n, L) bool)``.
    """

    stamp: tuple[int, int, str]
    keys: dict[str, tuple[list[str], np.ndarray, np.ndarray]]

    def brief(self, row: int, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
        """Predicted labels of one passage per key, strongest first (at most ``limit``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for key, (labels, scores, predicted) in self.keys.items():
            # Same order as the taggers' own output: score descending, then label.
            cols = sorted(np.flatnonzero(predicted[row]),
                          key=lambda c: (-float(scores[row, c]), labels[c]))[:limit]
            out[key] = [{"label": labels[c], "score": round(float(scores[row, c]), 4)}
                        for c in cols]
        return out

    def rows_with_any(self, wanted: Sequence[str]) -> np.ndarray:
        """Rows where any of the ``wanted`` labels is predicted, under any key."""
        if not self.keys:
            return np.zeros(0, dtype=np.int64)
        n = next(iter(self.keys.values()))[1].shape[0]
        mask = np.zeros(n, dtype=bool)
        targets = set(wanted)
        for labels, _, predicted in self.keys.values():
            cols = [j for j, lab in enumerate(labels) if lab in targets]
            if cols:
                mask |= predicted[:, cols].any(axis=1)
        return np.flatnonzero(mask).astype(np.int64)

    def known_labels(self) -> set[str]:
        return {lab for labels, _, _ in self.keys.values() for lab in labels}

    def summary(self, rows: Sequence[int], passage_ids: Sequence[str],
                titles: dict[str, str], top_k: int = 3) -> dict[str, list[dict[str, Any]]]:
        """Per key, every label predicted in at least one of ``rows``: how many passages carry
        it, their share, the mean score over all rows, and the strongest passages.

        Computed on the score matrices directly rather than through per-passage objects, so a
        long document costs a few array operations.
        """
        rows = np.asarray(rows, dtype=np.int64)
        out: dict[str, list[dict[str, Any]]] = {}
        for key, (labels, scores, predicted) in self.keys.items():
            if len(rows) == 0:
                out[key] = []
                continue
            sub_scores, sub_pred = scores[rows], predicted[rows]
            counts = sub_pred.sum(axis=0)
            means = sub_scores.mean(axis=0)
            entries = []
            for j in np.flatnonzero(counts):
                hits = np.flatnonzero(sub_pred[:, j])
                best = hits[np.argsort(-sub_scores[hits, j], kind="stable")][:top_k]
                entries.append({
                    "label": labels[j],
                    "title": titles.get(labels[j], labels[j]),
                    "passages": int(counts[j]),
                    "share": round(float(counts[j]) / len(rows), 4),
                    "mean_score": round(float(means[j]), 4),
                    "top_passages": [{"passage_id": passage_ids[b],
                                      "score": round(float(sub_scores[b, j]), 4)} for b in best],
                })
            entries.sort(key=lambda e: (-e["passages"], -e["mean_score"], e["label"]))
            out[key] = entries
        return out


class TaggingService:
    """Lazily loaded taggers plus cached per-passage tags.

    Args:
        settings: where the models and the taxonomy live.
        embedder: returns the workspace's embedder (called only when the taggers load).
        progress: told what happens when missing models are built (slow on first run).
    """

    def __init__(self, settings: Settings, workspace: Workspace,
                 progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.workspace = workspace
        self._progress = progress
        self._suite: Any | None = None
        self._reason = "taggers not loaded yet"
        self._models_key = ""
        self._table: PassageTagTable | None = None
        self._taxonomy: Any | None = None
        self._lock = threading.RLock()
        self._paths: dict[str, Path | None] = {}
        self._checked = time.monotonic()

    # ------------------------------------------------------------------ loading

    @property
    def available(self) -> bool:
        self.refresh()
        return self._suite is not None

    @property
    def reason(self) -> str:
        return "" if self.available else self._reason

    def taxonomy(self) -> Any:
        """The label schemes (loaded once)."""
        with self._lock:
            if self._taxonomy is None:
                from nlp.data import data_available
                from nlp.taxonomy import load_taxonomy

                data_dir = self.settings.data_dir
                # The same choice the trainers make, so labels here match the models' labels.
                self._taxonomy = load_taxonomy(self.settings.taxonomy_dir,
                                               data_dir if data_available(data_dir) else None)
            return self._taxonomy

    def titles(self) -> dict[str, str]:
        taxonomy = self.taxonomy()
        return {lab.id: lab.title for labels in taxonomy.labels.values() for lab in labels}

    def load(self, build: bool = True) -> bool:
        """(Re)load the taggers, building them first when missing and ``build`` is set.

        Returns whether taggers are available; on failure :attr:`reason` says why.
        """
        with self._lock:
            try:
                suite = self._load_suite(build)
            except Exception as exc:  # noqa: BLE001 - any failure leaves the API up, untagged
                log.warning("taggers unavailable: %s", exc)
                self._suite, self._table = None, None
                self._reason = f"taggers not available: {exc}"
                return False
            self._suite, self._table = suite, None
            self._models_key = self._fingerprint(suite)
            self._reason = ""
            return True

    def _load_suite(self, build: bool) -> Any:
        try:
            suite = self.workspace.load_taggers(build, self._progress)
        except ImportError as exc:
            raise TaggersUnavailable(f"the tagging modules are missing ({exc})") from exc
        self._paths = dict(suite.paths)
        return suite

    def refresh(self) -> None:
        """Reload when another process saved newer models (``wsis train``, another worker's
        retrain). Looks at the model folders at most every ``RELOAD_CHECK_SECONDS``."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        try:
            from nlp.tagging.registry import find_model

            embedder = self.workspace.tag_embedder
            found = {scheme: find_model(self.settings.model_dirs, scheme, embedder)
                     for scheme in self.taxonomy().labels}
            found = {scheme: p.resolve() if p else None for scheme, p in found.items()}
        except Exception as exc:  # noqa: BLE001 - a failed look leaves the loaded models serving
            log.warning("could not check for new taggers: %s", exc)
            return
        if None not in found.values() and found != self._paths:
            log.info("newer taggers found on disk; reloading")
            self.load(build=False)

    @staticmethod
    def _fingerprint(suite: Any) -> str:
        stamps = {scheme: tagger.manifest.get("created", "") for scheme, tagger
                  in sorted(suite.taggers.items())}
        return hashlib.sha256(json.dumps(stamps, sort_keys=True).encode()).hexdigest()[:12]

    def suite(self) -> Any:
        """The loaded :class:`~nlp.tagging.suite.TaggerSuite`.

        Raises:
            TaggersUnavailable: nothing is loaded.
        """
        self.refresh()
        suite = self._suite
        if suite is None:
            raise TaggersUnavailable(self._reason)
        return suite

    def models(self) -> dict[str, dict[str, Any]]:
        """A short description of each loaded tagger (from its manifest)."""
        self.refresh()
        suite = self._suite
        if suite is None:
            return {}
        out = {}
        for scheme, tagger in suite.taggers.items():
            manifest = {k: v for k, v in tagger.manifest.items() if k not in _MANIFEST_SKIP}
            manifest["keys"] = list(tagger.keys)
            out[scheme] = manifest
        return out

    def key_schemes(self) -> dict[str, str]:
        """Output key (``sdg_targets``) -> scheme (``sdgs``)."""
        suite = self._suite
        if suite is None:
            return {}
        return {key: scheme for scheme, tagger in suite.taggers.items() for key in tagger.keys}

    # ------------------------------------------------------------------ tagging

    def tag_texts(self, texts: Sequence[str], ids: Sequence[str] | None = None,
                  explain: bool = True) -> list[dict[str, Any]]:
        """The ``wsis tag`` JSON for each text, plus evidence when ``explain`` is set.

        Raises:
            TaggersUnavailable: no taggers loaded.
            EmptyTextError: a text is blank.
        """
        suite = self.suite()
        tagged = suite.tag(list(texts), explain=explain,
                           batch_size=self.settings.embedding_batch_size)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        return [{"id": item_id, **tags.to_dict(evidence=explain)}
                for item_id, tags in zip(ids, tagged)]

    def passage_table(self, index: VectorIndex) -> PassageTagTable:
        """Scores for every passage of ``index`` from its stored vectors (cached).

        Raises:
            TaggersUnavailable: no taggers loaded.
        """
        suite = self.suite()
        stamp = (index.version, len(index), self._models_key)
        table = self._table
        if table is not None and table.stamp == stamp:
            return table
        with self._lock:
            if self._table is not None and self._table.stamp == stamp:
                return self._table
            keys: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
            texts = [p.text for p in index.passages]
            if suite.embedder.name == index.embedding_model:
                vectors = index.vectors
            else:
                # The taggers have their own (fine-tuned) encoder: passages are embedded once
                # more with it, and cached on disk so a restart or a new version re-embeds
                # only new passages.
                from nlp.embed_cache import EmbeddingCache

                cache = EmbeddingCache(self.settings.embedding_cache_dir, suite.embedder)
                vectors = cache.encode(texts)
            for tagger in suite.taggers.values():
                # The taggers read the text too (lexical features), not only the vector.
                scored = tagger.score_vectors(vectors, texts)
                for key, (labels, scores, predicted) in scored.items():
                    keys[key] = (list(labels), np.asarray(scores, dtype=np.float32),
                                 np.asarray(predicted, dtype=bool))
            self._table = PassageTagTable(stamp, keys)
            return self._table

    def passage_tags(self, index: VectorIndex, passages: Sequence[Passage],
                     limit: int = 20) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Predicted tags of the given indexed passages, keyed by passage id."""
        table = self.passage_table(index)
        return {p.id: table.brief(index.row(p.id), limit) for p in passages}
