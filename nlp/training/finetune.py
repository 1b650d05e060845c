"""Supervised-contrastive fine-tuning of the sentence-transformers body on labelled texts.

The taggers embed text with a frozen MiniLM and fit small heads on top; on text from outside
their training sources the frozen geometry is the bottleneck. :func:`finetune_encoder` moves
texts that share a label closer together with the SupCon loss of Khosla et al. (2020), so that
one fine-tuned body can serve several label schemes at once.

Labels are namespaced by scheme (``"al:C4"``, ``"sdg:4"``): two texts are positives when their
label sets intersect, negatives when they share a scheme but no label, and ignored when they
belong to different schemes (an e-health project is not a *negative* for SDG 3 sentences; the
two schemes simply do not speak about each other). Batches are built class-balanced: every
epoch draws at most ``per_label_cap`` texts per label and packs them in small same-label
groups, so each anchor has positives in its batch and large sources do not swamp small ones.

The result is a sentence-transformers directory (fp16 safetensors, tokenizer, configs) with a
``manifest.json`` and a ``README.md`` model card, written through :func:`nlp.fsutil.atomic_dir`.
The batching, label bookkeeping and the loss are in :mod:`nlp.training.supcon`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nlp.fsutil import atomic_dir
from nlp.training.supcon import (
    epoch_batches,
    merge_duplicates,
    scheme_of,
    supcon_loss,
    texts_per_scheme,
    training_data_sha256,
)

FORMAT_VERSION = 1
KIND = "encoder"
LOSS = "supcon"  # Khosla et al. 2020, L_out (mean over positives outside the log)


@dataclass(frozen=True)
class FinetuneProgress:
    """One optimisation step, passed to the ``progress`` callback."""

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based, within the epoch
    steps: int  # steps in this epoch
    loss: float  # loss of this step


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune_encoder` wrote and how training went."""

    out_dir: Path
    manifest: dict[str, Any]
    epoch_losses: tuple[float, ...]  # mean training loss per epoch
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Training


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _masks(label_sets: Sequence[frozenset[str]], batch: Sequence[int]) -> tuple[Any, Any]:
    import torch

    sets = [label_sets[i] for i in batch]
    schemes = [{scheme_of(lab) for lab in s} for s in sets]
    n = len(batch)
    positive = torch.zeros((n, n), dtype=torch.bool)
    comparable = torch.zeros((n, n), dtype=torch.bool)
    for a in range(n):
        for b in range(n):
            positive[a, b] = bool(sets[a] & sets[b])
            comparable[a, b] = bool(schemes[a] & schemes[b])
    return positive, comparable


def _embed_batch(model: Any, texts: Sequence[str]) -> Any:
    import torch.nn.functional as F

    prepare = getattr(model, "preprocess", None) or model.tokenize  # tokenize: ST < 6
    features = prepare(list(texts))
    # sentence-transformers 6 adds non-tensor entries (e.g. "modality"): move tensors only.
    features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
    out = model(features)["sentence_embedding"]
    return F.normalize(out, p=2, dim=1)


def _library_versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": sentence_transformers.__version__,
        "numpy": np.__version__,
    }


def model_card(manifest: Mapping[str, Any], notes: str = "") -> str:
    """A short README.md for the saved encoder, built from its manifest."""
    recipe = manifest["recipe"]
    lines = [
        f"# {manifest['name']} — fine-tuned sentence encoder",
        "",
        f"A `{manifest['base_model']}` body fine-tuned with the supervised-contrastive loss "
        + "(Khosla et al. 2020) so that texts sharing a label sit closer together. It is a plain "
        "sentence-transformers directory: `SentenceTransformer(path)` loads it (weights are "
        "fp16; call `.float()` for CPU inference in float32).",
        "",
        "## Training data",
        "",
        f"- texts: {manifest['n_texts']} distinct, per scheme: "
        + ", ".join(f"{k} {v}" for k, v in manifest["texts_per_scheme"].items()),
        f"- labels: {manifest['n_labels']} (namespaced `scheme:label`)",
        f"- sha256 of the sorted (text, labels) pairs: `{manifest['training_data_sha256']}`",
    ]
    mix = manifest.get("interpolation")
    if mix:
        lines[3:3] = [(f"Its weights are {1 - mix['alpha']:.2f} x `{mix['base_model']}` + "
                      f"{mix['alpha']:.2f} x `{mix['tuned_model']}` (weight-space average, "
                      "WiSE-FT); the training below is the tuned body's."), ""]
    for rel, sha in (manifest.get("data_files") or {}).items():
        lines.append(f"- `{rel}` sha256 `{sha}`")
    lines += [
        "",
        "## Recipe",
        "",
        *(f"- {k}: {v}" for k, v in recipe.items()),
        f"- wall time: {manifest['wall_seconds']:.0f} s; machine: {manifest['machine']}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in manifest['libraries'].items())}",
    ]
    if notes.strip():
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs visible"


