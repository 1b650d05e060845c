"""nlp.fsutil: directories and files appear whole or not at all, concurrent writers never
collide, and file_lock keeps a second process out."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nlp import fsutil
from nlp.embed import HashEmbedder
from nlp.embed_cache import EmbeddingCache
from nlp.fsutil import atomic_dir, atomic_write_text, file_lock

PARTS = ("a.txt", "b.txt", "c.txt")


def _save(path: Path, writer: str, rounds: int) -> None:
    """Publish ``rounds`` versions of ``path``, every file holding the writer's stamp."""
    for i in range(rounds):
        with atomic_dir(path) as tmp:
            for name in PARTS:
                (tmp / name).write_text(f"{writer}-{i}")
                time.sleep(0.001)  # widen the window in which the other writer can step in


def _assert_one_complete_version(path: Path) -> None:
    stamps = {(path / name).read_text() for name in PARTS}
    assert len(stamps) == 1, f"files from different saves: {stamps}"
    assert sorted(p.name for p in path.iterdir()) == sorted(PARTS)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "temp or old dirs left"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "rename-aside"])
def test_concurrent_saves_from_threads_leave_one_complete_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    if not exchange:  # the portable path: the old version is renamed aside first
        monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    path = tmp_path / "model"
    errors: list[BaseException] = []

    def save(writer: str) -> None:
        try:
            _save(path, writer, 25)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    _assert_one_complete_version(path)
    assert (path / "a.txt").read_text().endswith("-24")


def test_concurrent_saves_from_processes_leave_one_complete_version(tmp_path: Path) -> None:
    path = tmp_path / "model"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save, args=(path, f"p{n}", 25)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    _assert_one_complete_version(path)


def test_an_exception_inside_keeps_the_old_directory_and_no_temp_dirs(tmp_path: Path) -> None:
    path = tmp_path / "model"
    _save(path, "old", 1)
    with pytest.raises(RuntimeError, match="disk full"), atomic_dir(path) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError("disk full")
    assert {(path / name).read_text() for name in PARTS} == {"old-0"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_leftovers_of_a_crashed_writer_are_cleared_after_an_hour(tmp_path: Path) -> None:
    path = tmp_path / "model"
    stale, fresh = tmp_path / ".model.tmp-1-dead", tmp_path / ".model.tmp-2-busy"
    for leftover in (stale, fresh):
        leftover.mkdir()
        (leftover / "a.txt").write_text("partial")
    hour_ago = time.time() - fsutil.STALE_SECONDS - 60
    os.utime(stale, (hour_ago, hour_ago))
    _save(path, "new", 1)
    assert not stale.exists() and fresh.exists()  # a running writer's temp dir is left alone


def test_without_replace_an_existing_directory_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "model"
    _save(path, "first", 1)
    with pytest.raises(FileExistsError), atomic_dir(path, replace=False) as tmp:
        (tmp / "a.txt").write_text("second")
    assert (path / "a.txt").read_text() == "first-0"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_dir(tmp_path / "fresh", replace=False) as tmp:
        (tmp / "a.txt").write_text("only")
    assert (tmp_path / "fresh" / "a.txt").read_text() == "only"


def test_atomic_write_replaces_a_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "CURRENT"
    atomic_write_text(target, "v000001")
    atomic_write_text(target, "v000002")
    assert target.read_text() == "v000002"
    assert [p.name for p in target.parent.iterdir()] == ["CURRENT"]


def _hold_lock(path: Path, acquired: multiprocessing.Queue) -> None:
    with file_lock(path):
        acquired.put(time.time())


def test_file_lock_excludes_a_second_process(tmp_path: Path) -> None:
    path = tmp_path / "locks" / ".retrain.lock"
    ctx = multiprocessing.get_context("fork")
    acquired = ctx.Queue()
    with file_lock(path):
        proc = ctx.Process(target=_hold_lock, args=(path, acquired))
        proc.start()
        proc.join(timeout=1.0)
        assert proc.is_alive(), "the second process got the lock while the first held it"
        released = time.time()
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert acquired.get(timeout=5) >= released


def test_embedding_cache_saves_keys_and_vectors_as_one_version(tmp_path: Path) -> None:
    embedder = HashEmbedder(16)
    first = EmbeddingCache(tmp_path, embedder).encode(["a b", "c d"])
    assert first.shape == (2, 16)
    folder = EmbeddingCache(tmp_path, embedder).dir
    assert sorted(p.name for p in folder.iterdir()) == ["keys.json", "vectors.npy"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    again = EmbeddingCache(tmp_path, embedder)
    assert len(again._vectors) == 2
    np.testing.assert_array_equal(again.encode(["c d"]), first[1:])
    # A torn cache (an older version renamed its two files separately) is ignored, not fatal.
    (folder / "keys.json").write_text(json.dumps(["only-one-key"]))
    (folder / "vectors.npy").write_bytes(b"not numpy")
    assert EmbeddingCache(tmp_path, embedder)._vectors == {}
