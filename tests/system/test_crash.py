"""Crash safety: a writer killed with SIGKILL at any moment never leaves a broken live index."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from nlp.index import current_version, load_current

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from nlp.index import VectorIndex, publish
    from nlp.types import DocumentMeta, Passage

    root, rounds = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    index = VectorIndex("fake-model", 64)
    for r in range(rounds):
        doc = f"doc{r}"
        vectors = rng.normal(size=(400, 64)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        passages = [Passage(f"{doc}-{i}", doc, i, 0, 1, "x" * 200) for i in range(400)]
        index.add({doc: DocumentMeta(title=doc)}, passages, vectors)
        publish(index, root)
        print(r, flush=True)
    """
)


def _check_live(root: Path) -> int:
    """The live index loads and is internally consistent; returns its passage count."""
    index = load_current(root, "fake-model", 64)
    assert index.vectors.shape == (len(index.passages), 64)
    assert len(index.documents) * 400 == len(index.passages)
    query = index.vectors[:1] if len(index) else np.zeros((1, 64), np.float32)
    if len(index):
        _, rows = index.search(query, 1)
        assert rows[0][0] == 0  # a vector finds itself: FAISS and the table agree
    return len(index)


def test_sigkill_during_publish_keeps_the_previous_complete_index(tmp_path: Path) -> None:
    root = tmp_path / "index"
    rng = random.Random(1)
    kills = 0
    last_count = 0
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), "1000"],
                                stdout=subprocess.PIPE, text=True)
        # Let it publish at least once more, then kill it at a random moment.
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        assert current_version(root) >= 1
        count = _check_live(root)
        assert count >= 400
        last_count = count
    assert kills == 8 and last_count >= 400
