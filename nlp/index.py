"""FAISS vector index over passages, saved as a directory with a manifest.

Layout of a saved index::

    index/                      the *root*: holds published versions
      CURRENT                   name of the live version (replaced atomically)
      v000003/
        manifest.json           format, embedder, counts, corpus hash, chunker settings, versions
        index.faiss             the FAISS structure
        vectors.npy             float32 passage vectors (so updates never re-embed old passages)
        passages.jsonl          passage table, row i <-> FAISS id i
        documents.jsonl         document metadata

A version directory is written with :func:`nlp.fsutil.atomic_dir` (temporary name, fsync,
rename); ``CURRENT`` is then replaced with :func:`nlp.fsutil.atomic_write_text`. A crash at
any point leaves the previous version live.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import IndexNotFoundError, ManifestMismatchError, WsisError
from nlp.fsutil import atomic_dir, atomic_write_text
from nlp.types import PASSAGE_TEXT, DocumentMeta, Passage

FORMAT_VERSION = 1
INDEX_KINDS = ("flat", "hnsw", "ivf", "auto")
_KEEP_VERSIONS = 3


def _faiss():
    import faiss  # imported lazily; also keeps faiss's OpenMP threads to the cores we have

    return faiss


# From bench/results/index.md (2 cores, dim 384): exact search stays under ~10 ms a query up
# to about 50k vectors (1.6 ms at 10k, 24 ms at 100k); HNSW M=32 answers in ~0.3 ms with
# recall@10 0.97 at 100k; at 1M, IVF-Flat nprobe=32 keeps recall 0.985 at ~1.8 ms and builds
# in about half the time HNSW needs.
AUTO_FLAT_MAX = 50_000
AUTO_HNSW_MAX = 500_000
IVF_NPROBE = 32


def resolve_kind(kind: str, size: int) -> str:
    """The FAISS structure to use for ``size`` vectors: ``auto`` picks by corpus size."""
    if kind != "auto":
        return kind
    if size <= AUTO_FLAT_MAX:
        return "flat"
    return "hnsw" if size <= AUTO_HNSW_MAX else "ivf"


def ivf_lists(size: int) -> int:
    """Inverted lists for IVF: about 4 sqrt(n), with at least 39 training points per list."""
    return max(1, min(int(4 * size**0.5), size // 39))


def make_faiss_index(kind: str, dimension: int, hnsw_m: int = 32, ef_search: int = 128,
                     training: np.ndarray | None = None):
    """Empty FAISS index for unit vectors, scored by inner product (= cosine).

    ``ivf`` needs ``training`` vectors to place its centroids (the vectors to be indexed).
    """
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = ef_search
        return index
    if kind == "ivf":
        n = 0 if training is None else len(training)
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, ivf_lists(n), faiss.METRIC_INNER_PRODUCT)
        if n:
            index.train(training)
        index.nprobe = IVF_NPROBE
        return index
    raise ValueError(f"Index kind {kind!r} is not supported; choose one of {INDEX_KINDS}")


def corpus_hash(doc_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(doc_ids)).encode()).hexdigest()[:16]


def _library_versions() -> dict[str, str]:
    import nlp

    return {"wsis-lens": nlp.__version__, "faiss": _faiss().__version__, "numpy": np.__version__}


@dataclass
class IndexManifest:
    """What a saved index was built with; checked on load."""

    embedding_model: str
    dimension: int
    index_kind: str
    structure: str
    passage_count: int
    document_count: int
    corpus_hash: str
    chunker: dict[str, Any]
    created: str
    version: int
    format_version: int = FORMAT_VERSION
    libraries: dict[str, str] | None = None
    passage_text: str = PASSAGE_TEXT  # what was embedded; "raw" in manifests that predate it

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "wsis-lens/vector-index",
            "format_version": self.format_version,
            "version": self.version,
            "embedding": {"model": self.embedding_model, "dimension": self.dimension},
            "index_kind": self.index_kind,
            "structure": self.structure,
            "passage_count": self.passage_count,
            "document_count": self.document_count,
            "corpus_hash": self.corpus_hash,
            "chunker": self.chunker,
            "passage_text": self.passage_text,
            "created": self.created,
            "libraries": self.libraries or {},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexManifest:
        if data.get("kind") != "wsis-lens/vector-index":
            raise WsisError(f"Not a WSIS Lens index manifest (kind={data.get('kind')!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ManifestMismatchError(
                f"Index format version {data.get('format_version')!r} is not supported "
                f"(this build reads {FORMAT_VERSION})"
            )
        return cls(
            embedding_model=data["embedding"]["model"],
            dimension=int(data["embedding"]["dimension"]),
            index_kind=data["index_kind"],
            structure=data.get("structure", data["index_kind"]),
            passage_count=int(data["passage_count"]),
            document_count=int(data["document_count"]),
            corpus_hash=data["corpus_hash"],
            chunker=data.get("chunker", {}),
            created=data["created"],
            version=int(data.get("version", 0)),
            libraries=data.get("libraries"),
            passage_text=data.get("passage_text", "raw"),
        )


class VectorIndex:
    """Passages, their vectors and a FAISS structure kept in step (row i = FAISS id i).

    Args:
        embedding_model: name of the embedder that made the vectors (checked on load).
        dimension: vector size.
        kind: ``"flat"`` (exact, default), ``"hnsw"`` or ``"ivf"`` (approximate, for large
            corpora), or ``"auto"`` (chosen by size, see :func:`resolve_kind`).
        chunker: the chunker settings the passages were made with (recorded in the manifest).
    """

    def __init__(self, embedding_model: str, dimension: int, kind: str = "flat",
                 chunker: dict[str, Any] | None = None) -> None:
        if kind not in INDEX_KINDS:
            raise ValueError(f"Index kind {kind!r} is not supported; choose one of {INDEX_KINDS}")
        self.embedding_model = embedding_model
        self.dimension = dimension
        self.kind = kind
        self.chunker = dict(chunker or {})
        self.passages: list[Passage] = []
        self.documents: dict[str, DocumentMeta] = {}
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self.version = 0
        self.passage_text = PASSAGE_TEXT  # what the vectors encode (nlp.types.PASSAGE_TEXT)
        self.structure = resolve_kind(kind, 0)
        # The FAISS structure is built (or read, for a loaded index) on first use: commands
        # that only list passages never import faiss, and a restart answers sooner.
        self._faiss: Any = None
        self._faiss_file: Path | None = None
        self._row_of: dict[str, int] = {}

    @property
    def _faiss_index(self) -> Any:
        if self._faiss is None:
            if self._faiss_file is not None:
                index = _faiss().read_index(str(self._faiss_file))
                if self.structure == "ivf":
                    index.nprobe = IVF_NPROBE
                if index.ntotal != len(self.passages):
                    raise WsisError(f"Index at {self._faiss_file.parent} is inconsistent: FAISS "
                                    f"holds {index.ntotal} vectors for {len(self.passages)} "
                                    "passages")
                self._faiss = index
            else:
                self._faiss = make_faiss_index(self.structure, self.dimension,
                                               training=self.vectors)
                if len(self.vectors):
                    self._faiss.add(np.ascontiguousarray(self.vectors, dtype=np.float32))
        return self._faiss

    @_faiss_index.setter
    def _faiss_index(self, value: Any) -> None:
        self._faiss, self._faiss_file = value, None

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return len(self.passages)

    def passage(self, passage_id: str) -> Passage:
        return self.passages[self._row_of[passage_id]]

    def row(self, passage_id: str) -> int:
        return self._row_of[passage_id]

    def has_document(self, doc_id: str) -> bool:
        return doc_id in self.documents

    def has_passage(self, passage_id: str) -> bool:
        return passage_id in self._row_of

    def passage_counts(self) -> dict[str, int]:
        """Indexed passages per document id (documents in index order)."""
        counts: dict[str, int] = {}
        for passage in self.passages:
            counts[passage.doc_id] = counts.get(passage.doc_id, 0) + 1
        return counts

    def check_embedder(self, name: str, dimension: int) -> None:
        """Raise :class:`ManifestMismatchError` unless the embedder matches this index."""
        if name != self.embedding_model or dimension != self.dimension:
            raise ManifestMismatchError(
                f"The index was built with embedding model {self.embedding_model!r} "
                f"(dimension {self.dimension}) but the configured embedder is {name!r} "
                f"(dimension {dimension}); rebuild the index with `wsis index --rebuild`"
            )

    def add(self, meta_by_doc: dict[str, DocumentMeta], passages: list[Passage],
            vectors: np.ndarray) -> None:
        """Append passages with their vectors. Documents already present are replaced."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(passages), self.dimension):
            raise ValueError(
                f"Expected vectors of shape {(len(passages), self.dimension)}, got {vectors.shape}"
            )
        replaced = [d for d in meta_by_doc if d in self.documents]
        if replaced:
            self.remove_documents(replaced)
        _ = self._faiss_index  # build or read the structure before the vectors grow
        start = len(self.passages)
        self.passages.extend(passages)
        self.documents.update(meta_by_doc)
        self.vectors = np.vstack([self.vectors, vectors]) if len(self.vectors) else vectors
        for offset, passage in enumerate(passages):
            self._row_of[passage.id] = start + offset
        if self._needs_rebuild():
            self._reindex()
        elif len(vectors):
            self._faiss_index.add(vectors)

    def remove_documents(self, doc_ids: Iterable[str]) -> int:
        """Drop every passage of these documents; returns how many passages went.

        The FAISS structure is rebuilt from the stored vectors: nothing is re-embedded.
        """
        drop = set(doc_ids)
        keep = [i for i, p in enumerate(self.passages) if p.doc_id not in drop]
        removed = len(self.passages) - len(keep)
        for doc_id in drop:
            self.documents.pop(doc_id, None)
        if removed:
            self.passages = [self.passages[i] for i in keep]
            self.vectors = np.ascontiguousarray(self.vectors[keep])
            self._reindex()
        return removed

    def _needs_rebuild(self) -> bool:
        """After an add: the structure changes with size, or IVF needs (more) centroids."""
        wanted = resolve_kind(self.kind, len(self.vectors))
        if wanted != self.structure:
            return True
        if wanted == "ivf":
            index = self._faiss_index
            return not index.is_trained or ivf_lists(len(self.vectors)) >= 2 * index.nlist
        return False

    def _reindex(self) -> None:
        self._row_of = {p.id: i for i, p in enumerate(self.passages)}
        self.structure = resolve_kind(self.kind, len(self.vectors))
        self._faiss_index = make_faiss_index(self.structure, self.dimension,
                                             training=self.vectors)
        if len(self.vectors):
            self._faiss_index.add(self.vectors)

    # ------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product for each query vector.

        Args:
            queries: ``(q, dimension)`` float32, unit length.
            k: how many rows per query.
            allowed_rows: optional row ids to restrict the search to (metadata filters).

        Returns:
            ``(scores, rows)``, each ``(q, k')`` with ``k' = min(k, candidates)``; rows are -1
            where fewer candidates exist.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self.passages) if allowed_rows is None else len(allowed_rows)
        k = min(k, n)
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if allowed_rows is None:
            scores, rows = self._faiss_index.search(queries, k)
        else:
            faiss = _faiss()
            selector = faiss.IDSelectorBatch(np.asarray(allowed_rows, dtype=np.int64))
            if self.structure == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(128, 2 * k))
            elif self.structure == "ivf":
                params = faiss.SearchParametersIVF(sel=selector, nprobe=IVF_NPROBE)
            else:
                params = faiss.SearchParameters(sel=selector)
            scores, rows = self._faiss_index.search(queries, k, params=params)
        return scores, rows

    # ------------------------------------------------------------------ persistence

    def manifest(self) -> IndexManifest:
        return IndexManifest(
            embedding_model=self.embedding_model,
            dimension=self.dimension,
            index_kind=self.kind,
            structure=self.structure,
            passage_count=len(self.passages),
            document_count=len(self.documents),
            corpus_hash=corpus_hash(self.documents),
            chunker=self.chunker,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            version=self.version,
            libraries=_library_versions(),
            passage_text=self.passage_text,
        )

    def save(self, path: str | Path) -> Path:
        """Write this index to a new directory ``path`` atomically (temp dir, fsync, rename).

        Raises:
            FileExistsError: ``path`` already exists.
        """
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"Refusing to overwrite existing index directory {path}")
        with atomic_dir(path, replace=False) as tmp:
            _faiss().write_index(self._faiss_index, str(tmp / "index.faiss"))
            np.save(tmp / "vectors.npy", self.vectors, allow_pickle=False)
            with (tmp / "passages.jsonl").open("w", encoding="utf-8") as handle:
                for p in self.passages:
                    handle.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            with (tmp / "documents.jsonl").open("w", encoding="utf-8") as handle:
                for doc_id, meta in self.documents.items():
                    handle.write(json.dumps({"id": doc_id, **meta.to_dict()},
                                            ensure_ascii=False) + "\n")
            (tmp / "manifest.json").write_text(json.dumps(self.manifest().to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, embedding_model: str | None = None,
             dimension: int | None = None) -> VectorIndex:
        """Load a saved index directory, checking it against the configured embedder.

        Raises:
            IndexNotFoundError: no manifest at ``path``.
            ManifestMismatchError: the index was built with another embedding model.
        """
        path = Path(path)
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise IndexNotFoundError(f"No index at {path} (manifest.json missing)")
        manifest = IndexManifest.from_dict(json.loads(manifest_path.read_text()))
        index = cls(manifest.embedding_model, manifest.dimension, manifest.index_kind,
                    manifest.chunker)
        if embedding_model is not None:
            index.check_embedder(embedding_model, dimension or manifest.dimension)
        index.version = manifest.version
        index.passage_text = manifest.passage_text
        # Memory-mapped: pages are read when a search or an update touches them.
        vectors = np.load(path / "vectors.npy", allow_pickle=False, mmap_mode="r")
        with (path / "passages.jsonl").open(encoding="utf-8") as handle:
            index.passages = [Passage(**json.loads(line)) for line in handle if line.strip()]
        with (path / "documents.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    doc_id = row.pop("id")
                    index.documents[doc_id] = DocumentMeta(**row)
        if vectors.shape != (len(index.passages), manifest.dimension):
            raise WsisError(
                f"Index at {path} is inconsistent: {vectors.shape[0]} vectors for "
                f"{len(index.passages)} passages"
            )
        index.vectors = vectors.astype(np.float32, copy=False)
        index.structure = manifest.structure
        if not (path / "index.faiss").is_file():
            raise IndexNotFoundError(f"No index at {path} (index.faiss missing)")
        index._faiss_file = path / "index.faiss"
        index._row_of = {p.id: i for i, p in enumerate(index.passages)}
        return index


# --------------------------------------------------------------------------- published versions


def current_version_dir(root: str | Path) -> Path | None:
    """The live version directory under ``root``, or ``None`` when nothing is published."""
    root = Path(root)
    pointer = root / "CURRENT"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    # The pointer is our own file, but never let it point outside the root.
    if not name or "/" in name or name.startswith("."):
        raise WsisError(f"Corrupt index pointer {pointer}: {name!r}")
    target = root / name
    return target if (target / "manifest.json").is_file() else None


def current_version(root: str | Path) -> int:
    """Version number of the live index (0 when none); cheap enough to poll per request."""
    target = current_version_dir(root)
    return int(target.name[1:]) if target is not None else 0


def publish(index: VectorIndex, root: str | Path) -> Path:
    """Save ``index`` as the next version under ``root`` and make it live atomically."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name[1:]) for p in root.glob("v[0-9]*") if p.name[1:].isdigit()]
    index.version = max(existing + [current_version(root)], default=0) + 1
    target = index.save(root / f"v{index.version:06d}")
    atomic_write_text(root / "CURRENT", target.name)
    _prune(root, keep=_KEEP_VERSIONS)
    return target


def _prune(root: Path, keep: int) -> None:
    live = current_version_dir(root)
    versions = sorted(p for p in root.glob("v[0-9]*") if p.is_dir() and p != live)
    for old in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".v*.tmp-*"):  # temp dirs left by a crashed save
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)


def load_current(root: str | Path, embedding_model: str | None = None,
                 dimension: int | None = None) -> VectorIndex:
    """Load the live version under ``root``.

    Raises:
        IndexNotFoundError: nothing published yet.
    """
    target = current_version_dir(root)
    if target is None:
        raise IndexNotFoundError(f"No index has been built under {root}; run `wsis index`")
    return VectorIndex.load(target, embedding_model, dimension)