def check_recipe(*, epochs: int, batch_size: int, max_seq_length: int, per_label_cap: int,
                 temperature: float, group_size: int = 4) -> None:
    """Raise ``ValueError`` naming the first recipe setting :func:`finetune_encoder` cannot
    train with (callers check before loading data or a model)."""
    for arg, value in (("epochs", epochs), ("batch_size", batch_size),
                       ("max_seq_length", max_seq_length), ("per_label_cap", per_label_cap),
                       ("group_size", group_size)):
        if int(value) < 1:
            raise ValueError(f"{arg} must be at least 1, got {value!r}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for a contrastive loss, got {batch_size!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def finetune_encoder(
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    base_model: Path | str,
    out_dir: Path,
    *,
    epochs: int = 4,
    batch_size: int = 32,
    max_seq_length: int = 128,
    lr: float = 3e-5,
    temperature: float = 0.07,
    per_label_cap: int = 64,
    seed: int = 0,
    progress: Callable[[FinetuneProgress], None] | None = None,
    group_size: int = 4,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    threads: int | None = 2,
    data_files: Mapping[str, str] | None = None,
    name: str | None = None,
    card_notes: str = "",
    extra_manifest: Mapping[str, Any] | None = None,
    anchor_texts: Sequence[str] = (),
    anchor_weight: float = 0.0,
    anchor_batch: int = 16,
) -> FinetuneResult:
    """Fine-tune a sentence-transformers body with SupCon on CPU and save it.

    Args:
        texts: training texts; repeated texts are merged with the union of their labels.
        label_sets: for each text its namespaced labels (``["al:C4"]``, ``["sdg:3", "sdg:4"]``).
        base_model: a local sentence-transformers directory (e.g. ``bundled_model_path()``).
        out_dir: where the fine-tuned model is written (replaced atomically if it exists).
        epochs: passes over the class-balanced draw.
        batch_size: texts per step.
        max_seq_length: tokens kept per text while training (the saved model keeps the base
            model's own limit for inference).
        lr: AdamW peak learning rate (linear warm-up then linear decay).
        temperature: SupCon temperature.
        per_label_cap: at most this many texts per label per epoch.
        seed: seeds ``random``, ``numpy`` and ``torch``; the same seed, data and threads give
            the same weights.
        progress: called after every step with a :class:`FinetuneProgress`.
        group_size: same-label texts packed together in a batch (positives per anchor + 1).
        warmup_ratio: share of all steps spent warming the learning rate up.
        weight_decay: AdamW weight decay.
        threads: ``torch.set_num_threads`` (None leaves it as is).
        data_files: ``{relative path: sha256}`` of the files the texts came from (manifest).
        name: model name for the manifest and card (default: ``out_dir.name``).
        card_notes: extra Markdown for the model card (e.g. measured figures).
        extra_manifest: extra JSON-able keys for the manifest (e.g. ``metrics``).
        anchor_texts: unlabelled texts whose embeddings should stay where the base model puts
            them (e.g. policy prose, when the labelled texts are project blurbs): each step
            adds ``anchor_weight`` times the mean cosine distance between ``anchor_batch`` of
            them under the body being trained and under the frozen base. This keeps the
            fine-tuning from re-arranging text of a genre it has no labels for.
        anchor_weight: weight of the anchoring term (0: off).
        anchor_batch: anchor texts drawn per step (cycling through a seeded shuffle).

    Returns:
        A :class:`FinetuneResult` with the output directory, manifest and per-epoch losses.

    Raises:
        ValueError: bad arguments or labels that are not namespaced.
        FileNotFoundError: ``base_model`` is not a local directory.
    """
    check_recipe(epochs=epochs, batch_size=batch_size, max_seq_length=max_seq_length,
                 per_label_cap=per_label_cap, group_size=group_size, temperature=temperature)
    if not anchor_weight >= 0 or (anchor_weight > 0 and (not anchor_texts or anchor_batch < 1)):
        raise ValueError(f"anchor_weight must be >= 0 and needs anchor texts and anchor_batch "
                         f">= 1; got weight {anchor_weight!r}, {len(anchor_texts)} texts, "
                         f"batch {anchor_batch!r}")
    base_path = Path(base_model).expanduser()
    if not base_path.is_dir():
        raise FileNotFoundError(f"Base model {str(base_model)!r} is not a local directory")
    unique_texts, unique_labels = merge_duplicates(texts, label_sets)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(int(threads))
    started = time.perf_counter()
    seed_everything(seed)
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    model.float()
    inference_max_len = int(model.max_seq_length or max_seq_length)
    model.max_seq_length = int(max_seq_length)

    rng = random.Random(seed)
    plan = [epoch_batches(unique_labels, batch_size=batch_size, per_label_cap=per_label_cap,
                          group_size=group_size, rng=rng) for _ in range(epochs)]
    total_steps = sum(len(p) for p in plan)
    warmup = max(1, round(warmup_ratio * total_steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    decay, no_decay = [], []
    for pname, param in model.named_parameters():
        (no_decay if ("bias" in pname or "LayerNorm" in pname) else decay).append(param)
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay},
         {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)

    anchors = sorted(set(anchor_texts)) if anchor_weight > 0 else []
    anchor_order: list[int] = []
    anchor_targets = None
    if anchors:  # the frozen base's embeddings, computed once
        model.eval()
        with torch.no_grad():
            anchor_targets = torch.cat([_embed_batch(model, anchors[i:i + 64])
                                        for i in range(0, len(anchors), 64)])

    def anchor_loss() -> Any:
        if not anchor_order:
            anchor_order.extend(rng.sample(range(len(anchors)), len(anchors)))
        pick = [anchor_order.pop() for _ in range(min(anchor_batch, len(anchor_order)))]
        model.eval()  # no dropout: compare the embeddings inference will see (grads still flow)
        current = _embed_batch(model, [anchors[i] for i in pick])
        model.train()
        return (1.0 - (current * anchor_targets[pick]).sum(dim=1)).mean()

    model.train()
    epoch_losses: list[float] = []
    for epoch, batches in enumerate(plan, start=1):
        losses = []
        for step, batch in enumerate(batches, start=1):
            positive, comparable = _masks(unique_labels, batch)
            embeddings = _embed_batch(model, [unique_texts[i] for i in batch])
            loss = supcon_loss(embeddings, positive, comparable, temperature)
            if anchors:
                loss = loss + anchor_weight * anchor_loss()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"Loss became {value!r} at epoch {epoch} step {step}")
            losses.append(value)
            if progress is not None:
                progress(FinetuneProgress(epoch, epochs, step, len(batches), value))
        epoch_losses.append(float(np.mean(losses)) if losses else 0.0)
    model.eval()
    wall = time.perf_counter() - started

    out_dir = Path(out_dir)
    recipe = {
        "loss": LOSS, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "temperature": temperature, "max_seq_length": max_seq_length,
        "per_label_cap": per_label_cap, "group_size": group_size,
        "warmup_ratio": warmup_ratio, "weight_decay": weight_decay, "seed": seed,
        "optimiser": "AdamW, linear warm-up and decay, grad-norm clip 1.0",
        "pooling": "mean, L2-normalised",
        "threads": threads,
    }
    if anchors:
        recipe.update({"anchor_weight": anchor_weight, "anchor_batch": anchor_batch,
                       "anchor_texts": len(anchors),
                       "anchor_sha256": training_data_sha256(anchors, [[] for _ in anchors])})
    label_names = sorted({lab for s in unique_labels for lab in s})
    manifest: dict[str, Any] = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "name": name or out_dir.name,
        "base_model": _base_name(base_path),
        "dimension": int(_dimension(model)),
        "dtype": "float16",
        "max_seq_length_inference": inference_max_len,
        "recipe": recipe,
        **{k: recipe[k] for k in ("loss", "epochs", "batch_size", "lr", "temperature",
                                  "max_seq_length", "per_label_cap", "seed")},
        "training_data_sha256": training_data_sha256(unique_texts,
                                                     [sorted(s) for s in unique_labels]),
        "data_files": dict(data_files or {}),
        "n_texts": len(unique_texts),
        "texts_per_scheme": texts_per_scheme(unique_labels),
        "n_labels": len(label_names),
        "labels": label_names,
        "epoch_losses": [round(x, 5) for x in epoch_losses],
        "steps": total_steps,
        "wall_seconds": round(wall, 1),
        "machine": _machine(),
        "libraries": _library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(extra_manifest or {}),
    }
    _save(model, out_dir, manifest, inference_max_len, card_notes)
    return FinetuneResult(out_dir, manifest, tuple(epoch_losses), wall)


