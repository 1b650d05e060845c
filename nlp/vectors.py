"""Row-wise vector helpers shared by every embedder (torch, ONNX, hashing) and the trainers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def pool_spans(
    hidden: np.ndarray, offsets: np.ndarray, special: np.ndarray,
    spans: list[tuple[int, int]],
) -> tuple[np.ndarray, list[int]]:
    """Mean token vectors of character ``spans`` of one encoded text.

    Args:
        hidden: the text's token vectors ``(tokens, d)`` (no padding).
        offsets: each token's ``(start, end)`` characters in the text ``(tokens, 2)``.
        special: True for [CLS]/[SEP]-like tokens, which belong to no span.
        spans: ``(start, end)`` character spans of the text.

    Returns:
        ``(vectors (len(spans), d), missing)``: unnormalised means of the tokens lying inside
        each span, and the indices of spans with no such token (cut off by the encoder's
        length limit, or blank): their rows are zero.
    """
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    missing = []
    starts, ends = offsets[:, 0], offsets[:, 1]
    usable = ~special & (ends > starts)
    for k, (a, b) in enumerate(spans):
        inside = usable & (starts >= a) & (ends <= b)
        if inside.any():
            out[k] = hidden[inside].mean(axis=0)
        else:
            missing.append(k)
    return out, missing


def finish_spans(
    encode: Callable[[list[str]], np.ndarray], texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]], text_vectors: np.ndarray,
    span_vectors: list[np.ndarray], cut: list[tuple[int, int]],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The last step of an embedder's ``encode_spans``: the ``(text, span)`` pairs its pass
    did not reach (``cut``, from :func:`pool_spans`) embedded on their own with ``encode``,
    then every row L2-normalised."""
    if cut:
        alone = encode([texts[i][slice(*spans[i][k])] for i, k in cut])
        for (i, k), vector in zip(cut, alone):
            span_vectors[i][k] = vector
    return normalise_rows(text_vectors), [normalise_rows(v) for v in span_vectors]
