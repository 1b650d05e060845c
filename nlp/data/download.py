"""Fetching the registry's files at their pinned commits, verified before they replace
anything, and what to copy by hand for the derived files a download cannot rebuild."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from nlp.data.checksums import matches_registry, sha256_file
from nlp.data.registry import REGISTRY, DataFile
from nlp.errors import DataChecksumError

log = logging.getLogger(__name__)

Opener = Callable[[str], BinaryIO]


def _default_opener(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=60)


def fetch(
    dest_dir: Path,
    files: Iterable[DataFile] = REGISTRY,
    opener: Opener | None = None,
    overwrite: bool = False,
) -> dict[str, str]:
    """Download the registry's files into ``dest_dir`` and verify their SHA-256.

    Each file is written to a temporary file in the target folder, fsynced, checked, then
    renamed into place, so an interrupted or corrupted download never replaces a good file.
    A derived file (``derived_from`` set) is never downloaded: a valid copy is ``"present"``,
    a missing or differing one is ``"manual"`` (left untouched, a warning logged) and
    :func:`manual_instructions` says what to copy where; the other files are fetched as usual.

    Args:
        dest_dir: the data directory to fill (created if needed).
        files: which registry entries to fetch (all by default).
        opener: ``url -> readable binary stream``; ``urllib.request.urlopen`` by default
            (tests pass a local opener).
        overwrite: re-download files that are already present and valid.

    Returns:
        ``{relative path: "downloaded" | "present" | "downloaded-unverified" | "manual"}``.

    Raises:
        DataChecksumError: a downloaded file's hash differs from the registry (file removed).
    """
    open_url = opener or _default_opener
    report: dict[str, str] = {}
    for item in files:
        target = Path(dest_dir) / item.path
        if item.derived_from is not None:
            report[item.path] = "present" if matches_registry(target, item) else "manual"
            if report[item.path] == "manual":
                log.warning("%s", _manual_note(item, Path(dest_dir)))
            continue
        if target.exists() and not overwrite and matches_registry(target, item):
            report[item.path] = "present"
            continue
        url = item.url
        assert url is not None  # only derived files have no URL
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open_url(url) as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
            actual = sha256_file(tmp)
            if item.sha256 is not None and actual != item.sha256:
                raise DataChecksumError(item.path, expected=item.sha256, actual=actual)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        report[item.path] = "downloaded" if item.sha256 else "downloaded-unverified"
    return report


def _manual_note(item: DataFile, dest_dir: Path) -> str:
    derivation = item.derived_from
    assert derivation is not None
    target = dest_dir / item.path
    state = "differs from the registry" if target.exists() else "is missing"
    return (
        f"{str(target)!r} {state}. Copy the derived file {item.path!r} "
        f"(sha256 {item.sha256}) from the project's shared data directory (default "
        f"../shared/data beside the checkout) to {str(target)!r}. It cannot "
        f"be fetched verbatim because {derivation.why_manual}. It was made from "
        f"{'; '.join(derivation.sources)} as follows: {derivation.filtering}."
    )


def manual_instructions(dest_dir: Path, files: Iterable[DataFile] = REGISTRY) -> dict[str, str]:
    """What to copy by hand: ``{relative path: instruction}`` for each derived file that is
    missing from ``dest_dir`` or differs from its registry hash (empty when all are in place).
    """
    return {
        item.path: _manual_note(item, Path(dest_dir))
        for item in files
        if item.derived_from is not None and not matches_registry(Path(dest_dir) / item.path, item)
    }
