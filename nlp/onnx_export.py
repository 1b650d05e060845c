"""Exporting a sentence-transformers model to an ONNX export directory (needs torch,
transformers and onnx, imported inside the functions).

:func:`export_onnx` turns the transformer of a model directory into ``model.onnx`` and writes
an *export directory*: the ONNX graph, ``tokenizer.json``, the pooling config and a
``manifest.json`` that records where the weights came from (SHA-256), the pooling mode,
``max_seq_length``, opset and library versions. The directory appears atomically.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nlp.data import sha256_file
from nlp.fsutil import atomic_dir
from nlp.onnx_format import (
    DEFAULT_OPSET,
    FORMAT_VERSION,
    KIND,
    MANIFEST,
    MODEL_FILES,
    POOLING_FILE,
    TOKENIZER_FILE,
    default_name,
    source_layout,
)

log = logging.getLogger(__name__)


def _versions(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def _torch_export(model: Any, input_names: list[str], path: Path, opset: int, max_len: int) -> str:
    """Write ``model``'s last hidden state as ONNX; returns the exporter that succeeded."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, **extra
            ).last_hidden_state

    wrapper = LastHiddenState(model).eval()
    # batch 2 x length 16: sizes 0/1 would be specialised into constants by torch.export.
    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in input_names)
    try:
        batch = torch.export.Dim("batch")
        sequence = torch.export.Dim("sequence", max=max_len)
        torch.onnx.export(
            wrapper,
            example,
            str(path),
            dynamo=True,
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_shapes=tuple({0: batch, 1: sequence} for _ in input_names),
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
        return "dynamo"
    except Exception as exc:  # noqa: BLE001 - any exporter failure: try the classic one
        log.warning("dynamo ONNX export failed (%s); falling back to the TorchScript exporter", exc)
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(
            wrapper,
            example,
            str(path),
            dynamo=False,
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in [*input_names, "last_hidden_state"]},
            opset_version=opset,
        )
        return "torchscript"


