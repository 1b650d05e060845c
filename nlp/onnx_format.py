"""The ONNX export directory and its source model: the file names and manifest an export
directory holds (:func:`read_manifest`), how a sentence-transformers directory lays out its
transformer, pooling and limits, which directory a model spec names (:func:`model_source`) and
whether an export was made from the weights there (:func:`check_source`).

Shared by the export (:mod:`nlp.onnx_export`, torch) and the runtime
(:mod:`nlp.onnx_embed`, no torch); it imports neither torch nor ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from nlp.config import BUNDLED_MODEL, bundled_model_path
from nlp.errors import ManifestMismatchError

FORMAT_VERSION = 1
KIND = "onnx-sentence-embedder"
MANIFEST = "manifest.json"
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
POOLING_FILE = "pooling_config.json"
DEFAULT_OPSET = 18
POOLING_MODES = ("mean", "cls", "max")
Precision = Literal["fp32", "int8"]


def source_layout(model_dir: Path) -> dict[str, Any]:
    """Read where a sentence-transformers directory keeps its transformer, pooling and limits.

    A plain Hugging Face model directory (no ``modules.json``) is read as transformer + mean
    pooling + normalise, which is what sentence-transformers itself assumes for such a model.
    """
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model directory {str(model_dir)!r} does not exist")
    transformer_dir, pooling_dir, normalize = model_dir, None, True
    modules_file = model_dir / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
        types = {m["type"].rsplit(".", 1)[-1]: m.get("path", "") for m in modules}
        if "Transformer" not in types:
            raise ValueError(f"{str(modules_file)!r} has no Transformer module: {sorted(types)!r}")
        transformer_dir = model_dir / types["Transformer"]
        pooling_dir = model_dir / types["Pooling"] if "Pooling" in types else None
        normalize = "Normalize" in types

    pooling_config: dict[str, Any] = {"pooling_mode_mean_tokens": True}
    if pooling_dir is not None and (pooling_dir / "config.json").is_file():
        pooling_config = json.loads((pooling_dir / "config.json").read_text())
    active = [k for k, v in pooling_config.items() if k.startswith("pooling_mode_") and v is True]
    mode_names = {
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_cls_token": "cls",
        "pooling_mode_max_tokens": "max",
    }
    if len(active) != 1 or active[0] not in mode_names:
        raise ValueError(
            f"Pooling {active!r} is not supported; export handles exactly one of {POOLING_MODES!r}"
        )

    hf_config = json.loads((transformer_dir / "config.json").read_text())
    max_seq_length = None
    st_config = transformer_dir / "sentence_bert_config.json"
    if st_config.is_file():
        max_seq_length = json.loads(st_config.read_text()).get("max_seq_length")
    if max_seq_length is None:
        max_seq_length = hf_config.get("max_position_embeddings", 512)

    weights = next(
        (
            transformer_dir / f
            for f in ("model.safetensors", "pytorch_model.bin")
            if (transformer_dir / f).is_file()
        ),
        None,
    )
    if weights is None:
        raise FileNotFoundError(
            f"No model.safetensors or pytorch_model.bin in {str(transformer_dir)!r}"
        )
    tokenizer = transformer_dir / TOKENIZER_FILE
    if not tokenizer.is_file():
        tokenizer = model_dir / TOKENIZER_FILE
    if not tokenizer.is_file():
        raise FileNotFoundError(
            f"No fast-tokenizer file {TOKENIZER_FILE!r} in {str(model_dir)!r}; "
            "the ONNX embedder tokenizes with the `tokenizers` library only"
        )
    return {
        "transformer_dir": transformer_dir,
        "weights": weights,
        "tokenizer": tokenizer,
        "pooling_config": pooling_config,
        "pooling": mode_names[active[0]],
        "source_normalize": normalize,
        "max_seq_length": int(max_seq_length),
        "max_position_embeddings": int(hf_config.get("max_position_embeddings", 512)),
        "dimension": int(hf_config["hidden_size"]),
        "pad_token_id": int(hf_config.get("pad_token_id") or 0),
    }


def default_name(model_dir: Path) -> str:
    """The name :class:`SentenceTransformerEmbedder` would give the same directory."""
    try:
        if model_dir.resolve() == bundled_model_path().resolve():
            return BUNDLED_MODEL
    except RuntimeError:  # bundled package missing: cannot be that directory then
        pass
    return model_dir.name


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """Load and check an export directory's manifest.

    Raises:
        FileNotFoundError: no ``manifest.json``.
        ManifestMismatchError: wrong kind or format version.
    """
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{str(export_dir)!r} is not an ONNX export (no {MANIFEST})")
    manifest = json.loads(path.read_text())
    if manifest.get("kind") != KIND:
        raise ManifestMismatchError(
            f"{str(path)!r} describes a {manifest.get('kind')!r}, expected {KIND!r}"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ManifestMismatchError(
            f"{str(path)!r} has format_version {manifest.get('format_version')!r}, "
            f"this library reads {FORMAT_VERSION!r}"
        )
    return manifest


def is_export_dir(path: Path) -> bool:
    """True when ``path`` holds an ONNX export manifest of this library's kind."""
    try:
        read_manifest(path)
    except (FileNotFoundError, ManifestMismatchError, json.JSONDecodeError):
        return False
    return True


def model_source(spec: str) -> tuple[Path, str]:
    """The model directory a spec names and the name its export takes: the bundled weights
    for ``"all-MiniLM-L6-v2"``, else the directory ``spec`` itself (named after it).

    Raises:
        FileNotFoundError: ``spec`` is neither the bundled model nor a directory.
    """
    if spec == BUNDLED_MODEL:
        return bundled_model_path(), BUNDLED_MODEL
    source = Path(spec).expanduser()
    if not source.is_dir():
        raise FileNotFoundError(
            f"Embedding model {spec!r} is neither the bundled model nor a local directory"
        )
    return source, source.name


def check_source(export_dir: Path, source_dir: Path) -> None:
    """Refuse an export whose source weights differ from those in ``source_dir``.

    Raises:
        ManifestMismatchError: the SHA-256 of the source weights file differs; the message
            names both sides and how to fix it.
    """
    manifest = read_manifest(export_dir)
    layout = source_layout(Path(source_dir))
    export_dir = Path(export_dir)
    actual = _checked_sha256(layout["weights"],
                             export_dir.parent / f".{export_dir.name}.source-checked.json")
    expected = manifest["source"]["sha256"]
    if actual != expected:
        raise ManifestMismatchError(
            f"ONNX export {str(export_dir)!r} was made from weights sha256 {expected[:12]}... "
            f"({manifest['source']['path']!r}) but {str(layout['weights'])!r} has "
            f"sha256 {actual[:12]}...; delete the export directory to re-export"
        )


def _checked_sha256(path: Path, stamp: Path) -> str:
    """SHA-256 of ``path``, remembered in ``stamp`` with the file's size and mtime: hashing the
    90 MB of MiniLM weights on every start took 0.3 s of a server restart. A changed file
    (another size or mtime) is hashed again."""
    info = path.stat()
    key = {"path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    try:
        saved = json.loads(stamp.read_text())
        if {k: saved.get(k) for k in key} == key and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    from nlp.data import sha256_file  # the data package: ~40 ms to import, only to hash

    digest = sha256_file(path)
    try:
        stamp.write_text(json.dumps({**key, "sha256": digest}))
    except OSError:  # a read-only export root: hash every time
        pass
    return digest
