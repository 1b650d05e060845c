"""The supervised-contrastive pieces of encoder fine-tuning that need no training run:
namespaced labels (``"al:C4"``, ``"sdg:4"``), the class-balanced batches of an epoch, the hash
of the training data, and the SupCon loss (Khosla et al. 2020) with a comparability mask.

Everything but :func:`supcon_loss` is plain Python; the loss imports torch when called.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def scheme_of(label: str) -> str:
    """``"al:C4"`` -> ``"al"``.

    Raises:
        ValueError: the label has no ``scheme:`` prefix.
    """
    scheme, sep, rest = label.partition(":")
    if not sep or not scheme or not rest:
        raise ValueError(f"Label {label!r} is not namespaced as 'scheme:label' (e.g. 'al:C4')")
    return scheme


def merge_duplicates(
    texts: Sequence[str], label_sets: Sequence[Sequence[str]]
) -> tuple[list[str], list[frozenset[str]]]:
    """Collapse repeated texts into one, with the union of their labels (order of first use).

    Raises:
        ValueError: lengths differ, a text is empty, a text has no label or a label is not
            namespaced.
    """
    if len(texts) != len(label_sets):
        raise ValueError(f"{len(texts)} texts but {len(label_sets)} label sets")
    merged: dict[str, set[str]] = {}
    for n, (text, labels) in enumerate(zip(texts, label_sets, strict=True)):
        if not str(text).strip():
            raise ValueError(f"Text {n} is empty")
        if not labels:
            raise ValueError(f"Text {n} ({str(text)[:60]!r}) has no label")
        for label in labels:
            scheme_of(label)
        merged.setdefault(str(text), set()).update(labels)
    return list(merged), [frozenset(v) for v in merged.values()]


def training_data_sha256(texts: Sequence[str], label_sets: Sequence[Sequence[str]]) -> str:
    """One SHA-256 over the sorted ``(text, sorted labels)`` pairs (order-independent)."""
    pairs = sorted((str(t), sorted(ls)) for t, ls in zip(texts, label_sets, strict=True))
    digest = hashlib.sha256()
    for text, labels in pairs:
        digest.update(json.dumps([text, labels], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def texts_per_scheme(label_sets: Sequence[frozenset[str]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for labels in label_sets:
        for scheme in sorted({scheme_of(lab) for lab in labels}):
            counts[scheme] += 1
    return dict(sorted(counts.items()))


def epoch_batches(
    label_sets: Sequence[frozenset[str]],
    *,
    batch_size: int,
    per_label_cap: int,
    group_size: int,
    rng: random.Random,
) -> list[list[int]]:
    """Class-balanced batches of text indices for one epoch.

    Every label draws at most ``per_label_cap`` of its texts; the draws are cut into groups of
    ``group_size`` same-label texts, the groups shuffled and packed into batches of at most
    ``batch_size`` distinct texts. Each text in a group of two or more therefore has at least
    one positive in its batch. A multi-label text may be drawn by several labels in an epoch.
    """
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, labels in enumerate(label_sets):
        for label in labels:
            by_label[label].append(i)
    groups: list[list[int]] = []
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) < 2:
            continue  # a lone text has no positive: it can never be an anchor
        drawn = rng.sample(members, min(per_label_cap, len(members)))
        for start in range(0, len(drawn), group_size):
            group = drawn[start:start + group_size]
            if len(group) == 1 and groups and len(drawn) > 1:
                groups[-1].extend(group)  # keep the straggler next to its own label
            else:
                groups.append(group)
    rng.shuffle(groups)
    batches: list[list[int]] = []
    current: list[int] = []
    for group in groups:
        fresh = [i for i in group if i not in current]
        if current and len(current) + len(fresh) > batch_size:
            batches.append(current)
            current = [i for i in group]
        else:
            current.extend(fresh)
    if current:
        batches.append(current)
    return batches


def supcon_loss(embeddings: Any, positive: Any, comparable: Any, temperature: float) -> Any:
    """Supervised contrastive loss (Khosla et al. 2020, eq. 2) with a comparability mask.

    Args:
        embeddings: ``(n, d)`` L2-normalised float tensor.
        positive: ``(n, n)`` bool tensor, True where two texts share a label (diagonal ignored).
        comparable: ``(n, n)`` bool tensor, True where two texts share a scheme; pairs that do
            not are left out of the denominator.
        temperature: softmax temperature tau.

    Returns:
        Scalar tensor: mean over anchors that have at least one positive (0 if none has).
    """
    import torch

    n = embeddings.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    logits = embeddings @ embeddings.T / temperature
    denominator_mask = comparable & ~eye
    logits = logits.masked_fill(~denominator_mask, float("-inf"))
    # Subtracting the row max keeps exp() finite; it cancels inside log-softmax.
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = positive & denominator_mask
    n_pos = pos.sum(dim=1)
    anchors = n_pos > 0
    if not bool(anchors.any()):
        return embeddings.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~pos, 0.0).sum(dim=1)
    return -(pos_log_prob[anchors] / n_pos[anchors]).mean()
