"""Evaluation reports (Markdown, JSON, confusion plots) and model cards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.scoring import COMPONENTS, POOL_WEIGHT
from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy
from nlp.training.cards import card_section
from nlp.training.evaluation.config import BASELINE_SYSTEM, SYSTEMS, UNION_RULE

SCHEME_NAMES = {ACTION_LINES: "Action Lines", SDGS: "SDG goals"}
HEADLINE = ("top1", "top3", "precision", "recall", "micro_f1", "macro_f1", "macro_f1_top1",
            "decision_accuracy")
# (column title, metric key) of the decision tables
COLUMNS = (("P", "precision"), ("R", "recall"), ("micro-F1", "micro_f1"),
           ("macro-F1", "macro_f1"), ("top-1", "top1"), ("decision acc.", "decision_accuracy"))
DEFINITIONS = (
    "P, R and micro-F1 score the multi-label decisions (per-label thresholds, top-label floor "
    "and cap, as the shipped taggers decide) over every (text, label) pair; macro-F1 averages "
    "per-label F1 over the labels present in the scored texts; top-1 / top-3: the text's first "
    "gold label is ranked first / among the first three; decision accuracy: each text's gold "
    "labels as positives and as many of its highest-scored other labels as negatives, share "
    "decided correctly (`nlp.training.decision.decision_accuracy`); labels/text: mean labels "
    "predicted per text (gold in brackets)."
)


def headline(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """In-source figures of each system, rounded (for summaries and ``wsis train``)."""
    return {s: {k: round(result["systems"][s][k], 4) for k in HEADLINE if k in result["systems"][s]}
            for s in SYSTEMS}


def _f(value: float) -> str:
    return f"{value:.3f}"


def _row(name: str, m: dict[str, Any], extra: Sequence[str] = ()) -> str:
    cells = [name, *extra, *(_f(m[key]) for _, key in COLUMNS)]
    cells.append(f"{m['mean_labels_predicted']:.2f} ({m['mean_gold_labels']:.2f})")
    return "| " + " | ".join(cells) + " |"


def _head(first: str, extra: Sequence[str] = ()) -> list[str]:
    titles = [first, *extra, *(t for t, _ in COLUMNS), "labels/text"]
    return ["| " + " | ".join(titles) + " |", "|" + " --- |" * len(titles)]


def markdown_table(result: dict[str, Any]) -> str:
    """One row per system: n, top-3 and the decision figures (in-source result)."""
    rows = _head("system", ("n", "top-3"))
    for s in SYSTEMS:
        m = result["systems"][s]
        rows.append(_row(s, m, (str(m["n"]), _f(m["top3"]))))
    return "\n".join(rows)


def per_label_table(result: dict[str, Any], system: str = "trained") -> str:
    rows = ["| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for label, m in result["systems"][system]["per_label"].items():
        rows.append(f"| {label} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | "
                    f"{m['support']} |")
    return "\n".join(rows)


def confusion_png(result: dict[str, Any], path: Path, system: str = "trained") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(result["systems"][system]["confusion_top1"])
    labels = result["labels"]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("top-1 predicted")
    ax.set_ylabel("first gold label")
    ax.set_title(f"{result['scheme']} ({system}), in-source k-fold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# The report


def _held_out_name(result: dict[str, Any]) -> str:
    held = result["held_out"]
    if held["kind"] == "leave-one-source-out":
        return (f"leave-one-source-out, mean of "
                f"{held['mean']['systems']['trained']['sources']} sources")
    return held["kind"]


def summary_rows(results: dict[str, dict[str, Any]], gold: dict[str, Any] | None
                 ) -> list[tuple[str, str, dict[str, Any]]]:
    """``(evaluation, system, figures)`` of the trained system in every evaluation, then the
    shipped taggers on the gold set."""
    rows = []
    weights = (gold or {}).get("pool_weights") or {}
    for scheme, result in results.items():
        name = SCHEME_NAMES.get(scheme, scheme)
        rows.append((f"{name}, in-source k-fold", "trained", result["systems"]["trained"]))
        if result.get("pooling"):
            # nested, not the shipped weight's row: a weight may have been chosen on these
            # very out-of-fold scores (section 5 says which)
            rows.append((f"{name}, in-source k-fold", "trained, pooled (w chosen per fold)",
                         result["pooling"]["nested"]))
        if "held_out" in result:
            rows.append((f"{name}, {_held_out_name(result)}", "trained",
                         result["held_out"]["mean"]["systems"]["trained"]))
            held = result["held_out"].get("pooling")
            shipped = _shipped_rule(held, weights.get(scheme))
            if shipped:
                label = f"trained, pooled as shipped (w {float(shipped):g}; see section 5)"
                rows.append((f"{name}, {_held_out_name(result)}", label, held["mean"][shipped]))
    if gold and gold.get("available"):
        for key, m in gold["keys"].items():
            crossed = gold.get("cross_fitted", {}).get(key)
            rows.append((f"gold set, `{key}`", "shipped, rule cross-fitted" if crossed
                         else "shipped", crossed or m))
    return rows


def _shipped_rule(pooling: dict[str, Any] | None, weight: float | None) -> str | None:
    """The key of the pooling table's rule that the shipped layer uses, if it was scored."""
    if not pooling or weight is None:
        return None
    table = pooling.get("by_weight") or pooling.get("mean") or {}
    return next((key for key in table if key != UNION_RULE and abs(float(key) - weight) < 1e-9),
                None)


