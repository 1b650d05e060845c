"""Build taggers: prototypes from the taxonomy, supervised heads from labelled data, blend,
calibration and per-label thresholds chosen on held-out folds.

The per-scheme trainers are in :mod:`nlp.training.schemes`. Entry points:

* :func:`train_scheme` - build one scheme's tagger (from the data directory when present,
  otherwise zero-shot from the taxonomy alone) and optionally save it.
* :func:`ensure_models` - called at service start: returns the saved model directory of every
  scheme, training (and saving) the missing ones first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nlp import data as datasets
from nlp.embed_cache import EmbeddingCache
from nlp.labelled import Example, read_feedback
from nlp.tagging.registry import default_version, find_model, stale_model
from nlp.taxonomy import ACTION_LINES, GDC, SCHEMES, SDGS, Taxonomy, load_taxonomy
from nlp.training.fit import ZeroShotCalibration, zero_shot_calibration
from nlp.training.generic_terms import (
    MAX_SHARE,
    reference_paragraphs,
    without_generic_keywords,
)
from nlp.training.schemes.action_lines import train_action_lines
from nlp.training.schemes.common import TrainResult
from nlp.training.schemes.gdc import train_gdc
from nlp.training.schemes.sdgs import train_sdgs

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


TRAINERS = {ACTION_LINES: train_action_lines, SDGS: train_sdgs, GDC: train_gdc}


def _tune_on_gold(result: TrainResult, cache: EmbeddingCache, gold: Sequence[Any]) -> None:
    """Refit each gold-labelled layer's floor, threshold shift and cap on the gold passages
    (see :mod:`nlp.training.tune`) and record the rule in the manifest."""
    from nlp.training.tune import fit_gold_decisions

    held = None
    fit = result.fits.get("sdgs")
    if fit is not None and fit.calibration_mask is not None and fit.y is not None:
        held = (fit.oof_proba[fit.calibration_mask], fit.y[fit.calibration_mask])
    from nlp.tagging.evidence import encode_with_segments

    vectors, _, segments = encode_with_segments(cache.embedder, [g.text for g in gold],
                                                encode=cache.encode)
    fitted = fit_gold_decisions(result.tagger, vectors, gold, held, segments)
    rules: dict[str, dict[str, Any]] = {}
    for key, f in fitted.items():
        rules[key] = {"gold_passages": f.n_passages}
        if f.decision is not None:
            # the floor as served (on the score map, when there is one); the shift applies to
            # the stacker's own scores, before the map
            rules[key] |= {"floor": round(float(result.tagger.layers[key].floor), 4),
                           "threshold_shift": f.decision.shift, "cap": f.decision.cap,
                           "objective": f.decision.objective,
                           "objective_value": round(f.decision.score, 4)}
        if f.score_map != (1.0, 0.0):
            rules[key]["score_map"] = [round(v, 4) for v in f.score_map]
    result.tagger.manifest["decision_rule"] = rules


def default_gold() -> list[Any]:
    """The repository's gold passages (``corpus/gold/``), or none when the file is missing."""
    from nlp.training.gold import GoldSetError, load_gold

    try:
        return load_gold()
    except (GoldSetError, FileNotFoundError, OSError):
        return []


def train_scheme(
    scheme: str,
    embedder: Any,
    taxonomy: Taxonomy,
    data_dir: Path | None,
    cache_dir: Path | None = None,
    feedback: Sequence[Example] = (),
    out_dir: Path | None = None,
    metrics: dict[str, Any] | None = None,
    zero_shot: ZeroShotCalibration | None = None,
    gold: Sequence[Any] | None = None,
) -> TrainResult:
    """Train one scheme's tagger; save it to ``out_dir`` when given.

    Args:
        scheme: ``"action-lines"``, ``"sdgs"`` or ``"gdc"``.
        embedder: the embedding model (its name and dimension go into the manifest).
        taxonomy: loaded with :func:`nlp.taxonomy.load_taxonomy`.
        data_dir: third-party data; ``None`` or missing files -> zero-shot from the taxonomy.
        cache_dir: where training-text embeddings are cached (``None``: no cache).
        feedback: extra labelled examples for this scheme.
        out_dir: model directory ``models/<scheme>/<version>`` to write.
        metrics: cross-validated figures to record in the manifest and model card.
    """
    if scheme not in TRAINERS:
        raise ValueError(f"Scheme {scheme!r} is not one of {SCHEMES}")
    cache = EmbeddingCache(cache_dir, embedder)
    specific, generic = without_generic_keywords(taxonomy, reference_paragraphs())
    result = TRAINERS[scheme](cache, specific, data_dir, feedback, zero_shot)
    # Staleness is judged against the taxonomy files, not the filtered copy.
    result.tagger.manifest["taxonomy_fingerprint"] = taxonomy.fingerprint(scheme)
    result.tagger.manifest["generic_keywords_dropped"] = {
        "shares": generic, "max_share": MAX_SHARE,
        "reference": "paragraphs of the bundled founding documents (corpus/wsis20)"}
    if gold:
        _tune_on_gold(result, cache, gold)
    if metrics:
        result.tagger.manifest["metrics"] = metrics
    result.tagger.manifest["n_feedback_examples"] = len(feedback)
    if out_dir is not None:
        from nlp.training.reports import model_card

        result.tagger.manifest["version"] = Path(out_dir).name
        result.tagger.manifest["model_card"] = model_card(result.tagger, taxonomy)
        result.path = result.tagger.save(out_dir)
    return result


