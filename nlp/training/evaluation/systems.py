"""Systems and ablations stacked over shared component logits, and the per-scheme evaluations
(in-source k-fold, held-out sources)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.scoring import COMPONENTS, POOL_WEIGHT, ScoringLayer, pool_scores
from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy
from nlp.training.evaluation.config import (
    AL_HELD_OUT_SOURCES,
    MIN_SOURCE_SIZE,
    OBJECTIVES,
    POOL_RULES,
    PROTOTYPE_TEXT_SOURCES,
    SDG_HELD_OUT_SOURCES,
    SUPERVISED,
    SYSTEM_COMPONENTS,
    SYSTEMS,
    UNION_RULE,
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


@dataclass(frozen=True)
class Pooled:
    """The trained system on a split's test texts and their segments, to pool as the shipped
    layers do (:func:`nlp.tagging.scoring.pool_scores`) with any weight."""

    whole: np.ndarray  # (n_test, L) scores of the texts whole
    segment_proba: np.ndarray  # (m, L)
    owner: np.ndarray  # (m,) position in the test rows of each segment's text
    stack: Stack

    def proba(self, weight: float) -> np.ndarray:
        return pool_scores(self.whole, self.segment_proba, self.owner, weight)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return self.stack.decide(proba)

    def rule(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores and decisions under a pooling rule of :data:`POOL_RULES`: a weight, or
        :data:`UNION_RULE` (decisions at the default weight, 0.5, or-ed with each segment's
        own)."""
        if name != UNION_RULE:
            proba = self.proba(float(name))
            return proba, self.decide(proba)
        proba = self.proba(POOL_WEIGHT)
        pred = self.decide(proba)
        np.logical_or.at(pred, self.owner, self.decide(self.segment_proba))
        return proba, pred


@dataclass(frozen=True)
class ScoredSplit:
    """Test scores of every stack of a split: ``stacks[name] = (proba, pred, mix)``; with
    segments, the trained system's segment scores too."""

    stacks: dict[str, tuple[np.ndarray, np.ndarray, dict[str, float]]]
    pooled: Pooled | None = None


def _score_split(
    logits: SplitLogits, y_train: np.ndarray, calibrate: np.ndarray, drop: frozenset[str],
    stacks: dict[str, tuple[str, ...]], objective: str,
) -> ScoredSplit:
    out = {}
    pooled = None
    for name, components in stacks.items():
        kept = tuple(c for c in components if c not in drop)
        if not kept:
            continue
        stack = Stack.fit(logits.oof, y_train, calibrate, logits.held, kept, objective)
        proba = stack.proba(logits.test)
        out[name] = (proba, stack.decide(proba), {k: round(v, 3) for k, v in stack.mix.items()})
        if name == "trained" and logits.segments is not None and logits.segment_owner is not None:
            pooled = Pooled(proba, stack.proba(logits.segments), logits.segment_owner, stack)
    return ScoredSplit(out, pooled)


def score_splits(
    data: SchemeData, splits: Sequence[Split], ablation: bool = False, jobs: int = 1,
    progress: Progress | None = None, cache: FitCache | None = None,
) -> list[ScoredSplit]:
    """Test scores of every stack of every split (and of the test texts' segments, when
    ``data`` has them)."""
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
               ) -> tuple[dict[str, Any], list[dict[str, float]], dict[str, Any] | None]:
    splits = in_source_splits(data.sources, data.primary, data.calibrate, source,
                              config.folds, config.seed)
    scored = score_splits(data, splits, False, config.jobs, progress, fits)
    rows = np.concatenate([s.test for s in splits])
    systems = {}
    for system in SYSTEMS:
        proba = np.concatenate([r.stacks[system][0] for r in scored])
        pred = np.concatenate([r.stacks[system][1] for r in scored])
        systems[system] = classification_metrics(data.labels, data.y[rows], proba, pred,
                                                 data.primary[rows])
    pooling = None
    if all(r.pooled is not None for r in scored):
        pooling = _pooling_in_source(data, splits, scored)
    return systems, [r.stacks["trained"][2] for r in scored], pooling


