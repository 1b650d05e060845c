"""Finding saved tagger models on disk (newest first) without importing training code."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "v1"


def find_model(models_dir: Path | Sequence[Path], scheme: str,
               embedder: Any | None = None) -> Path | None:
    """Newest saved model of ``scheme`` (by creation time, then version name) built with
    ``embedder``'s model, in one models folder or several (``Settings.model_dirs``)."""
    roots = [Path(models_dir)] if isinstance(models_dir, (str, Path)) else list(models_dir)
    manifests = [m for root in roots if (root / scheme).is_dir()
                 for m in (root / scheme).glob("*/manifest.json")]
    candidates = []
    for manifest_path in manifests:
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        emb = manifest.get("embedding", {})
        if embedder is not None and (emb.get("name"), emb.get("dimension")) != (
            embedder.name, embedder.dimension
        ):
            continue
        candidates.append((manifest.get("created", ""), manifest_path.parent.name,
                           manifest_path.parent))
    if not candidates:
        return None
    return max(candidates)[2]


def default_version(embedder: Any) -> str:
    from nlp.embed import BUNDLED_MODEL

    if embedder.name == BUNDLED_MODEL:
        return DEFAULT_VERSION
    return f"{DEFAULT_VERSION}-{re.sub(r'[^A-Za-z0-9]+', '-', embedder.name).strip('-')}"


def stale_model(path: Path, scheme: str, taxonomy: Any) -> bool:
    """True when a saved model's taxonomy fingerprint differs from the current files.

    SDG label texts come from the data directory, not the repository, so only the Action Line
    and GDC taxonomies are compared.
    """
    from nlp.taxonomy import SDGS

    if scheme == SDGS:
        return False
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return True
    return manifest.get("taxonomy_fingerprint") != taxonomy.fingerprint(scheme)


def current_models(model_dirs: Path | Sequence[Path], embedder: Any,
                   taxonomy: Any) -> dict[str, Path] | None:
    """Every scheme's newest saved model when each exists and matches the current taxonomy,
    else None (then :func:`nlp.training.trainers.ensure_models` decides what to build): the
    usual start needs no training code."""
    from nlp.taxonomy import SCHEMES

    paths = {}
    for scheme in SCHEMES:
        found = find_model(model_dirs, scheme, embedder)
        if found is None or stale_model(found, scheme, taxonomy):
            return None
        paths[scheme] = found
    return paths
