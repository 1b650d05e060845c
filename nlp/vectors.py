"""Row-wise vector helpers shared by every embedder (torch, ONNX, hashing) and the trainers."""

from __future__ import annotations

import numpy as np


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