def _pooled(scored: ScoredSplit, rule: str) -> tuple[np.ndarray, np.ndarray]:
    assert scored.pooled is not None
    return scored.pooled.rule(rule)


def _pooling_in_source(data: SchemeData, splits: Sequence[Split],
                       scored: Sequence[ScoredSplit]) -> dict[str, Any]:
    """The trained system with its test texts' segments pooled under each rule of
    :data:`POOL_RULES`, over all folds; and nested: each fold pooled with the rule that
    scores best (the scheme's objective) on the other folds."""
    # each fold pooled under each rule once; the nested choice reuses them
    pooled = {(k, w): _pooled(scored[k], w) for k in range(len(splits)) for w in POOL_RULES}

    def figures(parts: Sequence[int], weights: Sequence[str]) -> dict[str, Any]:
        rows = np.concatenate([splits[k].test for k in parts])
        pairs = [pooled[k, w] for k, w in zip(parts, weights)]
        return classification_metrics(
            data.labels, data.y[rows], np.concatenate([p for p, _ in pairs]),
            np.concatenate([d for _, d in pairs]), data.primary[rows], detail=False)

    folds = range(len(splits))
    by_weight = {w: figures(folds, [w] * len(splits)) for w in POOL_RULES}
    chosen = []
    for k in folds:
        others = [j for j in folds if j != k]
        chosen.append(max(POOL_RULES, key=lambda w: figures(others, [w] * len(others))[
            data.objective]))
    return {"weights": list(POOL_RULES), "by_weight": by_weight,
            "nested": figures(folds, chosen) | {"chosen": chosen},
            "selection": (f"nested: each fold's rule maximises {data.objective} over the "
                          "other folds' pooled test scores")}


def _pooling_held_out(data: SchemeData, splits: Sequence[Split],
                      scored: Sequence[ScoredSplit]) -> dict[str, Any]:
    """Per held-out source, the trained system pooled at each weight; the mean over the
    sources in the mean; and nested: each source pooled with the weight whose mean
    objective is best over the other sources (in the mean)."""
    per_source: dict[str, dict[str, Any]] = {}
    for split, result in zip(splits, scored):
        per_source[split.name] = {}
        for w in POOL_RULES:
            proba, pred = _pooled(result, w)
            per_source[split.name][w] = classification_metrics(
                data.labels, data.y[split.test], proba, pred, data.primary[split.test],
                detail=False)
    in_mean = [s.name for s in splits if s.name not in PROTOTYPE_TEXT_SOURCES]
    out = {
        "weights": list(POOL_RULES),
        "per_source": per_source,
        "mean": {w: mean_metrics([per_source[n][w] for n in in_mean]) for w in POOL_RULES},
        "nested": None,
        "selection": "no nested choice: a rule can only be chosen on another held-out source",
    }
    if len(in_mean) < 2:
        return out

    def best_rule(names: Sequence[str]) -> str:
        return max(POOL_RULES, key=lambda w: float(np.mean(
            [per_source[n][w][data.objective] for n in names])))

    nested = {}
    for split in splits:
        w = best_rule([n for n in in_mean if n != split.name])
        nested[split.name] = per_source[split.name][w] | {"weight": w}
    return out | {
        "nested": {"per_source": nested, "mean": mean_metrics([nested[n] for n in in_mean])},
        "selection": (f"nested: each source is pooled with the rule whose mean "
                      f"{data.objective} is best over the other held-out sources"),
    }


