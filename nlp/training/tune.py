"""Decision rules fitted on in-domain, multi-label passages (the gold set).

The per-label thresholds of a layer come from held-out *sources* of mostly single-label
training text; on policy passages, which serve several lines and goals at once, they are too
strict. Three numbers per layer are therefore refitted on hand-labelled passages of the
founding documents (``corpus/gold/``): the floor that lets the top label through, one shift
of every label's threshold, and the cap on labels per text. Per-label thresholds keep their
held-out-source values; only those three are fitted here, so a hundred passages suffice.

Evaluation never scores a passage with a rule fitted on it: :func:`cross_fit_gold` fits on
the passages of some documents and scores the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nlp.tagging.evidence import Segments
from nlp.tagging.scoring import ScoringLayer
from nlp.tagging.taggers import Scores, Tagger, score_together
from nlp.training.decision import (
    Decision,
    decision_accuracy,
    decision_candidates,
    fit_decision,
    strongest_wrong,
)
from nlp.training.fit import fit_platt
from nlp.training.gold import GoldPassage, gold_matrix

# layer (tagger output key) -> gold field it is fitted on
GOLD_LAYER_FIELDS = {"action_lines": "action_lines", "sdgs": "sdgs",
                     "gdc_commitments": "gdc_commitments", "gdc_principles": "gdc_principles"}
# Layers whose scores are also recalibrated on the gold passages (``ScoringLayer.score_map``),
# with the gold field they are fitted on ("gdc_sections": the sections of the gold
# commitments, as the labelling guide derives objectives). The GDC layers have no labelled
# source of their own: their zero-shot calibration comes from the Compact's wording scored
# against itself, which put a predicted principle at a score of 0.000002 and predicted
# commitments at a mean of 0.18 for a precision of 0.41. The Action Line and SDG layers keep
# the calibration of their held-out sources, which also holds for text unlike the founding
# documents.
GOLD_CALIBRATED_FIELDS = {"gdc": "gdc_objectives", "gdc_sections": "gdc_sections",
                          "gdc_commitments": "gdc_commitments",
                          "gdc_principles": "gdc_principles"}


@dataclass(frozen=True)
class GoldFit:
    key: str
    decision: Decision | None  # None: scores recalibrated, no rule fitted
    n_passages: int
    score_map: tuple[float, float] = (1.0, 0.0)


def gold_labels(gold: Sequence[GoldPassage], key: str, labels: Sequence[str],
                parents: dict[str, str]) -> np.ndarray:
    """Gold matrix of a calibrated layer (:data:`GOLD_CALIBRATED_FIELDS`); GDC sections are
    the parents of the gold commitments."""
    field = GOLD_CALIBRATED_FIELDS[key]
    if field != "gdc_sections":
        return gold_matrix(gold, field, labels)
    column = {lab: j for j, lab in enumerate(labels)}
    y = np.zeros((len(gold), len(labels)), bool)
    for i, passage in enumerate(gold):
        for commitment in passage.labels("gdc_commitments"):
            j = column.get(parents.get(commitment, ""))
            if j is not None:
                y[i, j] = True
    return y


def _micro_f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = float((pred & y).sum())
    return 2 * tp / max(float(pred.sum() + y.sum()), 1.0)


def _objective(key: str, layer: ScoringLayer, parents: dict[str, str],
               gold_objectives: np.ndarray | None
               ) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """Score of a decision on the gold passages: micro-F1 of the layer, plus for GDC
    commitments the micro-F1 of the objectives they imply (objective tags follow from them)."""
    objectives = sorted({parents.get(parents.get(lab, ""), "") for lab in layer.labels} - {""})
    to_objective = np.zeros((len(layer.labels), len(objectives)), bool)
    for j, lab in enumerate(layer.labels):
        objective = parents.get(parents.get(lab, ""), "")
        if objective:
            to_objective[j, objectives.index(objective)] = True

    def score(proba: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> float:
        value = _micro_f1(pred, truth)
        if key == "gdc_commitments" and gold_objectives is not None:
            implied = (pred.astype(np.int32) @ to_objective.astype(np.int32)) > 0
            value = (value + _micro_f1(implied, gold_objectives)) / 2
        return value

    return score


def fit_gold_decisions(
    tagger: Tagger, vectors: np.ndarray, gold: Sequence[GoldPassage],
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
    segments: Sequence[Segments] | None = None,
) -> dict[str, GoldFit]:
    """Refit floor, threshold shift and cap of the tagger's gold-labelled layers in place,
    and the score map of the layers in :data:`GOLD_CALIBRATED_FIELDS`.

    Rules are fitted on the stacker's own scores (any earlier map is undone first), so a
    refit gives the rule it always gave; the map is fitted after, on the same passages, and
    moves the thresholds and floor with the scores.

    Args:
        tagger: a trained tagger: its layers' thresholds are the held-out-source ones, or
            they carry them in ``source_thresholds`` (a rule was fitted before).
        vectors: the gold passages embedded with the tagger's encoder.
        gold: the gold passages (row-aligned with ``vectors``).
        held_out: optional ``(proba, y)`` of held-out-source predictions of the same layer
            (SDGs): the rule then also has to keep the per-(text, goal) decision accuracy
            on other sources, so it does not overfit the founding documents' genre.
    """
    texts = [g.text for g in gold]
    parents: dict[str, str] = tagger.manifest.get("parents", {})
    out: dict[str, GoldFit] = {}
    for key, layer in tagger.layers.items():
        if key in GOLD_LAYER_FIELDS or key in GOLD_CALIBRATED_FIELDS:
            layer.remap(1.0, 0.0)
    for key, layer in tagger.layers.items():
        field = GOLD_LAYER_FIELDS.get(key)
        if field is None or not layer.labels:
            continue
        y = gold_matrix(gold, field, layer.labels)
        if not y.any():
            continue
        gold_objectives = None
        if key == "gdc_commitments":
            objective_ids = sorted({parents.get(parents.get(lab, ""), "")
                                    for lab in layer.labels} - {""})
            gold_objectives = gold_matrix(gold, "gdc_objectives", objective_ids)
        proba = tagger.layer_proba(layer, vectors, texts, segments)
        score = _objective(key, layer, parents, gold_objectives)
        # the held-out-source thresholds, also when the layer already carries a gold rule
        # (a cross-fit copy of a shipped tagger), so a refit never builds on an earlier one
        base = np.asarray(layer.thresholds if layer.source_thresholds is None
                          else layer.source_thresholds, dtype=np.float64)
        if held_out is not None and key == "sdgs":
            decision = _fit_two_sets(proba, y, *held_out, base, score)
        else:
            decision = fit_decision(proba, y, base, score)
        layer.source_thresholds = base
        layer.thresholds = decision.thresholds
        layer.floor, layer.cap = decision.floor, decision.cap
        layer.threshold_source = [
            s.split("; decision")[0] + f"; decision rule (floor {decision.floor:.3f}, shift "
            f"{decision.shift:+.2f}, cap {decision.cap}) fitted on {len(gold)} gold passages"
            for s in layer.threshold_source]
        out[key] = GoldFit(key, decision, len(gold))
    # maps come after every rule, so each rule is fitted on the stacker's own scores
    for key, layer in tagger.layers.items():
        if key not in GOLD_CALIBRATED_FIELDS or not layer.labels or layer.pool:
            continue
        y = gold_labels(gold, key, layer.labels, parents)
        if not y.any():
            continue
        a, b = fit_platt(layer.logits(np.asarray(vectors, np.float32), texts), y)
        if a <= 0:
            continue  # scores that do not rise with the gold labels: keep the old meaning
        layer.remap(a, b)
        note = (f"; scores recalibrated on {len(gold)} gold passages (thresholds and floor "
                "moved with them)")
        layer.threshold_source = [s.split("; scores recalibrated")[0] + note
                                  for s in layer.threshold_source]
        fitted = out.get(key)
        out[key] = GoldFit(key, fitted.decision if fitted else None, len(gold), (a, b))
    return out


def _fit_two_sets(proba: np.ndarray, y: np.ndarray, other_proba: np.ndarray,
                  other_y: np.ndarray, base: np.ndarray,
                  score: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> Decision:
    """The rule maximising the mean of gold micro-F1 and held-out-source decision accuracy."""
    best: Decision | None = None
    other_y = np.asarray(other_y, bool)
    wrong = strongest_wrong(other_proba, other_y)
    for shifted, floor, cap, shift in decision_candidates(proba, base):
        pred = ScoringLayer.apply_decision(proba, shifted, floor, cap)
        other = ScoringLayer.apply_decision(other_proba, shifted, floor, cap)
        value = (score(proba, y, pred)
                 + decision_accuracy(other_proba, other_y, other, wrong)) / 2
        if best is None or value > best.score + 1e-9:
            best = Decision(shifted, floor, cap, shift, "gold micro-F1 + held-out decision "
                            "accuracy", value)
    assert best is not None
    return best


def document_folds(gold: Sequence[GoldPassage], n_folds: int = 2
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gold passages split by source document into ``n_folds`` groups of similar size."""
    docs: dict[str, list[int]] = {}
    for i, passage in enumerate(gold):
        docs.setdefault(passage.doc_file, []).append(i)
    buckets: list[list[int]] = [[] for _ in range(n_folds)]
    for _, rows in sorted(docs.items(), key=lambda kv: -len(kv[1])):
        min(buckets, key=len).extend(rows)
    all_rows = np.arange(len(gold))
    return [(np.setdiff1d(all_rows, np.array(b)), np.array(sorted(b))) for b in buckets if b]


