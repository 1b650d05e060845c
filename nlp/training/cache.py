"""Training-text embeddings cached on disk, one folder per embedding model."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


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