def summary_figures(results: dict[str, dict[str, Any]], gold: dict[str, Any] | None
                    ) -> dict[str, dict[str, dict[str, float]]]:
    """``{evaluation: {system or key: {figure: value}}}`` for the CLI and ``--json``."""
    keep = (*HEADLINE, "n")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scheme, result in results.items():
        name = SCHEME_NAMES.get(scheme, scheme)
        out[f"{name}, in-source k-fold"] = headline(result)
        if "held_out" in result:
            out[f"{name}, {_held_out_name(result)}"] = {
                s: {k: round(v, 4) for k, v in m.items() if k in keep}
                for s, m in result["held_out"]["mean"]["systems"].items()}
    if gold and gold.get("available"):
        for title, block in (("gold set, shipped taggers", gold["keys"]),
                             ("gold set, decision rule cross-fitted by document",
                              gold.get("cross_fitted", {}))):
            if block:
                out[title] = {
                    key: {"precision": round(m["precision"], 4), "recall": round(m["recall"], 4),
                          "micro_f1": round(m["f1"], 4), "macro_f1": round(m["macro_f1"], 4)}
                    for key, m in block.items()}
    return out


def _run_header(run: dict[str, Any] | None) -> list[str]:
    if not run:
        return [("Figures from `wsis train` (in-source k-fold only; `wsis evaluate all` runs "
                "every table)."), ""]
    load_start, load_end = run["load_average_start"], run["load_average_end"]
    command = "wsis evaluate all" + (" --smoke" if run["mode"] == "smoke" else "")
    return [
        (f"- Run: {run['started']}, **{run['mode']}** (`{command}`; folds {run['config']['folds']}"
        f", texts per source {run['config']['per_source'] or 'all'}, worker processes "
        f"{run['jobs']})"),
        f"- Wall time: **{run['wall_seconds'] / 60:.1f} min** ({run['wall_seconds']:.0f} s)",
        (f"- Machine: {run['cpu']}, {run['cores']} cores (shared); load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{', '.join(f'{x:.2f}' for x in load_end)} at the end"),
        f"- Embedding model: `{run['embedding']['name']}` ({run['embedding']['dimension']}-d)",
        *_encoder_line(run.get("encoder_training")),
        *_fits_line(run.get("fits")),
        "",
    ]


def _encoder_line(trained: dict[str, Any] | None) -> list[str]:
    if not trained:
        return []
    schemes = ", ".join(SCHEME_NAMES.get(s, s) for s in trained["schemes"]) or "no scheme"
    return [(f"- **Fine-tuned encoder:** `{trained['name']}` was trained on {trained['n_texts']} "
             f"labelled texts of {schemes} (its manifest), evaluation texts included; the "
             f"encoder is not refitted per split, so {schemes} figures are optimistic")]


