"""Evaluation figures written into the shipped models' manifests and model cards.

``wsis evaluate all`` measures the training *method* (in-source k-fold, held-out sources: the
models it scores are refitted per split) and the shipped taggers themselves (the gold set).
:func:`record_evaluation` copies the headline figures of a full run into each shipped
model's manifest (``evaluation``) and regenerates its card, each figure beside the plain
baseline measured the same way, so a model directory says how well it does without the
report next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlp.taxonomy import ACTION_LINES, GDC, SDGS, Taxonomy
from nlp.training.evaluation.config import BASELINE_SYSTEM as BASELINE
from nlp.training.evaluation.config import GOLD_SCHEME_KEYS

FIGURES = ("top1", "top3", "precision", "recall", "micro_f1", "decision_accuracy")
# the trained system with sentences and clauses pooled, the weight chosen without the scored
# fold or source (the evaluation's nested pooling row)
POOLED = "pooled"


def _pick(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(metrics[k]), 3) for k in FIGURES if metrics.get(k) is not None}


def evaluation_figures(schemes: dict[str, dict[str, Any]], gold: dict[str, Any],
                       run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{scheme: {"run", "in_source", "held_out", "per_source", "gold"}}`` from one run."""
    header = {k: run.get(k) for k in ("started", "mode", "cpu", "cores", "load_average_start",
                                      "embedding")}
    out: dict[str, dict[str, Any]] = {}
    for scheme in (ACTION_LINES, SDGS, GDC):
        entry: dict[str, Any] = {"run": header}
        result = schemes.get(scheme)
        if result:
            entry["in_source"] = {"eval_set": result.get("eval_set"),
                                  **{s: _pick(m) for s, m in result["systems"].items()
                                     if s in ("trained", BASELINE)}}
            if result.get("pooling"):
                entry["in_source"][POOLED] = _pick(result["pooling"]["nested"])
            held = result.get("held_out")
            if held:
                entry["held_out"] = {"kind": held.get("kind"),
                                     **{s: _pick(m) for s, m in held["mean"]["systems"].items()
                                        if s in ("trained", BASELINE)}}
                nested = (held.get("pooling") or {}).get("nested")
                if nested:
                    entry["held_out"][POOLED] = _pick(nested["mean"])
                entry["per_source"] = {
                    name: {s: round(float(r["systems"][s]["micro_f1"]), 3)
                           for s in ("trained", BASELINE) if s in r["systems"]}
                    | ({POOLED: round(float(nested["per_source"][name]["micro_f1"]), 3)}
                       if nested and name in nested["per_source"] else {})
                    for name, r in held["sources"].items()}
        if gold.get("available"):
            crossed = gold.get("cross_fitted", {})
            scored = {
                key: {"rule": "cross-fitted" if key in crossed else "shipped",
                      **{k: round(float(v), 3) for k, v in
                         (crossed.get(key) or gold["keys"][key]).items()
                         if k in ("precision", "recall", "f1")}}
                for key in GOLD_SCHEME_KEYS[scheme] if key in gold.get("keys", {})}
            if scored:
                entry["gold"] = scored
        if len(entry) > 1:
            out[scheme] = entry
    return out


def _table_head(first: str, pooled: bool) -> list[str]:
    titles = [first, "this method, text whole",
              *(["pooled (w chosen without the scored part)"] if pooled else []),
              "baseline"]
    return ["| " + " | ".join(titles) + " |", "| --- |" + " ---: |" * (len(titles) - 1)]


def card_section(evaluation: dict[str, Any]) -> list[str]:
    """Markdown lines of a model card's evaluation section."""
    run = evaluation.get("run", {})
    lines = ["## Evaluation (`wsis evaluate all`)", "",
             (f"Run {run.get('started')} ({run.get('mode')}), {run.get('cpu')}, "
              f"{run.get('cores')} cores, load average at start {run.get('load_average_start')}. "
              f"Beside each figure: the plain baseline (`{BASELINE}`: a logistic head on the "
              "frozen embedding, stacked and thresholded the same way)."), ""]
    for part, title in (("in_source", "In-source k-fold"), ("held_out", "Held-out sources")):
        block = evaluation.get(part)
        if not block:
            continue
        trained, base = block.get("trained", {}), block.get(BASELINE, {})
        pooled = block.get(POOLED)
        lines += [f"{title} ({block.get('eval_set') or block.get('kind')}):", "",
                  *_table_head("figure", pooled is not None)]
        lines += ["| " + " | ".join([k, f"{trained[k]:.3f}",
                                     *([f"{pooled.get(k, float('nan')):.3f}"] if pooled else []),
                                     f"{base.get(k, float('nan')):.3f}"]) + " |"
                  for k in FIGURES if k in trained]
        lines.append("")
    per_source = evaluation.get("per_source")
    if per_source:
        with_pooled = any(POOLED in v for v in per_source.values())
        lines += ["Micro-F1 per held-out source:", "", *_table_head("source", with_pooled)]
        lines += ["| " + " | ".join([name, f"{v.get('trained', float('nan')):.3f}",
                                     *([f"{v.get(POOLED, float('nan')):.3f}"]
                                       if with_pooled else []),
                                     f"{v.get(BASELINE, float('nan')):.3f}"]) + " |"
                  for name, v in per_source.items()]
        lines.append("")
    gold = evaluation.get("gold")
    if gold:
        lines += ["Gold passages of the founding documents (this model):", "",
                  "| key | rule | P | R | micro-F1 |", "| --- | --- | ---: | ---: | ---: |"]
        lines += [f"| `{key}` | {g['rule']} | {g.get('precision', 0):.3f} | "
                  f"{g.get('recall', 0):.3f} | {g.get('f1', 0):.3f} |" for key, g in gold.items()]
        lines.append("")
    return lines


def record_evaluation(figures: dict[str, dict[str, Any]], models: dict[str, str],
                      taxonomy: Taxonomy, model_card: Callable[[Any, Taxonomy], str],
                      ) -> list[Path]:
    """Write each scheme's figures into its shipped model (manifest ``evaluation`` and the card
    ``model_card`` renders, :func:`nlp.training.reports.model_card`); the model is re-saved
    whole through :meth:`Tagger.save` (one atomic directory swap)."""
    from nlp.tagging.taggers import Tagger

    written = []
    for scheme, path in models.items():
        if scheme not in figures:
            continue
        tagger = Tagger.load(Path(path))
        tagger.manifest["evaluation"] = figures[scheme]
        tagger.manifest["model_card"] = model_card(tagger, taxonomy)
        written.append(tagger.save(Path(path)))
    return written
