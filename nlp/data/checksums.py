"""SHA-256 of data files: the registry check, and the hashes recorded in model manifests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from nlp.data.registry import REGISTRY, DataFile


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matches_registry(path: Path, item: DataFile) -> bool:
    """True when ``path`` exists and, where the registry pins a hash, has that SHA-256."""
    return path.exists() and (item.sha256 is None or sha256_file(path) == item.sha256)


def verify(data_dir: Path) -> dict[str, bool | None]:
    """``{relative path: True (hash ok) | False (differs) | None (missing)}`` for the registry."""
    result: dict[str, bool | None] = {}
    for item in REGISTRY:
        path = Path(data_dir) / item.path
        result[item.path] = matches_registry(path, item) if path.exists() else None
    return result


def dataset_hashes(data_dir: Path, relative_paths: Iterable[str]) -> dict[str, str]:
    """SHA-256 of the given data files that exist (recorded in model manifests)."""
    out: dict[str, str] = {}
    for rel in relative_paths:
        path = Path(data_dir) / rel
        if path.exists():
            out[rel] = sha256_file(path)
    return out
