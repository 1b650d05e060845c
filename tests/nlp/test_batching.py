"""Concurrent encoder calls share runs and each caller gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from nlp.batching import BatchingEmbedder
from nlp.embed import HashEmbedder


class CountingEmbedder(HashEmbedder):
    """Hash vectors; each run takes ``run_s`` (an encoder run is not free: callers queue)."""

    def __init__(self, run_s: float = 0.0) -> None:
        super().__init__(64)
        self.batches: list[int] = []
        self.run_s = run_s

    def encode(self, texts, batch_size=32, show_progress=False):
        self.batches.append(len(texts))
        time.sleep(self.run_s)
        return super().encode(texts, batch_size, show_progress)


def test_alone_a_call_gets_exactly_the_inner_vectors() -> None:
    inner = CountingEmbedder()
    batching = BatchingEmbedder(inner, wait_s=0.001)
    texts = ["connect every school", "routing security"]
    assert np.array_equal(batching.encode(texts), HashEmbedder(64).encode(texts))
    assert inner.batches == [2] and (batching.name, batching.dimension) == ("hash:64", 64)


def test_one_caller_at_a_time_never_waits_for_company() -> None:
    inner = CountingEmbedder()
    batching = BatchingEmbedder(inner, wait_s=2.0)
    started = time.perf_counter()
    for i in range(3):
        batching.encode([f"text {i}"])
    assert time.perf_counter() - started < 1.0  # no 2 s window was paid
    assert inner.batches == [1, 1, 1]


def test_concurrent_calls_share_runs_and_get_their_own_rows() -> None:
    inner = CountingEmbedder(run_s=0.02)
    batching = BatchingEmbedder(inner, wait_s=0.05)
    texts = [[f"text {i} about schools", f"clause {i}"] for i in range(16)]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(16)

    def call(i: int) -> None:
        start.wait()
        results[i] = batching.encode(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for i in range(16):
        np.testing.assert_allclose(results[i], HashEmbedder(64).encode(texts[i]), atol=1e-6)
    assert sum(inner.batches) == 32 and len(inner.batches) < 16  # fewer runs than calls
    assert batching.calls == 16


def test_failures_reach_every_caller_of_the_run_and_big_calls_run_alone() -> None:
    class Failing(CountingEmbedder):
        def encode(self, texts, batch_size=32, show_progress=False):
            raise RuntimeError("encoder broke")

    with pytest.raises(RuntimeError, match="encoder broke"):
        BatchingEmbedder(Failing(), wait_s=0.001).encode(["x"])
    inner = CountingEmbedder()
    BatchingEmbedder(inner, wait_s=10, max_texts=3).encode(["a", "b", "c", "d"])
    assert inner.batches == [4]  # no waiting for company
