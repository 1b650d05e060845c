"""Crash-safe writes and inter-process locks: the one way this library publishes files.

* :func:`atomic_dir` builds a directory under a unique temporary sibling name, fsyncs it and
  swaps it in, so readers see the old version or the new one and never a half-written one,
  and two writers at once never trip over each other's temporary names.
* :func:`atomic_write_bytes` / :func:`atomic_write_text` do the same for one file.
* :func:`file_lock` is an exclusive ``flock`` held for a ``with`` block, across processes.

    >>> with atomic_dir(models / "sdgs") as tmp:
    ...     (tmp / "manifest.json").write_text("{}")
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_SECONDS = 3600  # a temp or old dir untouched this long was left by a crashed writer
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # renameat2 flag: swap two existing paths in one step (Linux >= 3.15)
_exchange_supported = True


def fsync_file(path: str | Path) -> None:
    """Flush one file's contents to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (names created, renamed or removed in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file under ``root``, then every directory, deepest first."""
    root = Path(root)
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_file(Path(folder) / name)
        fsync_dir(folder)


def temp_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A name next to ``path`` that no other writer (thread or process) will pick:
    ``.<name>.<tag>-<pid>-<random>``. Hidden, so globs over published names skip it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def remove_stale(path: str | Path, max_age: float = STALE_SECONDS) -> int:
    """Delete temporary and old siblings of ``path`` that a crashed writer left behind
    (untouched for ``max_age`` seconds); returns how many went."""
    path = Path(path)
    removed = 0
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for leftover in path.parent.glob(pattern):
            try:
                if time.time() - leftover.lstat().st_mtime > max_age:
                    shutil.rmtree(leftover, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:  # its writer finished or another cleaner got there
                continue
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False when this system cannot or ``b`` is gone."""
    global _exchange_supported
    if not _exchange_supported:
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc / not Linux
        _exchange_supported = False
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        _exchange_supported = False  # e.g. a filesystem without RENAME_EXCHANGE
        return False
    if err == errno.ENOENT:
        return False  # another writer moved ``b`` aside meanwhile: the caller retries
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, path: Path, replace: bool) -> list[Path]:
    """Rename the finished ``tmp`` to ``path``; returns where previous versions now are.

    An existing ``path`` is exchanged with ``tmp`` in one step where the system allows it
    (``path`` never disappears, not even for a reader in between); elsewhere it is renamed
    aside under a unique name first. Either way the loser of a race between two writers is
    simply replaced by the winner: the result is one complete version.
    """
    previous: list[Path] = []
    while True:
        try:
            os.rename(tmp, path)  # succeeds when path is absent (or an empty directory)
            return previous
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if not replace:
                raise FileExistsError(errno.EEXIST, "Refusing to replace existing directory",
                                      str(path)) from None
        if _exchange(tmp, path):
            previous.append(tmp)  # tmp's name now holds the previous version
            return previous
        aside = temp_sibling(path, "old")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue  # another writer moved it aside first
        previous.append(aside)


@contextmanager
def atomic_dir(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Write a directory that appears at ``path`` whole or not at all.

    Yields an empty temporary sibling directory (``.<name>.tmp-<pid>-<random>``, mode 0755).
    When the block ends normally every file and directory in it is fsynced, it is renamed to
    ``path`` and the parent directory is fsynced; a previous ``path`` is deleted only after
    the rename. When the block raises, the temporary directory is removed and ``path`` is left
    as it was. Leftovers of writers that crashed over an hour ago are cleared first.

    Args:
        path: where the directory should appear (parents are created).
        replace: replace an existing ``path``; when False an existing non-empty ``path`` is
            kept, this version is discarded and :class:`FileExistsError` raised.

    Raises:
        FileExistsError: ``replace`` is False and ``path`` exists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_sibling(path)
    tmp.mkdir(mode=0o755)
    previous: list[Path] = []
    try:
        yield tmp
        fsync_tree(tmp)
        previous = _swap_in(tmp, path, replace)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for old in previous:
            shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace the file ``path`` with ``data`` atomically (temp file in the same directory,
    fsync, rename, fsync the directory). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its parents) for the block.

    Each call opens its own handle, so it excludes other processes and other threads alike;
    it is not re-entrant (a thread that may nest should also hold a ``threading.RLock``). The
    lock goes with the process, so a crash never leaves it held.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