def _fits_line(fits: dict[str, Any] | None) -> list[str]:
    if not fits:
        return []
    line = (f"- Supervised component fits (head, kNN bank, TF-IDF head per training set): "
            f"{fits['computed']} computed in this run")
    if fits.get("from_cache"):
        line += (f", {fits['from_cache']} read from the fit cache of an earlier run "
                 "(same texts, vectors, labels and fitting code), so the wall time above "
                 "excludes them")
    return [line]


def _in_source_section(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## 1. In-source k-fold", ""]
    for scheme, result in results.items():
        lines += [f"### {SCHEME_NAMES.get(scheme, scheme)}", "",
                  f"Scored: {result['eval_set']}.", "",
                  f"Thresholds and model selection: {result['selection']}.", "",
                  markdown_table(result), "",
                  f"Stacker weights of the trained system per fold: {result['mix_per_fold']}",
                  ""]
    return lines


def _loso_table(held: dict[str, Any]) -> list[str]:
    lines = _head("held-out source", ("n", "train"))
    for name, r in held["sources"].items():
        mark = " †" if r.get("note") else ""
        lines.append(_row(f"{name}{mark}", r["systems"]["trained"],
                          (str(r["n"]), str(r["n_train"]))))
    mean = held["mean"]["systems"]["trained"]
    left_out = [name for name, r in held["sources"].items() if not r.get("in_mean", True)]
    label = f"**mean of {mean['sources']}**" + (" (without †)" if left_out else "")
    lines.append(_row(label, mean, (str(mean["n"]), "")))
    notes = [f"† {name}: {r['note']}." for name, r in held["sources"].items() if r.get("note")]
    return lines + ([""] + notes if notes else [])


def _loso_comparison(held: dict[str, Any]) -> list[str]:
    """Per held-out source: micro-F1 and decision accuracy of each system, and the trained
    system's gain over the embedding + logistic-regression baseline."""
    systems = [s for s in SYSTEMS if all(s in r["systems"] for r in held["sources"].values())]
    if BASELINE_SYSTEM not in systems:
        return []
    head = ["held-out source", *(f"{s} F1 / dec. acc." for s in systems),
            f"trained - {BASELINE_SYSTEM} (F1)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, r in held["sources"].items():
        cells = [f"{r['systems'][s]['micro_f1']:.3f} / "
                 f"{r['systems'][s].get('decision_accuracy', float('nan')):.3f}"
                 for s in systems]
        gain = (r["systems"]["trained"]["micro_f1"]
                - r["systems"][BASELINE_SYSTEM]["micro_f1"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {gain:+.3f} |")
    return lines


def _held_out_section(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## 2. Held-out sources", ""]
    found = False
    for scheme, result in results.items():
        if "held_out" not in result:
            continue
        found = True
        held = result["held_out"]
        lines += [f"### {SCHEME_NAMES.get(scheme, scheme)}: {held['kind']}", "",
                  f"Thresholds and model selection: {held['selection']}.", ""]
        if held["kind"] == "leave-one-source-out":
            lines += ["Trained system, per held-out source:", "", *_loso_table(held), ""]
            comparison = _loso_comparison(held)
            if comparison:
                lines += ["Every system per held-out source (micro-F1 / decision accuracy):", "",
                          *comparison, ""]
            lines += ["Every system, unweighted mean over the held-out sources:", ""]
        lines += _head("system")
        for system in SYSTEMS:
            lines.append(_row(system, held["mean"]["systems"][system]))
        mixes = {name: r["mix"] for name, r in held["sources"].items()}
        lines += ["", f"Stacker weights of the trained system: {mixes}", ""]
    if not found:
        lines += ["Not run (`wsis train` evaluates in-source only; run `wsis evaluate all`).", ""]
    return lines


def _gold_section(gold: dict[str, Any] | None) -> list[str]:
    lines = ["## 3. Gold set", ""]
    if gold is None:
        return lines + [("Not run (`wsis train` evaluates in-source only; run "
                        "`wsis evaluate all`)."), ""]
    if not gold.get("available"):
        return lines + [f"**Gold set not scored:** {gold.get('reason', 'gold set not found')}.",
                        ""]
    tuned = [key for key, m in gold["keys"].items() if m.get("rule_fitted_on_gold")]
    lines += [(f"The shipped taggers ({', '.join(f'`{p}`' for p in gold['models'].values())}) "
               f"tag the {gold['n_passages']} hand-labelled passages of "
               "`corpus/gold/tagging-gold.jsonl`; their predicted labels are scored per output "
               "key (`nlp.training.gold.score_gold`; the parent `C7` is dropped, the gold set "
               "labels its sub-lines). The 95 % interval of micro-F1 is a percentile bootstrap over "
               "passages (2,000 resamples, `nlp.training.gold.bootstrap_f1_interval`): with "
               "about a hundred passages, differences inside it are not evidence."), ""]
    if tuned:
        lines += [(f"**In-sample warning:** the decision rule (floor, threshold shift, cap) of "
                   f"{', '.join(f'`{k}`' for k in tuned)} was fitted on these gold passages "
                   "(model manifest `decision_rule`; for keys whose decisions follow from "
                   "another layer's, such as GDC objectives from commitments and from the "
                   "Action Lines linked to their sections, that layer's rule), so the rows "
                   "marked in-sample are "
                   "optimistic. The rows marked cross-fitted refit that rule on the passages "
                   "of the other documents (`nlp.training.tune.cross_fit_gold`, 2 document "
                   "folds, without the held-out-source term the trainer adds for SDGs) and "
                   "score each passage with a rule that never saw it."), ""]
    else:
        lines += [("Thresholds and decision rules as shipped: none was fitted on the gold "
                   "passages (no gold `decision_rule` in the model manifests)."), ""]
    lines += [("| key (gold field) | rule | passages | gold labels | predicted labels | P | R "
               "| micro-F1 | 95 % interval | macro-F1 |"), "|" + " --- |" * 10]
    rows = [(key, m, "in-sample" if m.get("rule_fitted_on_gold") else "shipped")
            for key, m in gold["keys"].items()]
    rows += [(key, m, "cross-fitted") for key, m in gold.get("cross_fitted", {}).items()]
    for key, m, rule in rows:
        lines.append(f"| `{key}` ({m['gold_field']}) | {rule} | {m['n_passages']} | "
                     f"{m['n_gold_labels']} | {m['n_predicted_labels']} | {_f(m['precision'])} | "
                     f"{_f(m['recall'])} | {_f(m['f1'])} | {_interval(m.get('f1_ci95'))} | "
                     f"{_f(m['macro_f1'])} |")
    if gold.get("not_produced"):
        lines += ["", "Not produced by the shipped taggers (no such layer in the loaded model): "
                  + ", ".join(f"`{k}`" for k in gold["not_produced"]) + "."]
    return lines + _calibration_lines(gold.get("calibration") or {}) + [""]


def _calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """The gold section's calibration table (``evaluate_gold``'s ``calibration``)."""
    if not calibration:
        return []
    intro = ("Do the scores mean what they say? Over the same passages: the mean score of the "
             "predicted labels beside their precision (close for a calibrated tagger), and the "
             "log loss and Brier score of every (passage, label) pair. Action Line and SDG "
             "scores are calibrated on held-out sources; GDC scores on the gold passages "
             "(`ScoringLayer.score_map`, fitted with the decision rule, so the cross-fitted "
             "rows fit it on the other documents' passages).")
    lines = ["", intro, "", ("| key | scores | predicted | mean score of predicted | "
                             "precision | log loss | Brier |"), "|" + " --- |" * 7]
    for key, kinds in calibration.items():
        for kind, m in kinds.items():
            lines.append(f"| `{key}` | {kind.replace('_', '-')} | {m['n_predicted']} | "
                         f"{_f(m['mean_predicted_score'])} | {_f(m['precision'])} | "
                         f"{m['log_loss']:.4f} | {m['brier']:.4f} |")
    return lines


def _interval(bounds: Sequence[float] | None) -> str:
    return f"{_f(bounds[0])}-{_f(bounds[1])}" if bounds else "–"


def ablation_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(row name, figures)``: the trained system, then one row per component removed."""
    mean = result["held_out"]["mean"]
    return [("— (all five components)", mean["systems"]["trained"])] + [
        (f"without {c}", mean["ablation"][c]) for c in COMPONENTS]


def _ablation_section(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## 4. Ablation on held-out sources", "",
             ("The trained system with one scoring component removed at a time, on the "
              "held-out splits of section 2 (stacker, thresholds, floor and cap refitted each "
              "time on the training sources only). A component earns its place when removing "
              "it lowers the held-out figures."), ""]
    found = False
    for scheme, result in results.items():
        if "held_out" not in result:
            continue
        found = True
        rows = ablation_rows(result)
        base = rows[0][1]
        lines += [f"### {SCHEME_NAMES.get(scheme, scheme)} ({_held_out_name(result)})", "",
                  *_head("removed component"), ]
        lines[-2] = lines[-2][:-1] + "| Δ micro-F1 | Δ decision acc. |"
        lines[-1] += " --- | --- |"
        for name, m in rows:
            delta = (f"{m['micro_f1'] - base['micro_f1']:+.3f}",
                     f"{m['decision_accuracy'] - base['decision_accuracy']:+.3f}")
            lines.append(_row(name, m)[:-1] + f"| {delta[0]} | {delta[1]} |")
        mixes = [r["mix"] for r in result["held_out"]["sources"].values()]
        kept = ", ".join(f"{c} {sum(c in mix for mix in mixes)}/{len(mixes)}"
                         for c in COMPONENTS)
        lines += ["", (f"Held-out splits whose trained stacker kept each component (a component "
                       f"with a negative weight is dropped, so removing it changes nothing): "
                       f"{kept}."), ""]
    if not found:
        lines += ["Not run (`wsis train` evaluates in-source only; run `wsis evaluate all`).", ""]
    return lines


def _weight_name(rule: str, shipped: float | None = None, short: bool = False) -> str:
    if rule == UNION_RULE:
        return (UNION_RULE if short
                else f"{UNION_RULE}: text (w {POOL_WEIGHT:g}) or a segment's own decision")
    w = float(rule)
    if short:
        return f"w {w:g}"
    name = "whole text (0)" if w == 0 else f"pooled, weight {w:g}"
    return name + (" — shipped" if shipped is not None and abs(w - shipped) < 1e-9 else "")


def _pooling_section(results: dict[str, dict[str, Any]],
                     shipped: dict[str, float] | None = None) -> list[str]:
    """The trained system with each text's sentences and clauses pooled into its scores as
    the shipped layers do, at each weight, in-source and on held-out sources."""
    lines = ["## 5. Pooling sentences and clauses", "",
             ("The trained system of sections 1 and 2 with each test text's sentences and clauses "
              "(embedded as the taggers embed them) scored by the same split's model and pooled "
              "into the text's scores: score = (1 - w) * text + w * max(text, best segment) "
              "(`nlp.tagging.scoring.pool_scores`); decisions by the split's own rule. "
              "Nested rows choose w without the scored fold or source. The shipped weights"
              + (" (" + ", ".join(f"{SCHEME_NAMES.get(k, k)} {v:g}" for k, v in shipped.items())
                 + ")" if shipped else "")
              + " were chosen on these rows (nlp/training/schemes/common.py), so a row at a "
              "shipped weight is not independent of that choice (the held-out Prizes scores the "
              "same 180 projects as the Prizes folds): the nested rows are the figures, and the "
              "gold set (section 3), never used to choose, is the check."), ""]
    found = False
    for scheme, result in results.items():
        pooling = result.get("pooling")
        held = (result.get("held_out") or {}).get("pooling")
        if not pooling and not held:
            continue
        found = True
        mark = (shipped or {}).get(scheme)
        name = SCHEME_NAMES.get(scheme, scheme)
        if pooling:
            lines += [f"### {name}, in-source k-fold", "", *_head("pooling", ("top-3",))]
            for w, m in pooling["by_weight"].items():
                lines.append(_row(_weight_name(w, mark), m, (_f(m["top3"]),)))
            nested = pooling["nested"]
            lines += [_row(f"nested (w per fold: {nested['chosen']})", nested,
                           (_f(nested["top3"]),)), "", f"Selection: {pooling['selection']}.", ""]
        if held:
            lines += [f"### {name}, {_held_out_name(result)}", "", *_head("pooling")]
            for w, m in held["mean"].items():
                lines.append(_row(_weight_name(w, mark), m))
            if held["nested"]:
                chosen = {n: r["weight"] for n, r in held["nested"]["per_source"].items()}
                lines += [_row("nested", held["nested"]["mean"]), "",
                          f"Selection: {held['selection']}; weights chosen: {chosen}.", ""]
            else:
                lines += ["", f"Selection: {held['selection']}.", ""]
            if held["nested"] and len(held["per_source"]) > 1:
                weights = list(held["mean"])
                head = ["held-out source", *(_weight_name(w, short=True) for w in weights),
                        "nested (rule)"]
                lines += ["micro-F1 / decision accuracy per held-out source:", "",
                          "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
                for source, per in held["per_source"].items():
                    nested = held["nested"]["per_source"][source]
                    cells = [f"{per[w]['micro_f1']:.3f} / {per[w]['decision_accuracy']:.3f}"
                             for w in weights]
                    cells.append(f"{nested['micro_f1']:.3f} / "
                                 f"{nested['decision_accuracy']:.3f} "
                                 f"({_weight_name(nested['weight'], short=True)})")
                    lines.append(f"| {source} | " + " | ".join(cells) + " |")
                lines.append("")
    if not found:
        lines += ["Not run (the evaluated data had no segments).", ""]
    return lines


def render_markdown(results: dict[str, dict[str, Any]], run: dict[str, Any] | None = None,
                    gold: dict[str, Any] | None = None,
                    pngs: dict[str, Path] | None = None,
                    pool_weights: dict[str, float] | None = None) -> str:
    """The whole report as Markdown (``pool_weights``: the shipped layers' pooling weight
    per scheme, marked in section 5)."""
    lines = ["# Tagger evaluation", "", *_run_header(run),
             ("Every figure comes from texts the scored model never saw, and every choice made "
              "from data (stacker weights, per-label thresholds, top-label floor, cap) is made "
              "inside each split on held-out predictions of its training part only; how, is "
              "said under each table. The cross-validated tables (1, 2, 4) score each text "
              "whole; the shipped Action Line and SDG layers also pool the scores of a text's "
              "sentences and clauses, which the gold-set table (3) includes and section 5 "
              "measures on the cross-validated splits. "
              + DEFINITIONS), ""]
    rows = summary_rows(results, gold)
    if rows:
        lines += ["## Summary", "", *_head("evaluation", ("system",))]
        for evaluation, system, m in rows:
            if "micro_f1" not in m:  # gold rows: no ranking figures
                m = m | {"micro_f1": m["f1"], "top1": float("nan"),
                         "decision_accuracy": float("nan"),
                         "mean_labels_predicted": m["n_predicted_labels"] / max(m["n_passages"], 1),
                         "mean_gold_labels": m["n_gold_labels"] / max(m["n_passages"], 1)}
            lines.append(_row(evaluation, m, (system,)).replace("nan", "–"))
        lines.append("")
    lines += _in_source_section(results)
    lines += _held_out_section(results)
    lines += _gold_section(gold)
    lines += _ablation_section(results)
    lines += _pooling_section(results, pool_weights)
    lines += ["## Per label (in-source k-fold, trained system)", ""]
    for scheme, result in results.items():
        lines += [f"### {SCHEME_NAMES.get(scheme, scheme)}", "", per_label_table(result), ""]
        if pngs and scheme in pngs:
            lines += [f"![confusion]({pngs[scheme].name})", ""]
    return "\n".join(lines)


def write_reports(results: dict[str, dict[str, Any]], out_dir: Path,
                  run: dict[str, Any] | None = None,
                  gold: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``tagger-eval.json``, ``tagger-eval.md`` and a confusion PNG per scheme.

    Args:
        results: ``{scheme: result}`` of
            :func:`nlp.training.evaluation.systems.evaluate_action_lines` / ``evaluate_sdgs``.
        out_dir: the report folder (created).
        run: the run header (:class:`nlp.training.evaluation.run.EvaluationRun` ``.run``).
        gold: the gold-set result (:func:`nlp.training.evaluation.run.evaluate_gold`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "tagger-eval.json", "md": out_dir / "tagger-eval.md"}
    pngs = {scheme: confusion_png(result, out_dir / f"confusion-{scheme}.png")
            for scheme, result in results.items()}
    paths["json"].write_text(json.dumps({"run": run, "schemes": results, "gold": gold},
                                        indent=1))
    paths["md"].write_text(render_markdown(results, run, gold, pngs,
                                           (gold or {}).get("pool_weights")))
    paths.update({f"png-{scheme}": png for scheme, png in pngs.items()})
    return paths


def model_card(tagger: Any, taxonomy: Taxonomy) -> str:
    """README.md for a saved model directory: data, method, metrics, limits."""
    m = tagger.manifest
    scheme = tagger.scheme
    lines = [f"# {scheme} tagger ({m.get('version', '')})", "",
             f"- Embedding model: `{tagger.embedding['name']}` ({tagger.embedding['dimension']}-d)",
             (f"- Taxonomy version: `{m.get('taxonomy_version')}` "
              f"(fingerprint `{m.get('taxonomy_fingerprint')}`)"),
             f"- Training mode: {m.get('training_mode')}",
             f"- Feedback examples: {m.get('n_feedback_examples', 0)}", ""]
    lines += ["## Data", ""]
    if m.get("training_sources"):
        for source, n in m["training_sources"].items():
            lines.append(f"- `{source}`: {n} examples")
    else:
        lines.append("- No labelled data: prototypes from the taxonomy only.")
    if m.get("training_data"):
        lines += ["", "Data files (SHA-256):", ""]
        lines += [f"- `{k}`: `{v[:16]}…`" for k, v in m["training_data"].items()]
    if m.get("training_labels"):
        lines += ["", "Labels written for this project, joined to the data by id (SHA-256):", ""]
        lines += [f"- `{k}`: `{v[:16]}…`" for k, v in m["training_labels"].items()]
    lines += ["", "## Method", "",
              ("Each text is embedded once. Every label has a prototype (mean embedding of its "
              "taxonomy title, summary, scope items and keywords; SDG goals add their targets, "
              "SDG targets add indicators and JRC/Aurora keywords); its cosine is standardised "
              "per label over background texts. Where labelled data exists, three supervised "
              "components are added: a one-vs-rest logistic head on the embedding, a "
              "similarity-weighted vote of the 15 nearest labelled examples, and a TF-IDF "
              "logistic head. A pooled logistic stacker fitted on out-of-source component "
              "logits (each source held out in turn; WSIS Prizes projects in five groups) "
              "weighs them and calibrates the sum to [0, 1]; each label's threshold maximises "
              "F1 on those held-out scores, shrunk toward the scheme-wide optimum by its number "
              "of positives. Decisions fit multi-label text: the top label is predicted when "
              "it clears a floor, further labels need their own threshold, and a cap limits "
              "labels per text; floor, one threshold shift and cap are refitted on the "
              "hand-labelled gold passages (`corpus/gold/`; for SDGs jointly with the "
              "held-out-source decision accuracy); GDC scores, which have no held-out source, "
              "are also recalibrated there by a monotone map that moves the thresholds with "
              "them. Action Line and SDG layers also score each "
              "sentence and clause on its own and average the text's score with the best "
              "of them (a passage serving C2 in one clause and C4 in the next)."), ""]
    rule = m.get("decision_rule") or {}
    for key, value in rule.items():
        if "floor" in value:
            lines.append(f"- decision rule `{key}`: floor {value['floor']}, threshold shift "
                         f"{value['threshold_shift']:+}, cap {value['cap'] or 'none'} "
                         f"({value['gold_passages']} gold passages; {value['objective']} "
                         f"{value['objective_value']})")
        if "score_map" in value:
            a, b = value["score_map"]
            lines.append(f"- scores of `{key}` recalibrated on the {value['gold_passages']} "
                         f"gold passages: p = sigmoid({a} * z + {b}), z the stacker's logit "
                         "(thresholds and floor moved with it: no decision changes)")
    if rule:
        lines.append("")
    for name, layer in tagger.layers.items():
        kinds: dict[str, int] = {}
        for source in layer.threshold_source:
            kind = source.split(" (")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        sources = [f"{kind}: {n} labels" for kind, n in sorted(kinds.items())]
        mix = ", ".join(f"{k} {v:.2f}" for k, v in layer.mix.items())
        lines += [(f"- layer `{name}`: {len(layer.labels)} labels, components (stacker "
                   f"weights): {mix}; thresholds {min(layer.thresholds, default=0):.3f}–"
                   f"{max(layer.thresholds, default=0):.3f} ({'; '.join(sources)[:300]})")]
    if m.get("zero_shot_calibration"):
        lines += ["", ("Zero-shot calibration (not calibrated on data of this scheme): "
                       f"{m['zero_shot_calibration']}.")]
    metrics = m.get("metrics")
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += [markdown_table(metrics), "", f"Evaluation set: {metrics['eval_set']}."]
        if metrics.get("selection"):
            lines += ["", f"Thresholds and model selection: {metrics['selection']}."]
        lines += ["", DEFINITIONS, "", ("Held-out-source figures, the ablation and the gold "
                                       "set: `reports/tagger-eval.md` (`wsis evaluate all`).")]
    elif not m.get("evaluation"):
        lines.append("No labelled evaluation data for this scheme.")
    else:
        lines.append("Not cross-validated at training time; see the evaluation below.")
    if m.get("evaluation"):
        lines += ["", *card_section(m["evaluation"])]
    lines += ["", "## Limits", ""]
    limits = {
        ACTION_LINES: "Trained on short WSIS Prizes project descriptions (truncated at ~254 "
                      "characters) and Plan of Action text; policy prose of other styles may "
                      "score lower. C7 is scored as the best of its sub-lines.",
        SDGS: "Most goal training texts carry one goal each (sentences and abstracts), so a "
              "second goal a text also serves counts against it when thresholds are chosen; "
              "only the digital-project descriptions and the Compact's paragraphs are "
              "labelled with every goal they serve. Multi-topic text therefore gets its main "
              "goal more reliably than its others (pooling the scores of its clauses helps "
              "in part). SDG target scores are zero-shot (prototype) scores calibrated on "
              "only ~140 Matrix rationales and are only marked predicted when their goal is.",
        "gdc": "The taxonomy is the complete adopted Compact (125 commitments, 13 "
               "principles), but there is no labelled GDC text beyond the ~100 gold passages: "
               "scores come from prototypes (summaries, keywords and the adopted wording), "
               "calibrated by a self-test on the adopted wording and then on the gold "
               "passages, where the decision rule is refitted too: on other genres of text "
               "the scores may mean less. Section tags follow from commitment tags "
               "and, for the six sections on an Action Line's own subject (`gdc_sections` "
               "in action-lines.yaml), from that line's tag too; objective tags follow "
               "from section tags. Treat GDC tags as suggestions.",
    }
    lines.append(limits.get(scheme, ""))
    lines.append("Labels are suggestions for a human reviewer, not decisions.")
    return "\n".join(lines) + "\n"