def export_onnx(
    model_dir: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    int8: bool = False,
    opset: int = DEFAULT_OPSET,
    replace: bool = True,
) -> Path:
    """Export a sentence-transformers model directory to an ONNX export directory.

    Only the transformer goes into the graph (output: ``last_hidden_state``); pooling and
    normalisation run in numpy in :class:`OnnxEmbedder`. The export is checked against torch on
    a sample batch before it is published. ``out_dir`` is replaced atomically: the files are
    written to a temporary sibling directory, fsynced, then renamed into place.

    Args:
        model_dir: a sentence-transformers (or plain Hugging Face BERT-like) model directory.
        out_dir: where the export directory should appear.
        name: embedding model name recorded in the manifest; defaults to the name
            :class:`nlp.embed.SentenceTransformerEmbedder` gives the same directory.
        int8: also write ``model.int8.onnx`` (dynamic int8 quantisation, per-channel weights).
        opset: ONNX opset version.
        replace: replace an existing ``out_dir``; when False and another process published
            ``out_dir`` first, its export is kept and this one discarded.

    Returns:
        ``out_dir``.

    Raises:
        FileNotFoundError: ``model_dir`` lacks weights or a ``tokenizer.json``.
        ValueError: the pooling mode is not supported.
        RuntimeError: the exported graph disagrees with torch.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_dir, out_dir = Path(model_dir).expanduser(), Path(out_dir).expanduser()
    layout = source_layout(model_dir)
    try:
        import onnx  # noqa: F401 - the exporters need it; fail early with a hint
        import torch  # noqa: F401
        from transformers import AutoModel
    except ImportError as exc:
        raise RuntimeError(
            "Exporting to ONNX needs torch, transformers and onnx: pip install 'wsis-lens[onnx]'"
        ) from exc

    model = AutoModel.from_pretrained(
        str(layout["transformer_dir"]), attn_implementation="eager", local_files_only=True
    ).float().eval()  # weights may be shipped as fp16 (models/encoders/): export in fp32
    # Eager attention, not SDPA: the SDPA graph exported by dynamo ran 2.5x slower in ONNX
    # Runtime on this project's CPUs, the eager one as fast as torch or faster.
    accepted = inspect.signature(model.forward).parameters
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]

    with _publishing(out_dir, replace) as tmp:
        exporter = _torch_export(
            model, input_names, tmp / MODEL_FILES["fp32"], opset, layout["max_position_embeddings"]
        )
        shutil.copyfile(layout["tokenizer"], tmp / TOKENIZER_FILE)
        (tmp / POOLING_FILE).write_text(json.dumps(layout["pooling_config"], indent=2) + "\n")
        max_abs_diff = _check_against_torch(model, input_names, tmp / MODEL_FILES["fp32"])
        files = {"fp32": {"path": MODEL_FILES["fp32"]}}
        quantization = None
        if int8:
            quantization = quantize_int8(tmp / MODEL_FILES["fp32"], tmp / MODEL_FILES["int8"])
            files["int8"] = {"path": MODEL_FILES["int8"]}
        for entry in files.values():
            entry["sha256"] = sha256_file(tmp / entry["path"])
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "model_name": name or default_name(model_dir),
            "dimension": layout["dimension"],
            "max_seq_length": layout["max_seq_length"],
            "pooling": layout["pooling"],
            "normalize": True,  # the Embedder contract: rows are always L2-normalised
            "source_has_normalize_module": layout["source_normalize"],
            "pad_token_id": layout["pad_token_id"],
            "inputs": input_names,
            "output": "last_hidden_state",
            "source": {
                "path": str(model_dir.resolve()),
                "weights": layout["weights"].name,
                "sha256": sha256_file(layout["weights"]),
            },
            "files": files,
            "opset": opset,
            "exporter": exporter,
            "attention": "eager",
            "quantization": quantization,
            "verification": {"max_abs_diff_last_hidden_state": max_abs_diff},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "library_versions": _versions(
                "torch",
                "transformers",
                "onnx",
                "onnxscript",
                "onnxruntime",
                "tokenizers",
                "sentence-transformers",
                "numpy",
            ),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


@contextmanager
def _publishing(out_dir: Path, replace: bool) -> Iterator[Path]:
    """:func:`nlp.fsutil.atomic_dir` for an export. Without ``replace``, the first exporter
    wins: when another process published a complete ``out_dir`` meanwhile, it is kept and
    this export discarded (two workers starting together both export)."""
    written = False
    try:
        with atomic_dir(out_dir, replace=replace) as tmp:
            yield tmp
            written = True
    except FileExistsError:
        if not written or not (out_dir / MANIFEST).is_file():
            raise
        log.info("%s was exported by another process meanwhile; keeping that export", out_dir)


def _check_against_torch(model: Any, input_names: list[str], onnx_path: Path) -> float:
    """Run one padded batch through torch and ONNX Runtime; raise if they disagree."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 2000, size=(3, 37), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 20:] = 0
    mask[2, 5:] = 0
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    feed = {k: v for k, v in feed.items() if k in input_names}
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, feed)[0]
    valid = mask.astype(bool)
    diff = float(np.abs(got[valid] - expected.numpy()[valid]).max())
    if diff > 1e-3:
        raise RuntimeError(f"ONNX export disagrees with torch: max |diff| {diff:.2e} > 1e-3")
    return diff


def quantize_int8(src: Path, dst: Path) -> dict[str, Any]:
    """Dynamic int8 quantisation of the MatMul weights (activations quantised at run time).

    Per-channel signed weights: per-tensor int8 cost ~0.03-0.05 cosine on MiniLM, per-channel
    ~0.01. Returns the settings, for the manifest.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = {"method": "quantize_dynamic", "weight_type": "QInt8", "per_channel": True}
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    return settings
