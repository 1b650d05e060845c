"""Encoder batches shared by concurrent callers: the texts of concurrent ``/v1/tag`` and
``/v1/search`` requests go through one ONNX run instead of one run each.

A caller that finds no run being prepared becomes the *leader*: while callers are arriving
together it waits ``wait_s`` (a few milliseconds) for the others to add their texts, encodes
them all in one call of the wrapped embedder and hands each caller its rows. Callers that
arrive while a run is in progress queue up; when the run ends, the first of them leads the
next run at once (they have waited already). The wait is only paid while calls overlap: when
the previous run served one caller and nobody queued behind it (one client at a time), the
leader runs at once. A caller alone gets exactly the vectors the wrapped embedder gives it
(its batch holds only its own texts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nlp.embed import Embedder


@dataclass(eq=False)
class _Call:
    texts: list[str]
    batch_size: int
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: np.ndarray | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    """Wraps an :class:`~nlp.embed.Embedder` so concurrent ``encode`` calls share runs.

    Args:
        inner: the embedder that does the work (same ``name`` and ``dimension``).
        wait_s: how long a leader collects texts before running (a few ms).
        max_texts: calls with more texts than this (indexing a corpus) run on their own.
    """

    def __init__(self, inner: Embedder, wait_s: float = 0.003, max_texts: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.wait_s = wait_s
        self.max_texts = max_texts
        self._lock = threading.Lock()
        self._queue: list[_Call] = []
        self._leading = False
        self._overlapping = False  # the last run was shared, or callers queued behind it
        in_context = getattr(inner, "encode_spans", None)
        if in_context is not None:  # one text's pass, not shared: see encode_with_segments
            self.encode_spans = in_context
        self.runs = 0  # encoder runs made, and the calls they served (for tests and benches)
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               show_progress: bool = False) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single str")
        if not len(texts) or show_progress or len(texts) > self.max_texts:
            return self.inner.encode(texts, batch_size=batch_size, show_progress=show_progress)
        call = _Call(list(texts), batch_size)
        with self._lock:
            self._queue.append(call)
            call.lead = not self._leading
            self._leading = True
        if call.lead:
            if self._overlapping:
                time.sleep(self.wait_s)
        else:
            call.wake.wait()
        if call.lead:
            self._run()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _run(self) -> None:
        """Encode everything queued in one call, then pass the lead to a caller that queued
        meanwhile (or give it up)."""
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            vectors = self.inner.encode([t for c in batch for t in c.texts],
                                        batch_size=max(c.batch_size for c in batch))
            start = 0
            for c in batch:
                c.result = vectors[start : start + len(c.texts)]
                start += len(c.texts)
        except BaseException as exc:  # noqa: BLE001 - every caller of this run sees it
            for c in batch:
                c.error = exc
        self.runs += 1
        self.calls += len(batch)
        with self._lock:
            self._overlapping = len(batch) > 1 or bool(self._queue)
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].wake.set()
            else:
                self._leading = False
        for c in batch:
            c.wake.set()

    def __repr__(self) -> str:
        return f"BatchingEmbedder({self.inner!r}, wait_s={self.wait_s})"