def ensure_models(
    settings: Any, embedder: Any, progress: Progress | None = None
) -> dict[str, Path]:
    """Model directory of every scheme, training the missing or outdated ones first.

    Uses the data directory when it holds the training data, otherwise builds zero-shot models
    from the taxonomy alone (and says so through ``progress`` and the log). A GDC or Action
    Line model built from an older taxonomy file is rebuilt (GDC always, being zero-shot;
    Action Lines only when the training data is available), so new GDC commitments appear
    as labels without a manual retrain.

    Returns:
        ``{"action-lines": Path, "sdgs": Path, "gdc": Path}``.
    """
    say = progress or log.info
    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    paths: dict[str, Path] = {}
    todo: dict[str, Path] = {}
    for scheme in SCHEMES:
        found = find_model(settings.model_dirs, scheme, embedder)
        if found is None:
            todo[scheme] = Path(settings.models_dir) / scheme / default_version(embedder)
        elif stale_model(found, scheme, taxonomy) and (scheme == GDC or data_dir is not None):
            say(f"{scheme} taxonomy changed since {found} was built: rebuilding it")
            todo[scheme] = found
        else:
            if stale_model(found, scheme, taxonomy):
                say(f"{scheme} taxonomy changed since {found} was built, but there is no "
                    "training data to rebuild it; run `wsis train` with WSIS_DATA_DIR set")
            paths[scheme] = found
    if not todo:
        return paths
    if data_dir is None and set(todo) - {GDC}:
        say("Tagger models missing and no training data found: building zero-shot models from "
            "the taxonomy alone (set WSIS_DATA_DIR and run `wsis train all` for trained ones).")
    elif data_dir is not None:
        say(f"Building tagger models for {', '.join(todo)} from {data_dir} ...")
    cache_dir = settings.embedding_cache_dir
    zs = zero_shot_calibration(EmbeddingCache(cache_dir, embedder), taxonomy, data_dir)
    for scheme, out in todo.items():
        result = train_scheme(scheme, embedder, taxonomy, data_dir, cache_dir, out_dir=out,
                              gold=default_gold(),
                              zero_shot=zs)
        assert result.path is not None
        paths[scheme] = result.path
        say(f"Built {scheme} tagger at {result.path}")
    return {scheme: paths[scheme] for scheme in SCHEMES}


def run_training(
    settings: Any,
    embedder: Any,
    schemes: Sequence[str] = SCHEMES,
    feedback_path: Path | None = None,
    version: str | None = None,
    with_evaluation: bool = True,
    n_folds: int = 5,
    report_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """What ``wsis train`` does: (evaluate,) train and save each scheme; return a summary.

    Returns:
        ``{"models": {scheme: path}, "metrics": {scheme: headline figures}, "reports": {...},
        "mode": "data" | "zero-shot"}``.
    """
    from nlp.training.evaluation.systems import evaluate_action_lines, evaluate_sdgs
    from nlp.training.reports import headline, write_reports

    say = progress or log.info
    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    cache_dir = settings.embedding_cache_dir
    feedback: dict[str, list[Example]] = {s: [] for s in SCHEMES}
    if feedback_path is not None:
        for scheme, example in read_feedback(feedback_path):
            feedback[scheme].append(example)
        say(f"Feedback: {sum(len(v) for v in feedback.values())} examples from {feedback_path}")
    if data_dir is None:
        say("No training data in the data directory: building zero-shot models from the taxonomy.")
    zs = zero_shot_calibration(EmbeddingCache(cache_dir, embedder), taxonomy, data_dir)
    evaluators = {ACTION_LINES: evaluate_action_lines, SDGS: evaluate_sdgs}
    results: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {"models": {}, "metrics": {}, "reports": {},
                               "mode": "data" if data_dir else "zero-shot"}
    for scheme in schemes:
        metrics = None
        if with_evaluation and data_dir is not None and scheme in evaluators:
            say(f"[{scheme}] cross-validating ({n_folds} folds) ...")
            metrics = evaluators[scheme](embedder, taxonomy, data_dir, cache_dir, n_folds,
                                         progress=say)
            results[scheme] = metrics
            summary["metrics"][scheme] = headline(metrics)
        say(f"[{scheme}] training ...")
        out = Path(settings.models_dir) / scheme / (version or default_version(embedder))
        result = train_scheme(scheme, embedder, taxonomy, data_dir, cache_dir, feedback[scheme],
                              gold=default_gold(),
                              out_dir=out, metrics=metrics, zero_shot=zs)
        summary["models"][scheme] = str(result.path)
        say(f"[{scheme}] saved {result.path}")
    if results and report_dir is not None:
        summary["reports"] = {k: str(v) for k, v in write_reports(results, report_dir).items()}
    return summary
