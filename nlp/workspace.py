"""The library's front door: one object that ingests, indexes and searches.

``Workspace`` ties together the settings, the store (source of truth for documents and
passages), the embedder and the published FAISS index. The CLI and the API are thin layers
over it.

    >>> ws = Workspace()                       # settings from WSIS_* environment variables
    >>> ws.ingest(["corpus/wsis20"])           # read, chunk, store, embed, publish
    >>> ws.search("connect every school", k=3)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nlp.chunk import Chunker
from nlp.config import Settings, get_settings
from nlp.embed import Embedder, load_embedder
from nlp.errors import DocumentError, IndexNotFoundError, WsisError
from nlp.fsutil import file_lock
from nlp.index import (
    IndexManifest,
    VectorIndex,
    corpus_hash,
    current_version,
    current_version_dir,
    load_current,
    publish,
)
from nlp.load import load_paths, parse_bytes
from nlp.search import Searcher, SearchFilters
from nlp.types import PASSAGE_TEXT, Document, DocumentMeta, Hit

if TYPE_CHECKING:
    from nlp.store import Store
    from nlp.tagging.suite import TaggerSuite
    from nlp.taxonomy import Taxonomy


@dataclass
class IngestResult:
    """Outcome of an ingest: new documents, ones already stored, and files that failed."""

    added: list[Document] = field(default_factory=list)
    existing: list[Document] = field(default_factory=list)
    errors: list[DocumentError] = field(default_factory=list)
    passages: int = 0
    index_version: int = 0

    def to_dict(self) -> dict:
        return {
            "added": [{"id": d.id, "title": d.meta.title, "source": d.meta.source}
                      for d in self.added],
            "existing": [{"id": d.id, "title": d.meta.title, "source": d.meta.source}
                         for d in self.existing],
            "errors": [{"path": e.path, "reason": e.reason} for e in self.errors],
            "passages": self.passages,
            "index_version": self.index_version,
        }


@dataclass
class IndexUpdate:
    """What :meth:`Workspace.update_index` changed."""

    added_documents: int
    removed_documents: int
    embedded_passages: int
    passage_count: int
    version: int
    changed: bool
    rebuilt_because: str = ""  # why every passage was re-embedded, when an old index was

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class Workspace:
    """Settings + store + embedder + index, created lazily on first use.

    Args:
        settings: defaults to :func:`nlp.config.get_settings`.
        embedder: an embedder to use instead of the configured one (tests pass a fake).
    """

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 tag_embedder: Embedder | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings or get_settings()
        self.progress = progress  # told about slow one-off steps (the first ONNX export)
        self._batch_wait_s = 0.0  # > 0: concurrent encoder calls share runs (share_batches)
        self._embedder = embedder
        self._tag_embedder = tag_embedder
        self._taggers: TaggerSuite | None = None
        self._taxonomy: Taxonomy | None = None
        self._store: Store | None = None
        self._index: VectorIndex | None = None
        self._searcher: Searcher | None = None
        self._lock = threading.RLock()
        self._store_lock = threading.Lock()  # a server's threads may open the store at once
        self.chunker = Chunker(self.settings.chunk_min_words, self.settings.chunk_max_words)

    # ------------------------------------------------------------------ parts

    def share_batches(self, wait_ms: float) -> None:
        """Let concurrent callers (a server's request threads) share encoder runs: an encode
        waits up to ``wait_ms`` for other callers' texts (:class:`nlp.batching.BatchingEmbedder`).
        Call before the embedders are first used; ``0`` turns it off."""
        self._batch_wait_s = max(0.0, wait_ms) / 1000

    def _batched(self, embedder: Embedder) -> Embedder:
        from nlp.embed import HashEmbedder

        if self._batch_wait_s <= 0 or isinstance(embedder, HashEmbedder):
            return embedder
        from nlp.batching import BatchingEmbedder

        return BatchingEmbedder(embedder, self._batch_wait_s)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._batched(load_embedder(
                self.settings.embedding_model, self.settings.embedding_backend,
                self.settings.onnx_dir, self.progress))
        return self._embedder

    @property
    def tag_embedder(self) -> Embedder:
        """The taggers' encoder (:attr:`Settings.tagging_model_spec`): the fine-tuned body
        when one is shipped, else the search embedder itself (no second model in memory)."""
        if self._tag_embedder is None:
            spec = self.settings.tagging_model_spec
            if spec == self.settings.embedding_model and self._embedder is not None:
                self._tag_embedder = self._embedder
            elif spec == self.settings.embedding_model:
                self._tag_embedder = self.embedder
            else:
                self._tag_embedder = self._batched(load_embedder(
                    spec, self.settings.embedding_backend, self.settings.onnx_dir,
                    self.progress))
        return self._tag_embedder

    def taxonomy(self) -> Taxonomy:
        """The label schemes the taggers use (loaded once): with the SDG titles from the data
        directory when it is there, the same choice the trainers make, so labels match."""
        with self._lock:
            if self._taxonomy is None:
                from nlp.data import data_available
                from nlp.taxonomy import load_taxonomy

                data_dir = self.settings.data_dir
                self._taxonomy = load_taxonomy(self.settings.taxonomy_dir,
                                               data_dir if data_available(data_dir) else None,
                                               cache_dir=self.settings.texts_cache_dir)
            return self._taxonomy

    def saved_tagger_paths(self) -> dict[str, Path | None]:
        """The newest saved model of every scheme for :attr:`tag_embedder` (``None``: no model
        of that scheme), in :attr:`Settings.model_dirs`."""
        from nlp.tagging.registry import find_model
        from nlp.taxonomy import SCHEMES

        embedder = self.tag_embedder
        return {s: find_model(self.settings.model_dirs, s, embedder) for s in SCHEMES}

    def taggers(self, build: bool = True,
                progress: Callable[[str], None] | None = None) -> TaggerSuite:
        """The loaded :class:`~nlp.tagging.suite.TaggerSuite` (loaded once; the API and the
        CLI both take it from here).

        Args:
            build: train the missing schemes first (zero-shot without the data directory);
                without it a missing model raises :class:`~nlp.errors.ModelNotFoundError`.
        """
        with self._lock:
            if self._taggers is None:
                self._taggers = self.load_taggers(build, progress)
            return self._taggers

    def load_taggers(self, build: bool = True,
                     progress: Callable[[str], None] | None = None) -> TaggerSuite:
        """Load the newest saved taggers afresh (after a retrain), without caching them."""
        from nlp.errors import ModelNotFoundError
        from nlp.tagging.suite import TaggerSuite

        settings, embedder = self.settings, self.tag_embedder
        taxonomy = self.taxonomy()
        if build:
            from nlp.tagging.registry import current_models

            paths = current_models(settings.model_dirs, embedder, taxonomy)
            if paths is None:  # only a missing or outdated model needs training code
                from nlp.training.trainers import ensure_models

                paths = ensure_models(settings, embedder, progress=progress)
        else:
            found = self.saved_tagger_paths()
            missing = sorted(s for s, path in found.items() if path is None)
            if missing:
                raise ModelNotFoundError(
                    f"no {', '.join(missing)} tagger for embedding model {embedder.name!r} in "
                    f"{str(settings.models_dir)!r}; run `wsis train`")
            paths = {s: path for s, path in found.items() if path is not None}
        return TaggerSuite.load(paths, embedder, taxonomy, self.example_snippets())

    def keep_tag_table(self) -> bool:
        """Score the live index's passages with the taggers and keep the table on disk
        (:func:`nlp.tagging.table.index_tag_table`), so a server started on this home reads it
        instead of scoring before its first search. Only when the saved taggers are current:
        otherwise the server trains first and scores then. Returns whether a table is kept."""
        from nlp.tagging.registry import current_models
        from nlp.tagging.table import index_tag_table

        if current_models(self.settings.model_dirs, self.tag_embedder, self.taxonomy()) is None:
            return False
        index_tag_table(self.taggers(), self.index(), self.settings.embedding_cache_dir,
                        table_dir=self.settings.tag_table_dir)
        return True

    def example_snippets(self) -> Callable[[str], str]:
        """Looks up a labelled example's text by id in this workspace's data directory (the
        taggers cite third-party examples by id only)."""
        from nlp.labelled import example_snippet

        return partial(example_snippet, taxonomy_dir=self.settings.taxonomy_dir,
                       data_dir=self.settings.data_dir, cache_dir=self.settings.texts_cache_dir)

    @property
    def store(self) -> Store:
        if self._store is None:
            from nlp.store import Store  # SQLAlchemy: ~0.4 s to import, so only when used

            with self._store_lock:
                if self._store is None:
                    self._store = Store(self.settings.db_url)
        return self._store

    def _sqlite_rows(self, query: str) -> list[tuple] | None:
        """Rows of ``query`` from an existing SQLite store not yet opened here, read with the
        standard library; ``None`` when the store must answer (see :func:`_sqlite_rows`)."""
        return _sqlite_rows(self.settings.db_url, query) if self._store is None else None

    def stored_document_ids(self) -> set[str]:
        """The ids of the stored documents.

        An existing SQLite store not yet opened here is read with the standard library's
        ``sqlite3``: a search or a restart only compares these ids with the index manifest, and
        importing SQLAlchemy for that took longer than the rest of ``wsis search`` together.
        """
        rows = self._sqlite_rows("SELECT id FROM documents")
        return self.store.document_ids() if rows is None else {row[0] for row in rows}

    def feedback_count(self) -> int:
        """How many feedback records the store holds; read with ``sqlite3`` as
        :meth:`stored_document_ids` is, so that a server's ``/health`` answers at once after a
        restart instead of importing SQLAlchemy first."""
        rows = self._sqlite_rows("SELECT COUNT(*) FROM feedback")
        if rows is not None:
            return int(rows[0][0])
        from nlp.feedback import count_feedback

        return count_feedback(self.store)

    def fail_interrupted_jobs(self) -> int:
        """Mark the jobs a stopped process left queued or running as failed
        (:func:`nlp.jobs.fail_interrupted_jobs`); returns how many. An SQLite store is first
        asked with ``sqlite3`` whether there is any: usually there is none, and a restart then
        needs no SQLAlchemy before it answers."""
        rows = self._sqlite_rows(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        if rows is not None and int(rows[0][0]) == 0:
            return 0
        from nlp.jobs import fail_interrupted_jobs

        return fail_interrupted_jobs(self.store)

    @property
    def index_root(self) -> Path:
        return self.settings.index_dir

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialise index writers across threads (re-entrant) and processes (flock)."""
        with self._lock, file_lock(self.index_root / ".lock"):
            yield

    def index(self, refresh: bool = True) -> VectorIndex:
        """The live index, reloaded when another process has published a newer version.

        Raises:
            IndexNotFoundError: nothing has been indexed yet.
        """
        with self._lock:
            live = current_version(self.index_root)
            if self._index is None or (refresh and live != self._index.version):
                self._index = load_current(self.index_root, self.embedder.name,
                                           self.embedder.dimension)
                self._searcher = None
            return self._index

    def searcher(self) -> Searcher:
        with self._lock:
            index = self.index()
            if self._searcher is None or self._searcher.index is not index:
                self._searcher = Searcher(index, self.embedder)
            return self._searcher

    # ------------------------------------------------------------------ writing

    def _store_document(self, document: Document) -> tuple[bool, int]:
        passages = self.chunker.chunk(document)
        added = self.store.add_document(document, passages, json.dumps(self.chunker.settings))
        return added, len(passages)

    def ingest(self, paths: list[str | Path], update_index: bool = True,
               show_progress: bool = False) -> IngestResult:
        """Read files and folders into the store, then bring the index up to date.

        Files that cannot be read are reported in ``errors``; the others still go in.
        """
        report = load_paths(list(paths))
        result = IngestResult(errors=list(report.errors))
        for document in report.documents:
            added, count = self._store_document(document)
            (result.added if added else result.existing).append(document)
            result.passages += count if added else 0
        if update_index and (result.added or current_version(self.index_root) == 0):
            result.index_version = self.update_index(show_progress=show_progress).version
        else:
            result.index_version = current_version(self.index_root)
        return result

    def ingest_bytes(self, data: bytes, filename: str, meta: DocumentMeta | None = None,
                     update_index: bool = True) -> tuple[Document, bool]:
        """Ingest one uploaded file. Returns the document and whether it was new.

        Raises:
            DocumentError: the bytes are not a readable document (nothing is stored).
        """
        document = parse_bytes(data, filename, meta)
        added, _ = self._store_document(document)
        if update_index and added:
            try:
                self.update_index()
            except BaseException:
                # Never leave a stored document that the index does not know about.
                self.store.remove_document(document.id)
                raise
        return document, added

    def remove(self, doc_id: str) -> bool:
        """Delete a document from the store and the index. Returns False if unknown."""
        removed = self.store.remove_document(doc_id)
        if removed:
            self.update_index()
        return removed

    def update_index(self, rebuild: bool = False, show_progress: bool = False) -> IndexUpdate:
        """Make the published index match the store, embedding only passages it lacks."""
        with self._write_lock():
            embedder = self.embedder
            try:
                index = None if rebuild else load_current(self.index_root, embedder.name,
                                                          embedder.dimension)
            except IndexNotFoundError:
                index = None
            because = ""
            if index is not None and index.passage_text != PASSAGE_TEXT:
                # Vectors of another passage text cannot be mixed with new ones: re-embed all.
                because = (f"the index v{index.version} embedded passage text "
                           f"{index.passage_text!r}; this version embeds {PASSAGE_TEXT!r}")
                index, rebuild = None, True
            if index is None:
                index = VectorIndex(embedder.name, embedder.dimension, self.settings.index_kind,
                                    self.chunker.settings)
            stored = self.store.document_ids()
            missing = sorted(stored - set(index.documents))
            extra = sorted(set(index.documents) - stored)
            changed = bool(missing or extra or rebuild or current_version(self.index_root) == 0)
            embedded = 0
            if extra:
                index.remove_documents(extra)
            if missing:
                passages = self.store.passages(missing)
                metas = self.store.document_metas(missing)
                texts = [p.embedding_text for p in passages]
                if (callable(getattr(embedder, "encode_spans", None))
                        and self.settings.tagging_model_spec == self.settings.embedding_model):
                    # The taggers read this encoder too: the same pass gives the passages'
                    # sentence and clause vectors, cached for the passage tag table.
                    from nlp.tagging.table import passage_segments

                    vectors, _ = passage_segments(
                        embedder, texts, self.settings.embedding_cache_dir,
                        self.settings.embedding_batch_size, show_progress)
                else:
                    vectors = embedder.encode(texts, batch_size=self.settings.embedding_batch_size,
                                              show_progress=show_progress)
                index.add(metas, passages, vectors)
                embedded = len(passages)
            if changed:
                publish(index, self.index_root)
            with self._lock:
                self._index, self._searcher = index, None
            return IndexUpdate(len(missing), len(extra), embedded, len(index), index.version,
                               changed, because)

    def ensure_ready(self, corpus_dir: str | Path | None = None,
                     show_progress: bool = False) -> IndexUpdate:
        """First-run setup: load the default corpus into an empty store, then sync the index."""
        stored: set[str] | None = self.stored_document_ids()
        if not stored:
            folder = Path(corpus_dir or self.settings.corpus_dir)
            if folder.is_dir():
                self.ingest([folder], update_index=False)
                stored = None  # read again below
        unchanged = self._unchanged_index(stored)
        if unchanged is not None:
            return unchanged
        return self.update_index(show_progress=show_progress)

    def live_manifest(self) -> IndexManifest:
        """The live index's manifest, read without loading the index or the embedder.

        Raises:
            IndexNotFoundError: nothing has been indexed yet.
        """
        live = current_version_dir(self.index_root)
        if live is None:
            raise IndexNotFoundError(f"No index under {self.index_root}; run `wsis index`")
        return IndexManifest.from_dict(json.loads((live / "manifest.json").read_text()))

    def _unchanged_index(self, stored: set[str] | None = None) -> IndexUpdate | None:
        """The live index when it already holds exactly the stored documents, read from its
        manifest alone: no embedder, no FAISS, so commands and a restart that change nothing
        start fast. ``None`` when :meth:`update_index` has work to do (or must decide).

        Args:
            stored: the stored document ids, when the caller has just read them.
        """
        try:
            manifest = self.live_manifest()
        except (OSError, ValueError, KeyError, WsisError):
            return None
        if (manifest.passage_text != PASSAGE_TEXT
                or manifest.corpus_hash != corpus_hash(
                    self.stored_document_ids() if stored is None else stored)):
            return None
        return IndexUpdate(0, 0, 0, manifest.passage_count, manifest.version, False)

    # ------------------------------------------------------------------ reading

    def search(self, query: str, k: int = 10, mode: str = "hybrid",
               filters: SearchFilters | None = None) -> list[Hit]:
        return self.searcher().search(query, k=k, mode=mode, filters=filters)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _sqlite_rows(db_url: str, query: str) -> list[tuple] | None:
    """The rows of a read-only ``query`` on an existing SQLite store, read without SQLAlchemy;
    ``None`` (use :class:`~nlp.store.Store`) for another database, a missing file or any
    error (e.g. a table the store has not created yet)."""
    if not db_url.startswith("sqlite:///"):
        return None
    path = Path(db_url.removeprefix("sqlite:///"))
    if not path.is_file():
        return None  # the Store creates it and its tables
    try:
        # mode=rw never creates a file; the store's tables may not exist yet (then: Store).
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            return list(connection.execute(query))
        finally:
            connection.close()
    except sqlite3.Error:
        return None
