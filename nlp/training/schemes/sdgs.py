"""The SDG trainer: goals from labelled sentences, projects and the goals' own texts; targets
zero-shot (prototypes and keywords) calibrated on WSIS-SDG Matrix rationales; the zero-shot
rule without the data directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp import data as datasets
from nlp.embed_cache import EmbeddingCache
from nlp.errors import WsisError
from nlp.labelled import (
    Example,
    calibration_mask,
    label_matrix,
    sdg_goal_examples,
    sdg_target_calibration,
)
from nlp.tagging.scoring import ScoringLayer
from nlp.tagging.taggers import SdgTagger
from nlp.taxonomy import SDGS, Taxonomy
from nlp.training.fit import (
    LayerFit,
    ZeroShotCalibration,
    build_prototypes,
    fit_layer,
    zero_shot_calibration,
)
from nlp.training.schemes.common import (
    POOL_WEIGHTS,
    SDG_FILES,
    TrainResult,
    count_sources,
    evidence_bank,
    manifest_base,
    with_feedback,
    zero_shot_layer,
)


def _aurora_phrases(data_dir: Path) -> dict[str, list[str]]:
    try:
        aurora = datasets.read_aurora_queries(data_dir)
    except WsisError:
        return {}
    return {t: [p for p in a.phrases if " " in p] for t, a in aurora.items()}


def sdg_goal_keywords(taxonomy: Taxonomy, data_dir: Path) -> dict[str, list[str]]:
    """Keywords per SDG target (JRC + multi-word Aurora phrases) and per goal (their union)."""
    aurora = _aurora_phrases(data_dir)
    targets = taxonomy.sdg_targets
    keywords = {t.id: list(dict.fromkeys([*t.keywords, *aurora.get(t.id, [])])) for t in targets}
    for goal in taxonomy.sdg_goals:
        keywords[goal.id] = sorted({k for t in targets if t.parent == goal.id
                                    for k in keywords[t.id]})
    return keywords


def train_sdgs(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    goals = taxonomy.sdg_goals
    goal_ids = [g.id for g in goals]
    goal_protos = build_prototypes(cache, taxonomy, SDGS, goals)
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    layers: dict[str, ScoringLayer] = {}
    fits: dict[str, LayerFit] = {}
    if datasets.data_available(data_dir) and data_dir is not None:
        targets = taxonomy.sdg_targets
        target_ids = [t.id for t in targets]
        aurora = _aurora_phrases(data_dir)
        keywords = sdg_goal_keywords(taxonomy, data_dir)
        examples = with_feedback(sdg_goal_examples(data_dir), feedback)
        vectors = cache.encode([e.text for e in examples], show_progress=False)
        y = label_matrix(goal_ids, examples)
        fits["sdgs"] = fit_layer(goal_ids, vectors, y, goal_protos, [e.text for e in examples],
                                 calibrate=calibration_mask(examples), keywords=keywords,
                                 groups=[e.source for e in examples],
                                 objective="decision_accuracy")
        layers["sdgs"] = fits["sdgs"].layer
        layers["sdgs"].pool, layers["sdgs"].pool_weight = True, POOL_WEIGHTS["sdgs"]
        # Targets: zero-shot prototypes (text + indicators + JRC keywords + Aurora phrases) and
        # keyword matches, calibrated on Matrix rationales that name targets.
        extra = {t: [", ".join(p)] for t, p in aurora.items() if p}
        t_protos = build_prototypes(cache, taxonomy, SDGS, targets, extra)
        calib = sdg_target_calibration(data_dir)
        c_vectors = cache.encode([text for text, _ in calib])
        index = {t: j for j, t in enumerate(target_ids)}
        cy = np.zeros((len(calib), len(target_ids)), dtype=bool)
        for i, (_, ts) in enumerate(calib):
            for t in ts:
                if t in index:
                    cy[i, index[t]] = True
        fits["sdg_targets"] = fit_layer(
            target_ids, c_vectors, cy, t_protos, [text for text, _ in calib],
            ("prototype", "keyword"), background=vectors, keywords=keywords)
        layer = fits["sdg_targets"].layer
        layer.threshold_source = [
            s + "; calibrated on WSIS-SDG Matrix rationales" for s in layer.threshold_source
        ]
        layers["sdg_targets"] = layer
        bank, meta = evidence_bank(examples, vectors, {"qu-sdg-sentences", "sdg-targets",
                                                       "wsis-sdg-matrix-rationale", "feedback"})
        manifest = manifest_base(taxonomy, SDGS, cache.embedder, data_dir, SDG_FILES,
                                 "supervised+prototypes (goals); zero-shot calibrated (targets)")
        manifest["n_training_examples"] = len(examples)
        manifest["training_sources"] = count_sources(examples)
    else:
        zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
        layers["sdgs"] = zero_shot_layer(goal_ids, goal_protos, zs)
        # No target texts: a target scores like its goal and is never marked predicted.
        target_ids = [t.id for t in taxonomy.sdg_targets]
        rows = [goal_ids.index(t.split(".")[0]) for t in target_ids]
        targets = zero_shot_layer(target_ids, goal_protos[rows], zs)
        targets.thresholds = np.ones(len(target_ids))
        reason = "no target texts without the data directory: never predicted"
        targets.threshold_source = [reason] * len(target_ids)
        layers["sdg_targets"] = targets
        bank, meta, keywords = np.zeros((0, goal_protos.shape[1]), np.float16), [], {}
        manifest = manifest_base(taxonomy, SDGS, cache.embedder, None, (), "zero-shot")
        manifest["zero_shot_calibration"] = zs.basis
    tagger = SdgTagger(layers, embedding, manifest, bank, meta, keywords)
    return TrainResult(tagger, None, fits, manifest)
