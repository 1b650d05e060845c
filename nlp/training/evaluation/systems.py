"""Systems and ablations stacked over shared component logits, and the per-scheme evaluations
(in-source k-fold, held-out sources)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.scoring import COMPONENTS, ScoringLayer
from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy
from nlp.training.evaluation.config import (
    MIN_SOURCE_SIZE,
    OBJECTIVES,
    PROTOTYPE_TEXT_SOURCES,
    SDG_HELD_OUT_SOURCES,
    SUPERVISED,
    SYSTEM_COMPONENTS,
    SYSTEMS,
    EvalConfig,
    Progress,
)
from nlp.training.evaluation.logits import FitCache, SplitLogits, _run, split_logits
from nlp.training.evaluation.metrics import classification_metrics, mean_metrics
from nlp.training.evaluation.splits import (
    SchemeData,
    Split,
    held_out_source_splits,
    in_source_splits,
    subsample,
)


@dataclass(frozen=True)
class Stack:
    """Stacker weights and decision rule fitted on out-of-fold logits (as in ``fit_layer``)."""

    mix: dict[str, float]
    bias: float
    thresholds: np.ndarray
    floor: float
    cap: int

    def proba(self, logits: dict[str, np.ndarray]) -> np.ndarray:
        first = next(iter(logits.values()))
        z = np.full(first.shape, self.bias, dtype=np.float64)
        for name, weight in self.mix.items():
            z += weight * logits[name]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return ScoringLayer.apply_decision(proba, self.thresholds, self.floor, self.cap)

    @classmethod
    def fit(cls, oof: dict[str, np.ndarray], y: np.ndarray, calibrate: np.ndarray,
            held: np.ndarray, components: Sequence[str], objective: str = "micro_f1") -> Stack:
        """:func:`nlp.training.fit.fit_stack` over the requested components that have logits
        (in :data:`COMPONENTS` order), as ``fit_layer`` stacks them after its out-of-fold loop;
        ``held`` applies when a supervised component is stacked.

        Raises:
            ValueError: no requested component has logits, or no row may calibrate.
        """
        from nlp.training.fit import fit_stack

        use = [name for name in COMPONENTS if name in components and name in oof]
        if not use:
            raise ValueError(f"No usable scoring component among {tuple(components)!r}")
        supervised = any(name in SUPERVISED for name in use)
        fitted = fit_stack({name: oof[name] for name in use}, y, calibrate,
                           held if supervised else None, objective)
        decision = fitted.decision
        return cls(fitted.mix, fitted.bias, decision.thresholds, decision.floor, decision.cap)


def variants(ablation: bool) -> dict[str, tuple[str, ...]]:
    """The stacks scored in a split: the three systems, plus the trained system without each
    component in turn (``"-prototype"``, ...) when ``ablation``."""
    out = dict(SYSTEM_COMPONENTS)
    if ablation:
        for name in COMPONENTS:
            out[f"-{name}"] = tuple(c for c in COMPONENTS if c != name)
    return out


def _score_split(
    logits: SplitLogits, y_train: np.ndarray, calibrate: np.ndarray, drop: frozenset[str],
    stacks: dict[str, tuple[str, ...]], objective: str,
) -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, float]]]:
    out = {}
    for name, components in stacks.items():
        kept = tuple(c for c in components if c not in drop)
        if not kept:
            continue
        stack = Stack.fit(logits.oof, y_train, calibrate, logits.held, kept, objective)
        proba = stack.proba(logits.test)
        out[name] = (proba, stack.decide(proba), {k: round(v, 3) for k, v in stack.mix.items()})
    return out


def score_splits(
    data: SchemeData, splits: Sequence[Split], ablation: bool = False, jobs: int = 1,
    progress: Progress | None = None, cache: FitCache | None = None,
) -> list[dict[str, tuple[np.ndarray, np.ndarray, dict[str, float]]]]:
    """Test scores of every stack of every split: ``[{stack: (proba, pred, mix)}, ...]``."""
    logits = split_logits(data, splits, jobs, progress, cache)
    if progress:
        progress(f"[{data.scheme}] stacking and calibrating {len(splits)} splits")
    tasks = [(_score_split, (lg, data.y[s.train], s.calibrate, s.drop, variants(ablation),
                             data.objective)) for s, lg in zip(splits, logits)]
    return _run(tasks, jobs)


# --------------------------------------------------------------------------------------------
# The evaluations


def _in_source(data: SchemeData, source: str, config: EvalConfig,
               progress: Progress | None, fits: FitCache | None = None
               ) -> tuple[dict[str, Any], list[dict[str, float]]]:
    splits = in_source_splits(data.sources, data.primary, data.calibrate, source,
                              config.folds, config.seed)
    scored = score_splits(data, splits, False, config.jobs, progress, fits)
    rows = np.concatenate([s.test for s in splits])
    systems = {}
    for system in SYSTEMS:
        proba = np.concatenate([r[system][0] for r in scored])
        pred = np.concatenate([r[system][1] for r in scored])
        systems[system] = classification_metrics(data.labels, data.y[rows], proba, pred,
                                                 data.primary[rows])
    return systems, [r["trained"][2] for r in scored]


def _held_out(data: SchemeData, names: Sequence[str], config: EvalConfig,
              progress: Progress | None, fits: FitCache | None = None) -> dict[str, Any]:
    splits = held_out_source_splits(data.sources, data.calibrate, names)
    scored = score_splits(data, splits, True, config.jobs, progress, fits)
    per_source: dict[str, Any] = {}
    for split, result in zip(splits, scored):
        metrics = {name: classification_metrics(data.labels, data.y[split.test], proba, pred,
                                                data.primary[split.test], detail=False)
                   for name, (proba, pred, _) in result.items()}
        per_source[split.name] = {
            "n": len(split.test),
            "n_train": len(split.train),
            "calibration_sources": [str(data.sources[rows[0]]) for _, rows in split.inner],
            "note": split.note,
            "in_mean": split.name not in PROTOTYPE_TEXT_SOURCES,
            "mix": result["trained"][2],
            "systems": {s: metrics[s] for s in SYSTEMS if s in metrics},
            "ablation": {c: metrics.get(f"-{c}", metrics["trained"]) for c in COMPONENTS},
        }
    return {"sources": per_source, "mean": held_out_mean(per_source)}


def held_out_mean(per_source: dict[str, Any]) -> dict[str, Any]:
    """Unweighted mean over the held-out sources marked ``in_mean``, per system and ablation."""
    rows = [r for r in per_source.values() if r.get("in_mean", True)]
    return {
        "systems": {s: mean_metrics([r["systems"][s] for r in rows if s in r["systems"]])
                    for s in SYSTEMS},
        "ablation": {c: mean_metrics([r["ablation"][c] for r in rows]) for c in COMPONENTS},
    }


def _header(embedder: Any, data: SchemeData, config: EvalConfig) -> dict[str, Any]:
    return {
        "scheme": data.scheme,
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": data.labels,
        "objective": data.objective,
        "training_sources": data.source_counts(),
        "config": {"folds": config.folds, "per_source": config.per_source,
                   "max_held_out": config.max_held_out, "seed": config.seed},
    }


def evaluate_action_lines(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
    config: EvalConfig | None = None, held_out: bool = False,
) -> dict[str, Any]:
    """Action Lines (18 classes): nested k-fold on the WSIS Prizes 2021 projects and, with
    ``held_out``, leave-Prizes-out (train on the other sources only) with the ablation."""
    from nlp.embed_cache import EmbeddingCache
    from nlp.labelled import action_line_examples
    from nlp.training.fit import build_prototypes

    config = config or EvalConfig(folds=n_folds, seed=seed)
    cache = EmbeddingCache(cache_dir, embedder)
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    examples = subsample(action_line_examples(data_dir, taxonomy), config.per_source,
                         config.seed)
    data = SchemeData.build(
        ACTION_LINES, [lab.id for lab in labels], examples,
        lambda texts: cache.encode(texts, show_progress=progress is not None),
        build_prototypes(cache, taxonomy, ACTION_LINES, labels),
        {lab.id: list(lab.keywords) for lab in labels}, OBJECTIVES[ACTION_LINES])
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes = _in_source(data, "wsis-prizes-2021", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"wsis-prizes-2021 (title + description), stratified {config.folds}-fold; "
                     "other sources always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} Prizes folds "
                      f"(objective {data.objective}); other sources train but never calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
    }
    if held_out:
        result["held_out"] = _held_out(data, ["wsis-prizes-2021"], config, progress, fits) | {
            "kind": "leave-Prizes-out",
            "selection": ("trained on WSIS projects 2015, WSIS-SDG Matrix Plan items and "
                          "rationales only; stacker and decision rule fitted "
                          "leave-one-source-out over those (Plan items train but never "
                          "calibrate: the prototypes are written from them)"),
        }
    result["fits"] = {"computed": fits.computed, "from_cache": fits.loaded}
    return result


def evaluate_sdgs(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
    config: EvalConfig | None = None, held_out: bool = False,
) -> dict[str, Any]:
    """SDG goals: nested k-fold on qu-sdg-sentences and, with ``held_out``, leave-one-source-out
    over every SDG source with enough texts, with the ablation."""
    from nlp.embed_cache import EmbeddingCache
    from nlp.labelled import sdg_goal_examples
    from nlp.training.fit import build_prototypes
    from nlp.training.schemes.sdgs import sdg_goal_keywords

    config = config or EvalConfig(folds=n_folds, seed=seed)
    cache = EmbeddingCache(cache_dir, embedder)
    goals = taxonomy.sdg_goals
    examples = subsample(sdg_goal_examples(data_dir), config.per_source, config.seed)
    data = SchemeData.build(
        SDGS, [g.id for g in goals], examples,
        lambda texts: cache.encode(texts, show_progress=progress is not None),
        build_prototypes(cache, taxonomy, SDGS, goals), sdg_goal_keywords(taxonomy, data_dir),
        OBJECTIVES[SDGS])
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes = _in_source(data, "qu-sdg-sentences", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"qu-sdg-sentences, stratified {config.folds}-fold; every other SDG source "
                     "always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} qu-sdg-sentences "
                      f"folds (objective {data.objective}); other sources train but never "
                      "calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
    }
    if held_out:
        counts = data.source_counts()
        names = [s for s in SDG_HELD_OUT_SOURCES if counts.get(s, 0) >= MIN_SOURCE_SIZE]
        if config.max_held_out is not None:
            names = names[: config.max_held_out]
        result["held_out"] = _held_out(data, names, config, progress, fits) | {
            "kind": "leave-one-source-out",
            "selection": ("each source is scored by a model trained on all other sources; its "
                          "stacker weights, thresholds, floor and cap are fitted "
                          "leave-one-source-out over those training sources only (as "
                          "fit_layer(groups=sources) in the trainer; sdg-targets train but never "
                          f"calibrate), objective {data.objective}"),
        }
    result["fits"] = {"computed": fits.computed, "from_cache": fits.loaded}
    return result
