"""The ``wsis`` app itself: it lists every command and starts without the heavy libraries."""

from __future__ import annotations


def test_help_is_fast_and_lists_commands() -> None:
    import subprocess
    import sys
    import time

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nlp.cli", "--help"], capture_output=True,
                         text=True, check=True)
    elapsed = time.perf_counter() - start
    for command in ("ingest", "index", "search", "passages", "serve"):
        assert command in out.stdout
    code = ("import nlp.cli, sys; print(sorted(m for m in "
            "('torch', 'sentence_transformers', 'transformers', 'faiss') if m in sys.modules))")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert probe.stdout.strip() == "[]"
    assert elapsed < 10  # generous: the real guard is the import probe above
