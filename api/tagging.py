"""The API's one door to the taggers (:mod:`nlp.tagging`).

:class:`TaggingService` loads the taggers once through the workspace (building them on first
run when the library can), reloads them when newer models appear on disk, and caches the
passage tag table of the current index (:func:`nlp.tagging.table.index_tag_table`), rebuilt
only when the index version or the models change. When the taggers cannot be loaded the
service says why, and the endpoints that need tags answer 503.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlp.config import Settings
from nlp.errors import WsisError
from nlp.index import VectorIndex
from nlp.types import Passage
from nlp.workspace import Workspace

if TYPE_CHECKING:
    from nlp.tagging.suite import TaggerSuite
    from nlp.tagging.table import PassageTagTable, TagBrief
    from nlp.tagging.types import TextTags
    from nlp.taxonomy import Taxonomy

log = logging.getLogger("wsis.api")

RELOAD_CHECK_SECONDS = 30.0
# How long a request waits for taggers that are still loading in the background.
LOAD_WAIT_SECONDS = 600.0

# Manifest entries too bulky for an API answer (per-label arrays, prose).
_MANIFEST_SKIP = {"layers", "parents", "model_card", "keywords", "labels"}


class TaggersUnavailable(WsisError):
    """No trained taggers could be loaded; the message says why."""


class TaggingService:
    """Lazily loaded taggers plus the cached tag table of the current index.

    Args:
        settings: where the models live and the batch size.
        workspace: loads the taggers, their encoder and the taxonomy.
        progress: told what happens when missing models are built (slow on first run).
    """

    def __init__(self, settings: Settings, workspace: Workspace,
                 progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.workspace = workspace
        self._progress = progress
        self._suite: TaggerSuite | None = None
        self._reason = "taggers not loaded yet"
        self._models_key = ""
        self._table: PassageTagTable | None = None
        self._lock = threading.RLock()
        self._paths: dict[str, Path | None] = {}
        self._checked = time.monotonic()
        self._models_json = b"{}"
        # Cleared while the taggers load in the background (expect_load); requests that need
        # them wait for it, /health does not.
        self._loaded = threading.Event()
        self._loaded.set()

    # ------------------------------------------------------------------ loading

    def expect_load(self) -> None:
        """A background :meth:`load` is about to start: requests wait for it from now on."""
        self._loaded.clear()

    def end_load(self) -> None:
        """The background load is over (:meth:`load` calls it; also after a failure)."""
        self._loaded.set()

    @property
    def loading(self) -> bool:
        """Whether the taggers are still loading in the background."""
        return not self._loaded.is_set()

    @property
    def available(self) -> bool:
        self._loaded.wait(LOAD_WAIT_SECONDS)
        self.refresh()
        return self._suite is not None

    @property
    def reason(self) -> str:
        return "" if self.available else self._reason

    def status(self) -> dict[str, Any]:
        """``available``, ``reason`` and ``models`` without waiting for a load in progress."""
        if self.loading:
            return {"available": False, "reason": "taggers are loading", "models": {}}
        return {"available": self.available, "reason": self.reason, "models": self.models()}

    def taxonomy(self) -> Taxonomy:
        """The label schemes (loaded once, by the workspace)."""
        return self.workspace.taxonomy()

    def titles(self) -> dict[str, str]:
        from nlp.tagging.table import label_titles

        return label_titles(self.taxonomy())

    def load(self, build: bool = True) -> bool:
        """(Re)load the taggers, building them first when missing and ``build`` is set.

        Returns whether taggers are available; on failure :attr:`reason` says why.
        """
        try:
            with self._lock:
                try:
                    suite = self._load_suite(build)
                except Exception as exc:  # noqa: BLE001 - any failure leaves the API up
                    log.warning("taggers unavailable: %s", exc)
                    self._suite, self._table = None, None
                    self._reason = f"taggers not available: {exc}"
                    return False
                self._suite, self._table = suite, None
                self._models_key = self._fingerprint(suite)
                self._models_json = json.dumps(self._describe(suite)).encode()
                self._reason = ""
                return True
        finally:
            self.end_load()

    def _load_suite(self, build: bool) -> TaggerSuite:
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
            found = {scheme: p.resolve() if p else None
                     for scheme, p in self.workspace.saved_tagger_paths().items()}
        except Exception as exc:  # noqa: BLE001 - a failed look leaves the loaded models serving
            log.warning("could not check for new taggers: %s", exc)
            return
        if None not in found.values() and found != self._paths:
            log.info("newer taggers found on disk; reloading")
            self.load(build=False)

    @staticmethod
    def _fingerprint(suite: TaggerSuite) -> str:
        stamps = {scheme: tagger.manifest.get("created", "") for scheme, tagger
                  in sorted(suite.taggers.items())}
        return hashlib.sha256(json.dumps(stamps, sort_keys=True).encode()).hexdigest()[:12]

    def suite(self) -> TaggerSuite:
        """The loaded :class:`~nlp.tagging.suite.TaggerSuite`.

        Raises:
            TaggersUnavailable: nothing is loaded.
        """
        self._loaded.wait(LOAD_WAIT_SECONDS)
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
        return self._describe(suite)

    @staticmethod
    def _describe(suite: TaggerSuite) -> dict[str, dict[str, Any]]:
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
        return [{"id": item_id, **tags.to_dict(evidence=explain)}
                for item_id, tags in self._tag(texts, ids, explain)]

    def tag_json(self, texts: Sequence[str], ids: Sequence[str] | None = None,
                 explain: bool = True) -> bytes:
        """The ``/v1/tag`` answer, ``{"models": ..., "results": [...]}``, as JSON bytes: the
        results are encoded once, straight from the tagger output, and the models part is
        encoded once per loaded suite.

        Raises:
            TaggersUnavailable, EmptyTextError: see :meth:`tag_texts`.
        """
        rows = ",".join(
            "{" + ",".join([f'"id":{json.dumps(item_id, ensure_ascii=False)}',
                            *filter(None, [tags.json_fields(explain)])]) + "}"
            for item_id, tags in self._tag(texts, ids, explain))
        return b'{"models":' + self._models_json + b',"results":[' + rows.encode() + b"]}"

    def _tag(self, texts: Sequence[str], ids: Sequence[str] | None,
             explain: bool) -> list[tuple[str, TextTags]]:
        """``(id, tags)`` per text; ids default to the texts' positions."""
        tagged = self.suite().tag(list(texts), explain=explain,
                                  batch_size=self.settings.embedding_batch_size)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        return list(zip(ids, tagged))

    def passage_table(self, index: VectorIndex) -> PassageTagTable:
        """Scores for every passage of ``index`` (cached until the index or models change).

        Raises:
            TaggersUnavailable: no taggers loaded.
        """
        from nlp.tagging.table import index_tag_table, table_stamp

        suite = self.suite()
        stamp = table_stamp(index, self._models_key)
        table = self._table
        if table is not None and table.stamp == stamp:
            return table
        with self._lock:
            if self._table is None or self._table.stamp != stamp:
                self._table = index_tag_table(suite, index, self.settings.embedding_cache_dir,
                                              self._models_key, self.settings.tag_table_dir)
            return self._table

    def passage_tags(self, index: VectorIndex, passages: Sequence[Passage],
                     limit: int = 20) -> dict[str, dict[str, list[TagBrief]]]:
        """Predicted tags of the given indexed passages, keyed by passage id."""
        table = self.passage_table(index)
        return {p.id: table.brief(index.row(p.id), limit) for p in passages}