def cross_fit_gold(
    taggers: Sequence[Tagger], vectors: np.ndarray, gold: Sequence[GoldPassage],
    n_folds: int = 2, held_out: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    segments: Sequence[Segments] | None = None,
) -> list[dict[str, set[str]]]:
    """Predicted labels per gold passage, each from a decision rule fitted on the passages of
    OTHER documents (:func:`document_folds`); the taggers themselves are left unchanged.

    Returns:
        ``predicted[i]`` maps every output key to the labels predicted for ``gold[i]``
        (the parent ``C7`` is dropped: the gold set labels C7's sub-lines only).
    """
    return predicted_labels(
        cross_fit_gold_scores(taggers, vectors, gold, n_folds, held_out, segments), len(gold))


def predicted_labels(scored: dict[str, Scores], n: int
                     ) -> list[dict[str, set[str]]]:
    """Per row, the labels each key predicts (``C7`` dropped), from
    :func:`cross_fit_gold_scores`."""
    predicted: list[dict[str, set[str]]] = [{} for _ in range(n)]
    for key, (labels, _, pred) in scored.items():
        for i in range(n):
            predicted[i][key] = {labels[j] for j in np.flatnonzero(pred[i])} - {"C7"}
    return predicted


def cross_fit_gold_scores(
    taggers: Sequence[Tagger], vectors: np.ndarray, gold: Sequence[GoldPassage],
    n_folds: int = 2, held_out: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    segments: Sequence[Segments] | None = None,
) -> dict[str, Scores]:
    """:func:`cross_fit_gold` as scores: ``{key: (labels, scores (n, L), predicted (n, L))}``
    for every output key, each passage's row from taggers whose rules (and score maps) were
    fitted on the passages of other documents."""
    import copy

    texts = [g.text for g in gold]
    out: dict[str, Scores] = {}
    for train, test in document_folds(gold, n_folds):
        # one copy of each tagger per fold, refitted before any is scored: a tagger that
        # follows another's decisions (GDC sections linked to Action Lines) then reads the
        # fold's refitted copy, not the shipped one whose rule saw these passages
        memo: dict[int, object] = {}
        fitted = [copy.deepcopy(tagger, memo) for tagger in taggers]
        for tagger in fitted:
            fit_gold_decisions(tagger, vectors[train], [gold[i] for i in train],
                               (held_out or {}).get(tagger.scheme),
                               [segments[i] for i in train] if segments else None)
        by_scheme = {t.scheme: t for t in fitted}
        for tagger in fitted:
            tagger.link(by_scheme)
        scored = score_together(fitted, vectors[test], [texts[i] for i in test],
                                [segments[i] for i in test] if segments else None)
        for key, (labels, scores, pred) in scored.items():
            if key not in out:
                out[key] = (list(labels), np.zeros((len(gold), len(labels))),
                            np.zeros((len(gold), len(labels)), bool))
            out[key][1][test] = scores
            out[key][2][test] = pred
    return out
