"""What an evaluation runs: the systems, the held-out sources, the decision objectives and how
much to evaluate (:class:`EvalConfig`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nlp.tagging.scoring import COMPONENTS
from nlp.taxonomy import ACTION_LINES, GDC, SDGS

Progress = Callable[[str], None]

# The "plain baseline": a logistic head on the frozen embedding, stacked and
# thresholded like the others (the independent evaluation put it level with the v1 model).
BASELINE_SYSTEM = "embedding-lr-baseline"
SYSTEM_COMPONENTS: dict[str, tuple[str, ...]] = {
    "zero-shot": ("prototype", "keyword"),
    "trained": COMPONENTS,
    "tfidf-baseline": ("lexical",),
    BASELINE_SYSTEM: ("head",),
}
SYSTEMS = tuple(SYSTEM_COMPONENTS)
SUPERVISED = ("head", "knn", "lexical")
# The decision objective each trainer uses (see nlp.training.trainers).
OBJECTIVES = {ACTION_LINES: "micro_f1", SDGS: "decision_accuracy"}
# Action Line sources held out in turn: the WSIS Prizes projects (the genre of the independent
# Prizes evaluation) and the Compact's paragraphs (policy prose, labelled here).
AL_HELD_OUT_SOURCES = ("wsis-prizes-2021", "gdc-text")
# SDG sources held out in turn, in report order.
SDG_HELD_OUT_SOURCES = (
    "qu-sdg-sentences", "trail22-un", "trail22-paper", "trail22-additional",
    "dpg-descriptions", "dpg-evidence", "gdc-text", "sdg-indicators",
    "wsis-sdg-matrix-rationale", "sdg-targets",
)
# Goal prototypes are built from the target texts, and the goal keywords are the targets' own
# JRC and Aurora keywords: scored against them, a target text meets itself. Its row is
# reported with the prototype component left out, but kept out of the mean.
PROTOTYPE_TEXT_SOURCES = frozenset({"sdg-targets"})
# Pooling weights the evaluation scores (share of the best sentence or clause in a text's
# score, nlp.tagging.scoring.pool_scores; 0: the text whole) and selects among, nested.
POOL_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
# A further rule: the text's decisions at weight 0.5 plus every segment's own decisions (a
# label one clause carries on its own is tagged even when the text's pooled score is low).
UNION_RULE = "union"
POOL_RULES = (*(str(w) for w in POOL_WEIGHTS), UNION_RULE)
MIN_SOURCE_SIZE = 20  # fit.source_folds: smaller sources are never held out
HEAD_C = 1.0  # fit_layer's default inverse regularisation of the embedding heads
# Gold-set output keys reported for each scheme.
GOLD_SCHEME_KEYS = {ACTION_LINES: ("action_lines",), SDGS: ("sdgs",),
                    GDC: ("gdc", "gdc_commitments", "gdc_principles")}


@dataclass(frozen=True)
class EvalConfig:
    """How much to evaluate.

    Args:
        folds: outer folds of the in-source k-fold.
        per_source: keep at most this many texts of each source (``None``: all).
        max_held_out: hold out at most this many SDG sources (``None``: every eligible one).
        seed: for folds and subsampling.
        jobs: worker processes for model fitting and stacking (1: in this process).
        fit_cache: folder of the :class:`FitCache` (``None``: fit everything afresh).
    """

    folds: int = 5
    per_source: int | None = None
    max_held_out: int | None = None
    seed: int = 0
    jobs: int = 1
    fit_cache: Path | None = None

    @classmethod
    def smoke(cls, jobs: int = 1, fit_cache: Path | None = None) -> EvalConfig:
        """The CI path: 3 folds, 60 texts per source, 2 held-out SDG sources."""
        return cls(folds=3, per_source=60, max_held_out=2, jobs=jobs, fit_cache=fit_cache)

    @property
    def is_smoke(self) -> bool:
        return self.per_source is not None or self.max_held_out is not None
