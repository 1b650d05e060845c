"""Embeddings cached on disk by text hash, one folder per encoder (training texts, passages,
and the sentences and clauses of passages read in context)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nlp.fsutil import atomic_dir


class EmbeddingCache:
    """``.npy`` vectors keyed by SHA-256 of the text, one folder per embedding model."""

    def __init__(self, root: Path | None, embedder: Any) -> None:
        self.embedder = embedder
        self.dir = None
        self._vectors: dict[str, np.ndarray] = {}
        self._held = 0  # > 0: inside hold(), saves wait for its end
        self._dirty = False
        if root is not None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{embedder.name}-{embedder.dimension}")
            self.dir = Path(root) / slug
            self._load()

    def _load(self) -> None:
        assert self.dir is not None
        keys_path, vec_path = self.dir / "keys.json", self.dir / "vectors.npy"
        try:
            keys = json.loads(keys_path.read_text())
            vectors = np.load(vec_path, allow_pickle=False)
        except (OSError, ValueError):  # no cache yet, or a torn one from an older version
            return
        if len(keys) == len(vectors):
            self._vectors = dict(zip(keys, vectors))

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Save once when the block ends, not after every call inside it (the folder is
        rewritten whole on each save: a corpus indexed in chunks would rewrite it per chunk)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._dirty:
                self._save()

    def _save(self) -> None:
        """Replace the folder as a whole (:func:`nlp.fsutil.atomic_dir`): the keys and the
        vectors always come from the same save, even with another process saving at once."""
        if self.dir is None:
            return
        if self._held:
            self._dirty = True
            return
        self._dirty = False
        keys = list(self._vectors)
        matrix = np.stack([self._vectors[k] for k in keys]).astype(np.float32)
        with atomic_dir(self.dir) as tmp:
            np.save(tmp / "vectors.npy", matrix, allow_pickle=False)
            (tmp / "keys.json").write_text(json.dumps(keys))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @staticmethod
    def span_key(text_key: str, span: tuple[int, int]) -> str:
        """Key of a span read in the context of the text keyed ``text_key``: a vector of the
        span's tokens in the text's pass, not of the span embedded on its own."""
        return hashlib.sha256(f"span\0{text_key}\0{span[0]}:{span[1]}".encode()).hexdigest()

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

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The embedder's ``encode_spans`` (text vectors and, from the same pass, span
        vectors), for the texts not cached with all their spans; the text vectors are cached
        under the same keys :meth:`encode` uses."""
        dim = int(self.embedder.dimension)
        keys = [self.key(t) for t in texts]
        span_keys = [[self.span_key(k, (a, b)) for a, b in s] for k, s in zip(keys, spans)]
        todo: dict[tuple[str, ...], int] = {}  # one pass per distinct (text, spans)
        for i, (k, sks) in enumerate(zip(keys, span_keys)):
            if k not in self._vectors or any(sk not in self._vectors for sk in sks):
                todo.setdefault((k, *sks), i)
        if todo:
            rows = list(todo.values())
            text_vecs, span_vecs = self.embedder.encode_spans(
                [texts[i] for i in rows], [list(spans[i]) for i in rows], batch_size)
            for r, i in enumerate(rows):
                self._vectors[keys[i]] = text_vecs[r]
                self._vectors.update(zip(span_keys[i], span_vecs[r]))
            self._save()
        out = (np.stack([self._vectors[k] for k in keys]).astype(np.float32) if texts
               else np.zeros((0, dim), np.float32))
        return out, [np.stack([self._vectors[k] for k in sks]).astype(np.float32) if sks
                     else np.zeros((0, dim), np.float32) for sks in span_keys]