def _dimension(model: Any) -> int:
    get_dim = (getattr(model, "get_embedding_dimension", None)
               or model.get_sentence_embedding_dimension)
    return int(get_dim())


def _base_name(path: Path) -> str:
    """``all-MiniLM-L6-v2`` for the bundled weights, else the directory name."""
    from nlp.embed import BUNDLED_MODEL, bundled_model_path

    try:
        bundled = bundled_model_path().resolve()
    except RuntimeError:  # the bundled package is absent: the base is some other directory
        return path.name
    return BUNDLED_MODEL if path.resolve() == bundled else path.name


def _save(model: Any, out_dir: Path, manifest: Mapping[str, Any], max_len: int,
          notes: str) -> None:
    """Write the model (fp16), its manifest and model card through :func:`atomic_dir`."""
    model.max_seq_length = max_len
    model.half()
    try:
        with atomic_dir(out_dir) as tmp:
            model.save(str(tmp), safe_serialization=True)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                               + "\n", encoding="utf-8")
            (tmp / "README.md").write_text(model_card(manifest, notes), encoding="utf-8")
    finally:
        model.float()


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The manifest of a saved encoder.

    Raises:
        FileNotFoundError: no ``manifest.json`` in ``model_dir``.
        ValueError: the manifest is not an encoder of a known format version.
    """
    path = Path(model_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"No manifest.json in {str(model_dir)!r}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("kind") != KIND or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} is kind {manifest.get('kind')!r} format "
            f"{manifest.get('format_version')!r}; expected {KIND!r} format {FORMAT_VERSION}"
        )
    return manifest


def interpolate_encoder(base_model: Path | str, tuned_model: Path, alpha: float,
                        out_dir: Path, *, name: str | None = None) -> dict[str, Any]:
    """Save the weight-space average ``(1 - alpha) * base + alpha * tuned`` of two bodies.

    Averaging a fine-tuned body with the one it started from (Wortsman et al. 2022, "WiSE-FT")
    keeps part of the fine-tuning gain on the training genre while giving back less of the
    base model's behaviour on other text. ``alpha`` 1 is the fine-tuned body, 0 the base.

    Args:
        base_model: the local sentence-transformers directory the tuned body started from.
        tuned_model: a directory written by :func:`finetune_encoder`.
        alpha: weight of the tuned body, in [0, 1].
        out_dir: where the mixed body is written (replaced atomically if it exists).
        name: model name for the manifest (default: ``out_dir.name``).

    Returns:
        The manifest written: the tuned body's, with ``interpolation`` recording alpha and the
        base model.

    Raises:
        ValueError: alpha outside [0, 1], or the two bodies do not have the same tensors.
        FileNotFoundError: a directory or its ``model.safetensors`` is missing.
    """
    from safetensors.numpy import load_file, save_file

    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    base_path, tuned_path = Path(base_model).expanduser(), Path(tuned_model)
    manifest = read_manifest(tuned_path)
    weights = {}
    for role, path in (("base", base_path), ("tuned", tuned_path)):
        file = path / "model.safetensors"
        if not file.is_file():
            raise FileNotFoundError(f"No model.safetensors in {role} model {str(path)!r}")
        weights[role] = load_file(str(file))
    base, tuned = weights["base"], weights["tuned"]
    missing = sorted(set(tuned) - set(base))
    mismatched = sorted(k for k in set(tuned) & set(base) if base[k].shape != tuned[k].shape)
    if missing or mismatched:
        raise ValueError(f"{str(tuned_path)!r} does not match {str(base_path)!r}: tensors "
                         f"missing from the base {missing[:3]}, shapes differ {mismatched[:3]}")
    a = float(alpha)
    mixed = {}
    for key, value in tuned.items():
        if value.dtype.kind == "f":
            blend = (1.0 - a) * base[key].astype(np.float32) + a * value.astype(np.float32)
            mixed[key] = blend.astype(value.dtype)
        else:  # integer buffers (position ids) are the same in both
            mixed[key] = value
    out_dir = Path(out_dir)
    manifest = {**manifest, "name": name or out_dir.name,
                "interpolation": {"alpha": a, "base_model": _base_name(base_path),
                                  "tuned_model": manifest.get("name", tuned_path.name)},
                "created": datetime.now(UTC).isoformat(timespec="seconds")}
    with atomic_dir(out_dir) as tmp:
        shutil.copytree(tuned_path, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            "model.safetensors", "manifest.json", "README.md"))
        save_file(mixed, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                           + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(model_card(manifest), encoding="utf-8")
    return manifest
