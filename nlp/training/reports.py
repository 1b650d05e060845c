"""Evaluation reports (Markdown, JSON, confusion plots) and model cards."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy
from nlp.training.evaluate import SYSTEMS


def headline(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        s: {k: round(result["systems"][s][k], 4)
            for k in ("top1", "top3", "macro_f1", "micro_f1", "macro_f1_top1")}
        for s in SYSTEMS
    }


def markdown_table(result: dict[str, Any]) -> str:
    rows = ["| system | top-1 | top-3 | macro-F1 | micro-F1 | macro-F1 (top-1 label) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for s in SYSTEMS:
        m = result["systems"][s]
        rows.append(f"| {s} | {m['top1']:.3f} | {m['top3']:.3f} | {m['macro_f1']:.3f} | "
                    f"{m['micro_f1']:.3f} | {m['macro_f1_top1']:.3f} |")
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
    ax.set_ylabel("true")
    ax.set_title(f"{result['scheme']} ({system}), cross-validated")
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


def summary_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The headline figures of every scheme side by side (one row per system)."""
    cols: list[tuple[str, Callable[[str], float | None]]] = []
    al, sdg = results.get(ACTION_LINES), results.get(SDGS)
    if al:
        for key, name in (("top1", "top-1"), ("top3", "top-3"), ("macro_f1", "macro-F1")):
            cols.append((f"Action Lines {name}",
                         lambda s, k=key: al["systems"][s][k]))  # type: ignore[index]
    if sdg:
        cols.append(("SDG goals macro-F1", lambda s: sdg["systems"][s]["macro_f1"]))
        if "cross_source" in sdg:
            cols.append(("SDG goals macro-F1, cross-source",
                         lambda s: sdg["cross_source"]["systems"][s]["macro_f1"]))
    if not cols:
        return []
    lines = ["## Summary", "", "| system | " + " | ".join(c for c, _ in cols) + " |",
             "| --- |" + " --- |" * len(cols)]
    for system in SYSTEMS:
        lines.append(f"| {system} | " + " | ".join(f"{fn(system):.3f}" for _, fn in cols) + " |")
    return lines


def write_reports(results: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write ``tagger-eval.json``, ``tagger-eval.md`` and a confusion PNG per scheme."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "tagger-eval.json", "md": out_dir / "tagger-eval.md"}
    paths["json"].write_text(json.dumps(results, indent=2))
    lines = ["# Tagger evaluation", "",
             ("Cross-validated; each system is calibrated on its own training folds only. "
              "`macro-F1` uses the calibrated per-label thresholds (multi-label decisions); "
              "`macro-F1 (top-1 label)` scores the single best label per text."), ""]
    lines += summary_table(results) + [""]
    for scheme, result in results.items():
        png = confusion_png(result, out_dir / f"confusion-{scheme}.png")
        paths[f"png-{scheme}"] = png
        lines += [f"## {scheme}", "", (f"Embedding: `{result['embedding']['name']}`. "
                                       f"Evaluation set: {result['eval_set']}."), "",
                  markdown_table(result), "",
                  f"Stacker weights of the trained system per fold: {result['mix_per_fold']}",
                  ""]
        if "cross_source" in result:
            cross = result["cross_source"]
            lines += ["### Cross-source generalisation", "", cross["eval_set"] + ".", "",
                      markdown_table(cross), ""]
        lines += ["### Per label (trained)", "", per_label_table(result), "",
                  f"![confusion]({png.name})", ""]
    paths["md"].write_text("\n".join(lines))
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
    lines += ["", "## Method", "",
              ("Each text is embedded once. Every label has a prototype (mean embedding of its "
              "taxonomy title, summary, scope items and keywords; SDG goals add their targets, "
              "SDG targets add indicators and JRC/Aurora keywords); its cosine is standardised "
              "per label over background texts. Where labelled data exists, three supervised "
              "components are added: a one-vs-rest logistic head on the embedding, a "
              "similarity-weighted vote of the 15 nearest labelled examples, and a TF-IDF "
              "logistic head. A pooled logistic stacker fitted on 5-fold out-of-fold component "
              "logits weighs them and calibrates the sum to [0, 1]; each label's threshold "
              "maximises F1 on the out-of-fold scores, shrunk toward the scheme-wide optimum "
              "by its number of positives."), ""]
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
        if "cross_source" in metrics:
            lines += ["", "Cross-source (trained without the evaluation sentences):", "",
                      markdown_table(metrics["cross_source"])]
    else:
        lines.append("No labelled evaluation data for this scheme.")
    lines += ["", "## Limits", ""]
    limits = {
        ACTION_LINES: "Trained on short WSIS Prizes project descriptions (truncated at ~254 "
                      "characters) and Plan of Action text; policy prose of other styles may "
                      "score lower. C7 is scored as the best of its sub-lines.",
        SDGS: "Goal head trained on single-label sentences of mixed origin; SDG target scores "
              "are zero-shot (prototype) scores calibrated on only ~140 Matrix rationales and "
              "are only marked predicted when their goal is.",
        "gdc": "The GDC taxonomy is partial; there is no labelled GDC text, so scores are "
               "zero-shot and thresholds come from a rule transferred from Action Lines. Treat "
               "GDC tags as suggestions. Sections without commitments are scored from titles.",
    }
    lines.append(limits.get(scheme, ""))
    lines.append("Labels are suggestions for a human reviewer, not decisions.")
    return "\n".join(lines) + "\n"
