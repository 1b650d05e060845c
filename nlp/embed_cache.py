"""Embeddings cached on disk by text hash, one folder per encoder (training texts, passages)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
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

    def _save(self) -> None:
        """Replace the folder as a whole (:func:`nlp.fsutil.atomic_dir`): the keys and the
        vectors always come from the same save, even with another process saving at once."""
        if self.dir is None:
            return
        keys = list(self._vectors)
        matrix = np.stack([self._vectors[k] for k in keys]).astype(np.float32)
        with atomic_dir(self.dir) as tmp:
            np.save(tmp / "vectors.npy", matrix, allow_pickle=False)
            (tmp / "keys.json").write_text(json.dumps(keys))

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


