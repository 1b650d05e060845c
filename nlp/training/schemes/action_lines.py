"""The Action Line trainer: supervised heads and prototypes on the WSIS Prizes, projects and
Matrix texts and the Compact's paragraphs (Action Lines labelled in ``corpus/labels/``) when
the data directory has them, the zero-shot rule otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp import data as datasets
from nlp.data.checksums import sha256_file
from nlp.embed_cache import EmbeddingCache
from nlp.labelled import (
    GDC_ACTION_LINE_LABELS,
    Example,
    action_line_examples,
    calibration_mask,
    label_matrix,
)
from nlp.tagging.taggers import ActionLineTagger
from nlp.taxonomy import ACTION_LINES, Taxonomy
from nlp.training.fit import ZeroShotCalibration, build_prototypes, fit_layer, zero_shot_calibration
from nlp.training.schemes.common import (
    AL_FILES,
    POOL_WEIGHTS,
    TrainResult,
    count_sources,
    evidence_bank,
    manifest_base,
    with_feedback,
    zero_shot_layer,
)


def train_action_lines(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    ids = [lab.id for lab in labels]
    protos = build_prototypes(cache, taxonomy, ACTION_LINES, labels)
    keywords = {lab.id: list(lab.keywords) for lab in taxonomy.action_lines}
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    if datasets.data_available(data_dir) and data_dir is not None:
        examples = with_feedback(action_line_examples(data_dir, taxonomy), feedback)
        vectors = cache.encode([e.text for e in examples])
        y = label_matrix(ids, examples)
        fit = fit_layer(ids, vectors, y, protos, [e.text for e in examples],
                        calibrate=calibration_mask(examples), keywords=keywords,
                        groups=action_line_groups(examples))
        bank, meta = evidence_bank(examples, vectors, {"wsis-prizes-2021", "wsis-projects-2015",
                                                       "wsis-sdg-matrix-rationale", "gdc-text",
                                                       "feedback"})
        manifest = manifest_base(taxonomy, ACTION_LINES, cache.embedder, data_dir, AL_FILES,
                                 "supervised+prototypes")
        manifest["n_training_examples"] = len(examples)
        manifest["training_sources"] = count_sources(examples)
        if any(e.source == "gdc-text" for e in examples):
            manifest["training_labels"] = {
                "corpus/labels/gdc-action-lines.jsonl": sha256_file(GDC_ACTION_LINE_LABELS)}
        fits = {"action_lines": fit}
        layer = fit.layer
        layer.pool, layer.pool_weight = True, POOL_WEIGHTS["action_lines"]
    else:
        zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
        layer = zero_shot_layer(ids, protos, zs, keywords)
        bank, meta = np.zeros((0, protos.shape[1]), np.float16), []
        manifest = manifest_base(taxonomy, ACTION_LINES, cache.embedder, None, (), "zero-shot")
        manifest["zero_shot_calibration"] = zs.basis
        fits = {}
    tagger = ActionLineTagger({"action_lines": layer}, embedding, manifest, bank, meta, keywords)
    return TrainResult(tagger, None, fits, manifest)


def action_line_groups(examples: Sequence[Example], prize_folds: int = 5) -> list[str]:
    """Calibration groups for Action Lines: each source is held out whole, except the WSIS
    Prizes projects, split into ``prize_folds`` groups (held-out Prizes projects are the
    genre the tagger is judged on, so their scores come from heads that saw other Prizes)."""
    out, k = [], 0
    for ex in examples:
        if ex.source == "wsis-prizes-2021":
            out.append(f"{ex.source}:{k % prize_folds}")
            k += 1
        else:
            out.append(ex.source)
    return out