def _held_out(data: SchemeData, names: Sequence[str], config: EvalConfig,
              progress: Progress | None, fits: FitCache | None = None) -> dict[str, Any]:
    splits = held_out_source_splits(data.sources, data.calibrate, names)
    scored = score_splits(data, splits, True, config.jobs, progress, fits)
    per_source: dict[str, Any] = {}
    for split, result in zip(splits, scored):
        metrics = {name: classification_metrics(data.labels, data.y[split.test], proba, pred,
                                                data.primary[split.test], detail=False)
                   for name, (proba, pred, _) in result.stacks.items()}
        per_source[split.name] = {
            "n": len(split.test),
            "n_train": len(split.train),
            "calibration_sources": [str(data.sources[rows[0]]) for _, rows in split.inner],
            "note": split.note,
            "in_mean": split.name not in PROTOTYPE_TEXT_SOURCES,
            "mix": result.stacks["trained"][2],
            "systems": {s: metrics[s] for s in SYSTEMS if s in metrics},
            "ablation": {c: metrics.get(f"-{c}", metrics["trained"]) for c in COMPONENTS},
        }
    out = {"sources": per_source, "mean": held_out_mean(per_source)}
    if scored and all(r.pooled is not None for r in scored):
        out["pooling"] = _pooling_held_out(data, splits, scored)
    return out


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


def segment_encoder(cache: Any, progress: Progress | None
               ) -> Callable[[list[str]], list[tuple[np.ndarray, list[str]]]]:
    """Each text's sentences and clauses embedded as the taggers embed them for pooling."""
    from nlp.tagging.evidence import encode_with_segments

    def segment(texts: list[str]) -> list[tuple[np.ndarray, list[str]]]:
        if progress:
            progress(f"embedding the sentences and clauses of {len(texts)} texts")
        return encode_with_segments(
            cache.embedder, texts,
            encode=lambda batch: cache.encode(batch, show_progress=progress is not None),
            encode_spans=cache.encode_spans)[2]

    return segment


def evaluate_action_lines(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
    config: EvalConfig | None = None, held_out: bool = False,
) -> dict[str, Any]:
    """Action Lines (18 classes): nested k-fold on the WSIS Prizes 2021 projects and, with
    ``held_out``, leave-one-source-out over the Prizes and the Compact's paragraphs (each
    scored by a model trained on the other sources only) with the ablation."""
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
        {lab.id: list(lab.keywords) for lab in labels}, OBJECTIVES[ACTION_LINES],
        segment_encoder(cache, progress))
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes, pooling = _in_source(data, "wsis-prizes-2021", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"wsis-prizes-2021 (title + description), stratified {config.folds}-fold; "
                     "other sources always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} Prizes folds "
                      f"(objective {data.objective}); other sources train but never calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
        "pooling": pooling,
    }
    if held_out:
        counts = data.source_counts()
        names = [s for s in AL_HELD_OUT_SOURCES if counts.get(s, 0) >= MIN_SOURCE_SIZE]
        result["held_out"] = _held_out(data, names, config, progress, fits) | {
            "kind": "leave-one-source-out",
            "selection": ("each held-out source (the WSIS Prizes projects; the Compact's "
                          "paragraphs, policy prose) is scored by a model trained on the other "
                          f"sources only (of {', '.join(counts)}); stacker and decision rule "
                          "fitted leave-one-source-out over those (Plan items train but never "
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
        OBJECTIVES[SDGS], segment_encoder(cache, progress))
    fits = FitCache(config.fit_cache, embedder.name)
    systems, mixes, pooling = _in_source(data, "qu-sdg-sentences", config, progress, fits)
    result = _header(embedder, data, config) | {
        "eval_set": (f"qu-sdg-sentences, stratified {config.folds}-fold; every other SDG source "
                     "always in training"),
        "selection": (f"nested: each fold's stacker weights, thresholds, floor and cap are fitted "
                      f"on out-of-fold scores of the other {config.folds - 1} qu-sdg-sentences "
                      f"folds (objective {data.objective}); other sources train but never "
                      "calibrate"),
        "systems": systems,
        "mix_per_fold": mixes,
        "pooling": pooling,
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
