"""The gold set (the shipped taggers on hand-labelled passages) and a whole ``wsis evaluate``
run: every evaluation of the requested schemes with the machine and encoder in its header."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.taxonomy import ACTION_LINES, GDC, SDGS
from nlp.training.evaluation.config import GOLD_SCHEME_KEYS, EvalConfig, Progress
from nlp.training.evaluation.systems import evaluate_action_lines, evaluate_sdgs


def evaluate_gold(settings: Any, embedder: Any, keys: Sequence[str],
                  progress: Progress | None = None) -> dict[str, Any]:
    """Micro P/R/F1 per tagger output key of the shipped taggers on the gold passages.

    The parent ``C7`` is dropped from predictions (the gold set labels its sub-lines only).
    When a shipped decision rule was fitted on the gold passages (manifest ``decision_rule``),
    its figures are in-sample, and so are those of every other key of the same tagger (GDC
    objectives and sections follow from the commitments' decisions, SDG targets from the
    goals'), and of the GDC objectives and sections when it is the Action Lines' rule (linked
    sections follow those lines); the result then also holds ``cross_fitted`` for those keys: the
    same taggers with the rule refitted on the passages of the other documents
    (:func:`nlp.training.tune.cross_fit_gold`).

    Returns ``{"available": False, "reason": ...}`` when the gold set or the shipped taggers
    for ``embedder`` are missing.
    """
    try:
        from nlp.training.gold import GOLD_KEYS, load_gold, score_calibration, score_gold
        from nlp.training.tune import GOLD_LAYER_FIELDS
    except ImportError:
        return {"available": False, "reason": "gold set not found (nlp/training/gold.py is "
                                              "missing)"}
    from nlp.errors import WsisError
    from nlp.tagging.suite import key_matrix
    from nlp.workspace import Workspace

    try:
        gold = load_gold()
    except (WsisError, OSError) as exc:
        return {"available": False, "reason": f"gold set not found: {exc}"}
    try:
        suite = Workspace(settings, tag_embedder=embedder).taggers(build=False)
    except WsisError as exc:
        return {"available": False, "reason": f"no shipped taggers to score: {exc}"}
    if progress:
        progress(f"[gold] tagging {len(gold)} gold passages with the shipped taggers")
    texts = [g.text for g in gold]
    tagged = suite.tag(texts)
    produced = set(tagged[0].tags) if tagged else set()
    wanted = [k for k in keys if k in GOLD_KEYS.values() and k in produced]
    predicted = [{key: [lab for lab in t.predicted(key) if lab != "C7"] for key in wanted}
                 for t in tagged]
    tuned: dict[str, int] = {}
    for tagger in suite.taggers.values():
        rule = tagger.manifest.get("decision_rule") or {}
        fitted = {key: value.get("gold_passages", 0) for key, value in rule.items()
                  if isinstance(value, dict) and value.get("gold_passages")}
        if fitted:  # keys with no rule of their own follow a fitted layer's decisions
            derived = {key: max(fitted.values()) for key in tagger.keys
                       if key not in GOLD_LAYER_FIELDS}  # GDC objectives, sections; targets
            tuned.update(derived | fitted)
    for tagger in suite.taggers.values():  # GDC sections follow the Action Lines' decisions
        linked = tagger.linked
        if linked is not None and any(key in tuned for key in linked.keys):
            n = max(tuned[key] for key in linked.keys if key in tuned)
            tuned.update({key: tuned.get(key, n) for key in tagger.keys
                          if key not in GOLD_LAYER_FIELDS})
    field_of = {key: name for name, key in GOLD_KEYS.items()}

    def calibration(key: str, matrix: tuple[list[str], Any, Any]) -> dict[str, float]:
        labels, scores, pred = matrix
        return score_calibration(gold, field_of[key], labels, scores, pred)

    def figures(predictions: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        scores = score_gold(gold, predictions)
        return {key: {k: v for k, v in scores[key].items() if k != "per_label"}
                | {"gold_field": field_of[key], "rule_fitted_on_gold": key in tuned}
                for key in wanted}

    out: dict[str, Any] = {
        "available": True,
        "n_passages": len(gold),
        "models": {scheme: str(path) for scheme, path in suite.paths.items()},
        "keys": figures(predicted),
        "not_produced": [k for k in keys if k in GOLD_KEYS.values() and k not in produced],
        "pool_weights": {tagger.scheme: float(layer.pool_weight)
                         for tagger in suite.taggers.values()
                         for layer in tagger.layers.values() if layer.pool},
        "per_label": {key: value["per_label"]
                      for key, value in score_gold(gold, predicted).items() if key in wanted},
    }
    out["calibration"] = {key: {"shipped": calibration(key, key_matrix(tagged, key))}
                          for key in wanted}
    if set(tuned) & set(wanted):
        try:
            from nlp.training.tune import cross_fit_gold_scores, predicted_labels
        except ImportError:
            return out
        from nlp.tagging.evidence import encode_with_segments

        vectors, _, segments = encode_with_segments(suite.embedder, texts)
        scored = cross_fit_gold_scores(list(suite.taggers.values()), vectors, gold,
                                       segments=segments)
        crossed = predicted_labels(scored, len(gold))
        # only keys whose shipped rule saw the gold set: for the others the shipped figures
        # are already out-of-sample, and a gold-fitted rule is not what ships
        out["cross_fitted"] = {key: m | {"rule_fitted_on_gold": False}
                               for key, m in figures(crossed).items() if key in tuned}
        for key in wanted:
            if key in tuned and key in scored:
                out["calibration"][key]["cross_fitted"] = calibration(key, scored[key])
    return out


# --------------------------------------------------------------------------------------------
# A whole run


def machine() -> dict[str, Any]:
    """CPU model (lscpu), core count and load average, for the report header."""
    model = platform.processor() or platform.machine()
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
        for line in listing.splitlines():
            if line.lower().startswith("model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": model, "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def encoder_training(spec: str) -> dict[str, Any] | None:
    """What a fine-tuned encoder directory says it was trained on (its ``manifest.json``):
    ``{"name", "schemes", "n_texts"}``, or ``None`` for a stock model."""
    import json

    manifest = Path(spec) / "manifest.json"
    if not manifest.is_file():
        return None
    meta = json.loads(manifest.read_text())
    prefixes = {"al": ACTION_LINES, "sdg": SDGS, "gdc": GDC}
    per_scheme = meta.get("texts_per_scheme") or {}
    return {"name": meta.get("name", Path(spec).name),
            "schemes": sorted(prefixes.get(k, k) for k, n in per_scheme.items() if n),
            "n_texts": int(meta.get("n_texts", sum(per_scheme.values())))}


@dataclass
class EvaluationRun:
    """What ``wsis evaluate`` produced: per-scheme results, the gold set and the run header."""

    schemes: dict[str, dict[str, Any]]
    gold: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)


def run_evaluation(
    settings: Any, embedder: Any, schemes: Sequence[str], config: EvalConfig | None = None,
    progress: Progress | None = None,
) -> EvaluationRun:
    """Every evaluation of the requested schemes (GDC has only the gold set).

    Raises:
        WsisError: the data directory lacks the labelled data.
    """
    from nlp import data as datasets
    from nlp.errors import DataMissingError
    from nlp.taxonomy import load_taxonomy

    config = config or EvalConfig()
    if not datasets.data_available(settings.data_dir):
        raise DataMissingError(f"no labelled data in {settings.data_dir}; set WSIS_DATA_DIR")
    started, before = time.time(), machine()
    taxonomy = load_taxonomy(settings.taxonomy_dir, settings.data_dir)
    cache_dir = settings.embedding_cache_dir
    evaluators = {ACTION_LINES: evaluate_action_lines, SDGS: evaluate_sdgs}
    results = {}
    for scheme in schemes:
        if scheme in evaluators:
            if progress:
                progress(f"[{scheme}] evaluating ...")
            results[scheme] = evaluators[scheme](embedder, taxonomy, settings.data_dir,
                                                 cache_dir, progress=progress, config=config,
                                                 held_out=True)
    keys = [key for scheme in schemes for key in GOLD_SCHEME_KEYS.get(scheme, ())]
    gold = evaluate_gold(settings, embedder, keys, progress)
    after = machine()
    run = {
        "mode": "smoke" if config.is_smoke else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "cpu": before["cpu"], "cores": before["cores"],
        "load_average_start": before["load_average"], "load_average_end": after["load_average"],
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "encoder_training": encoder_training(getattr(settings, "tagging_model_spec", "")),
        "jobs": config.jobs,
        "config": {"folds": config.folds, "per_source": config.per_source,
                   "max_held_out": config.max_held_out, "seed": config.seed},
        "fits": {"computed": sum(r["fits"]["computed"] for r in results.values()),
                 "from_cache": sum(r["fits"]["from_cache"] for r in results.values()),
                 "cache": str(config.fit_cache) if config.fit_cache else None},
    }
    return EvaluationRun(results, gold, run)
