"""Sentence embeddings with ONNX Runtime: the same vectors as sentence-transformers, no torch.

Two halves with different dependencies:

* :func:`export_onnx` (needs torch + transformers + onnx, imported inside the function) turns
  the transformer of a sentence-transformers model directory into ``model.onnx`` and writes an
  *export directory*: the ONNX graph, ``tokenizer.json``, the pooling config and a
  ``manifest.json`` that records where the weights came from (SHA-256), the pooling mode,
  ``max_seq_length``, opset and library versions. The directory appears atomically.
* :class:`OnnxEmbedder` loads an export directory with ``onnxruntime`` and ``tokenizers`` only,
  tokenizes, runs the graph and does the pooling and L2 normalisation in numpy. Importing this
  module or encoding never imports torch, transformers or sentence-transformers.

``OnnxEmbedder.name`` equals :class:`nlp.embed.SentenceTransformerEmbedder`'s name for the same
model, so an index built by either backend can be searched with the other.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nlp.data import sha256_file
from nlp.embed import BUNDLED_MODEL, _normalise, bundled_model_path
from nlp.errors import ManifestMismatchError
from nlp.fsutil import atomic_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KIND = "onnx-sentence-embedder"
MANIFEST = "manifest.json"
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
POOLING_FILE = "pooling_config.json"
DEFAULT_OPSET = 18
POOLING_MODES = ("mean", "cls", "max")
Precision = Literal["fp32", "int8"]


# --------------------------------------------------------------------------- source models


def _source_layout(model_dir: Path) -> dict[str, Any]:
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


def _default_name(model_dir: Path) -> str:
    """The name :class:`SentenceTransformerEmbedder` would give the same directory."""
    try:
        if model_dir.resolve() == bundled_model_path().resolve():
            return BUNDLED_MODEL
    except RuntimeError:  # bundled package missing: cannot be that directory then
        pass
    return model_dir.name


def _versions(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


# --------------------------------------------------------------------------- export (torch)


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
    layout = _source_layout(model_dir)
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
            "model_name": name or _default_name(model_dir),
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


# --------------------------------------------------------------------------- runtime (no torch)


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


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set (torch obeys it too), else usable CPUs capped at 4.

    On a shared 2-core machine one thread per encode was 5x faster than two at the median
    (bench/results/encoder-1thread.md vs encoder.md): set ``OMP_NUM_THREADS=1`` for a server.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 4))


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


class OnnxEmbedder:
    """An exported sentence-transformers model run by ONNX Runtime (no torch).

    Args:
        path: an export directory written by :func:`export_onnx`.
        precision: ``"fp32"`` (default) or ``"int8"`` (only if exported with ``int8=True``).
            int8 is for measuring, not serving: in ``bench/results/encoder.md`` it moved the
            top-10 retrieval away from torch's (overlap well below fp32's 1.0) for a modest
            speed-up, so :meth:`from_spec`, the path the service takes, always loads fp32.
        threads: ONNX Runtime intra-op threads; default: usable CPUs, at most 4.

    Raises:
        FileNotFoundError: ``path`` is not an export directory.
        ManifestMismatchError: the manifest is of another kind or format version.
        ValueError: ``precision`` was not exported.
    """

    def __init__(self, path: Path | str, precision: Precision = "fp32", threads: int | None = None):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # optional extra
            raise RuntimeError(
                "The ONNX backend needs onnxruntime and tokenizers: pip install 'wsis-lens[onnx]'"
            ) from exc

        self.path = Path(path).expanduser()
        self.manifest = read_manifest(self.path)
        files = self.manifest["files"]
        if precision not in files:
            raise ValueError(
                f"Precision {precision!r} is not in the export {str(self.path)!r} "
                f"(has {sorted(files)!r}); re-export with int8=True for 'int8'"
            )
        self.precision = precision
        self.name: str = self.manifest["model_name"]
        self.dimension: int = int(self.manifest["dimension"])
        self.max_seq_length: int = int(self.manifest["max_seq_length"])
        self.pooling: str = self.manifest["pooling"]
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"Pooling {self.pooling!r} is not supported {POOLING_MODES!r}")
        self._pad_id = int(self.manifest.get("pad_token_id", 0))

        self.tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        # tokenizer.json files often carry a fixed pad/truncate length (128 for MiniLM) that
        # sentence-transformers overrides; we pad per batch ourselves and cut at max_seq_length.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

        options = ort.SessionOptions()
        self.threads = threads or default_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.path / files[precision]["path"]), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._output = self.manifest.get("output", "last_hidden_state")

    @classmethod
    def from_spec(cls, spec: str = BUNDLED_MODEL,
                  export_root: Path | None = None) -> OnnxEmbedder:
        """Resolve a model spec the way :func:`nlp.embed.load_embedder` names models.

        * ``"all-MiniLM-L6-v2"``: the export under ``<export_root>/all-MiniLM-L6-v2``,
          exported from the bundled weights on first use (the only moment torch is imported).
        * a directory holding an ONNX export manifest: loaded as is.
        * a sentence-transformers directory: exported to ``<export_root>/<dir name>`` once.

        Args:
            export_root: where exports live (:attr:`nlp.config.Settings.onnx_dir`); only an
                export directory given as ``spec`` can do without it.

        Raises:
            FileNotFoundError: ``spec`` is neither the bundled model nor a directory.
            ValueError: ``spec`` needs an export and no ``export_root`` was given.
            ManifestMismatchError: an existing export was made from different weights.
        """
        source, name = model_source(spec)
        if (source / MANIFEST).is_file():
            return cls(source)
        if export_root is None:
            raise ValueError(f"Embedding model {spec!r} is not an ONNX export; give an "
                             "export_root (Settings.onnx_dir) to export it into")
        target = Path(export_root) / name
        if (target / MANIFEST).is_file():
            check_source(target, source)
        else:
            log.info("Exporting %s to ONNX at %s (one-off, needs torch)", name, target)
            # replace=False: two workers starting together both export; the first one wins.
            export_onnx(source, target, name=name, replace=False)
        return cls(target)

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts``; returns ``(len(texts), dimension)`` float32 L2-normalised rows.

        Texts are tokenized together, sorted by token count and batched so each batch pads
        only to its own longest member; results come back in input order.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single str")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) == 0:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early
        starts = range(0, len(order), max(1, batch_size))
        if show_progress:
            try:
                from tqdm import tqdm

                starts = tqdm(starts, desc="onnx encode", unit="batch")
            except ImportError:
                pass
        for start in starts:
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([encodings[i] for i in rows])
        return _normalise(out)

    def _encode_batch(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self.session.run([self._output], {k: feed[k] for k in self._inputs})[0]
        return pool(hidden, mask, self.pooling)

    def __repr__(self) -> str:
        return (
            f"OnnxEmbedder(name={self.name!r}, precision={self.precision!r}, "
            f"threads={self.threads}, path={str(self.path)!r})"
        )


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Token vectors ``(batch, seq, dim)`` -> sentence vectors ``(batch, dim)``, mask-aware."""
    if mode == "cls":
        return hidden[:, 0, :].astype(np.float32)
    weights = mask[..., None].astype(np.float32)
    if mode == "mean":
        summed = (hidden * weights).sum(axis=1)
        return summed / np.clip(weights.sum(axis=1), 1e-9, None)
    if mode == "max":
        return np.where(weights > 0, hidden, -1e9).max(axis=1).astype(np.float32)
    raise ValueError(f"Pooling {mode!r} is not supported {POOLING_MODES!r}")


def check_source(export_dir: Path, source_dir: Path) -> None:
    """Refuse an export whose source weights differ from those in ``source_dir``.

    Raises:
        ManifestMismatchError: the SHA-256 of the source weights file differs; the message
            names both sides and how to fix it.
    """
    manifest = read_manifest(export_dir)
    layout = _source_layout(Path(source_dir))
    actual = sha256_file(layout["weights"])
    expected = manifest["source"]["sha256"]
    if actual != expected:
        raise ManifestMismatchError(
            f"ONNX export {str(export_dir)!r} was made from weights sha256 {expected[:12]}... "
            f"({manifest['source']['path']!r}) but {str(layout['weights'])!r} has "
            f"sha256 {actual[:12]}...; delete the export directory to re-export"
        )
