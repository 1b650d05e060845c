"""Sentence embeddings with ONNX Runtime: the same vectors as sentence-transformers, no torch.

Two halves with different dependencies:

* :func:`nlp.onnx_export.export_onnx` (needs torch + transformers + onnx, imported inside the
  function) turns the transformer of a sentence-transformers model directory into
  ``model.onnx`` and writes an *export directory* (:mod:`nlp.onnx_format`: the ONNX graph,
  ``tokenizer.json``, the pooling config and a ``manifest.json``). The directory appears
  atomically.
* :class:`OnnxEmbedder` (this module) loads an export directory with ``onnxruntime`` and
  ``tokenizers`` only, tokenizes, runs the graph and does the pooling and L2 normalisation in
  numpy. Importing this module or encoding never imports torch, transformers or
  sentence-transformers; only :meth:`OnnxEmbedder.from_spec` exports, when no export exists.

``OnnxEmbedder.name`` equals :class:`nlp.embed.SentenceTransformerEmbedder`'s name for the same
model, so an index built by either backend can be searched with the other.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import BUNDLED_MODEL
from nlp.onnx_format import (
    MANIFEST,
    POOLING_MODES,
    TOKENIZER_FILE,
    Precision,
    check_source,
    model_source,
    read_manifest,
)
from nlp.vectors import finish_spans, normalise_rows, pool_spans

log = logging.getLogger(__name__)
_EXPORTING = threading.Lock()


@contextmanager
def _export_lock(path: Path) -> Iterator[None]:
    """Exclusive across threads (flock is per open file, not per thread) and processes."""
    from nlp.fsutil import file_lock

    with _EXPORTING, file_lock(path):
        yield


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set (torch obeys it too), else usable CPUs capped at 4.

    On a shared 2-core machine one thread per encode was 5x faster than two at the median
    (bench/results/encoder-1thread.md vs encoder.md): set ``OMP_NUM_THREADS=1`` for a server.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 4))


class OnnxEmbedder:
    """An exported sentence-transformers model run by ONNX Runtime (no torch).

    Args:
        path: an export directory written by :func:`export_onnx`.
        precision: ``"fp32"`` (default) or ``"int8"`` (only if exported with ``int8=True``).
            int8 is for measuring, not serving: in ``bench/results/encoder.md`` it moved the
            top-10 retrieval away from torch's (overlap well below fp32's 1.0) for a modest
            speed-up, so :meth:`from_spec`, the path the service takes, always loads fp32.
        threads: ONNX Runtime intra-op threads; default: usable CPUs, at most 4.

    Raises:
        FileNotFoundError: ``path`` is not an export directory.
        ManifestMismatchError: the manifest is of another kind or format version.
        ValueError: ``precision`` was not exported.
    """

    def __init__(self, path: Path | str, precision: Precision = "fp32", threads: int | None = None):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # optional extra
            raise RuntimeError(
                "The ONNX backend needs onnxruntime and tokenizers: pip install 'wsis-lens[onnx]'"
            ) from exc

        self.path = Path(path).expanduser()
        self.manifest = read_manifest(self.path)
        files = self.manifest["files"]
        if precision not in files:
            raise ValueError(
                f"Precision {precision!r} is not in the export {str(self.path)!r} "
                f"(has {sorted(files)!r}); re-export with int8=True for 'int8'"
            )
        self.precision = precision
        self.name: str = self.manifest["model_name"]
        self.dimension: int = int(self.manifest["dimension"])
        self.max_seq_length: int = int(self.manifest["max_seq_length"])
        self.pooling: str = self.manifest["pooling"]
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"Pooling {self.pooling!r} is not supported {POOLING_MODES!r}")
        self._pad_id = int(self.manifest.get("pad_token_id", 0))

        self.tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        # tokenizer.json files often carry a fixed pad/truncate length (128 for MiniLM) that
        # sentence-transformers overrides; we pad per batch ourselves and cut at max_seq_length.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

        options = ort.SessionOptions()
        self.threads = threads or default_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle intra-op threads sleep instead of spinning: on a shared 2-core machine the spin
        # after every short run burned CPU that the other requests (and jobs) needed. The
        # computed vectors are the same.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.path / files[precision]["path"]), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._output = self.manifest.get("output", "last_hidden_state")

    @classmethod
    def from_spec(cls, spec: str = BUNDLED_MODEL, export_root: Path | None = None,
                  progress: Callable[[str], None] | None = None) -> OnnxEmbedder:
        """Resolve a model spec the way :func:`nlp.embed.load_embedder` names models.

        * ``"all-MiniLM-L6-v2"``: the export under ``<export_root>/all-MiniLM-L6-v2``,
          exported from the bundled weights on first use (the only moment torch is imported).
        * a directory holding an ONNX export manifest: loaded as is.
        * a sentence-transformers directory: exported to ``<export_root>/<dir name>`` once.

        Args:
            export_root: where exports live (:attr:`nlp.config.Settings.onnx_dir`); only an
                export directory given as ``spec`` can do without it.
            progress: told (one line) when the one-off export starts; default: the log.

        Raises:
            FileNotFoundError: ``spec`` is neither the bundled model nor a directory.
            ValueError: ``spec`` needs an export and no ``export_root`` was given.
            ManifestMismatchError: an existing export was made from different weights.
        """
        source, name = model_source(spec)
        if (source / MANIFEST).is_file():
            return cls(source)
        if export_root is None:
            raise ValueError(f"Embedding model {spec!r} is not an ONNX export; give an "
                             "export_root (Settings.onnx_dir) to export it into")
        target = Path(export_root) / name
        if not (target / MANIFEST).is_file():
            # One exporter at a time (processes and threads): the others wait for its export
            # instead of making their own; replace=False keeps a concurrent export if any.
            with _export_lock(Path(export_root) / f".{name}.lock"):
                if not (target / MANIFEST).is_file():
                    from nlp.onnx_export import export_onnx

                    (progress or log.info)(f"exporting {name} to ONNX at {target} (one-off, "
                                           "about 30 s; the only step that needs torch) ...")
                    export_onnx(source, target, name=name, replace=False)
                    return cls(target)
        check_source(target, source)
        return cls(target)

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts``; returns ``(len(texts), dimension)`` float32 L2-normalised rows.

        Texts are tokenized together, sorted by token count and batched so each batch pads
        only to its own longest member; results come back in input order.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single str")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) == 0:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early
        starts = range(0, len(order), max(1, batch_size))
        if show_progress:
            try:
                from tqdm import tqdm

                starts = tqdm(starts, desc="onnx encode", unit="batch")
            except ImportError:
                pass
        for start in starts:
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([encodings[i] for i in rows])
        return normalise_rows(out)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed ``texts`` and, from the same forward pass, character spans of each: a span's
        vector is the mean of its tokens' vectors, read in the context of the whole text.

        Returns:
            ``(text vectors (n, d), [span vectors (len(spans[i]), d), ...])``, all rows
            L2-normalised; the text vectors are those of :meth:`encode`. A span the encoder
            cut off (past ``max_seq_length``) is embedded on its own instead.
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_out: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        if not texts:
            return out, span_out
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        cut: list[tuple[int, int]] = []  # (text, span) pairs the pass did not reach
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start : start + batch_size]
            hidden, mask = self._hidden([encodings[i] for i in rows])
            out[rows] = pool(hidden, mask, self.pooling)
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                vectors, missing = pool_spans(
                    hidden[r, :n], np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2),
                    np.asarray(enc.special_tokens_mask, dtype=bool), list(spans[i]))
                span_out[i] = vectors
                cut.extend((int(i), k) for k in missing)
        return finish_spans(lambda items: self.encode(items, batch_size), texts, spans, out,
                            span_out, cut)

    def _encode_batch(self, encodings: list[Any]) -> np.ndarray:
        hidden, mask = self._hidden(encodings)
        return pool(hidden, mask, self.pooling)

    def _hidden(self, encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Token vectors ``(batch, width, d)`` and attention mask of one padded batch."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self.session.run([self._output], {k: feed[k] for k in self._inputs})[0]
        return hidden, mask

    def __repr__(self) -> str:
        return (
            f"OnnxEmbedder(name={self.name!r}, precision={self.precision!r}, "
            f"threads={self.threads}, path={str(self.path)!r})"
        )


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Token vectors ``(batch, seq, dim)`` -> sentence vectors ``(batch, dim)``, mask-aware."""
    if mode == "cls":
        return hidden[:, 0, :].astype(np.float32)
    weights = mask[..., None].astype(np.float32)
    if mode == "mean":
        summed = (hidden * weights).sum(axis=1)
        return summed / np.clip(weights.sum(axis=1), 1e-9, None)
    if mode == "max":
        return np.where(weights > 0, hidden, -1e9).max(axis=1).astype(np.float32)
    raise ValueError(f"Pooling {mode!r} is not supported {POOLING_MODES!r}")
