"""Cross-validated evaluation of the taggers beside a zero-shot and a TF-IDF baseline.

Action Lines are evaluated on the WSIS Prizes 2021 projects (stratified folds; every other
source stays in training). SDG goals are evaluated on the SDG sentences (stratified folds) and,
to measure generalisation across sources, by training without any SDG sentence and testing on
all of them. Each system is calibrated only on its own training folds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.taxonomy import ACTION_LINES, SDGS, Taxonomy

Progress = Callable[[str], None]
SYSTEM_COMPONENTS = {
    "zero-shot": ("prototype", "keyword"),
    "trained": ("prototype", "keyword", "head", "knn", "lexical"),
    "tfidf-baseline": ("lexical",),
}
SYSTEMS = tuple(SYSTEM_COMPONENTS)


@dataclass
class FoldPredictions:
    labels: list[str]
    y: np.ndarray  # (n, L) bool
    proba: dict[str, np.ndarray]  # system -> (n, L)
    pred: dict[str, np.ndarray]  # system -> (n, L) bool


def classification_metrics(
    labels: Sequence[str], y: np.ndarray, proba: np.ndarray, pred: np.ndarray
) -> dict[str, Any]:
    """Multi-label and ranking figures for single-label test data.

    ``macro_f1`` / ``micro_f1`` use the calibrated thresholds (multi-label decisions);
    ``macro_f1_top1`` uses the single best label per text. ``top1`` / ``top3`` are the share
    of texts whose true label is ranked first / in the first three.
    """
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = y.argmax(axis=1)
    ranks = np.argsort(-proba, axis=1)
    top1 = float(np.mean(ranks[:, 0] == truth))
    top3 = float(np.mean([truth[i] in ranks[i, :3] for i in range(len(truth))]))
    present = np.flatnonzero(y.any(axis=0))
    p, r, f, support = precision_recall_fscore_support(y, pred, zero_division=0)
    top1_pred = np.zeros_like(y)
    top1_pred[np.arange(len(y)), ranks[:, 0]] = True
    return {
        "n": len(y),
        "top1": top1,
        "top3": top3,
        "macro_f1": float(np.mean(f[present])),
        "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
        "macro_f1_top1": float(np.mean(
            precision_recall_fscore_support(y, top1_pred, zero_division=0)[2][present])),
        "mean_labels_predicted": float(pred.sum(axis=1).mean()),
        "per_label": {
            labels[j]: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
                        "support": int(support[j])}
            for j in present
        },
        "confusion_top1": _confusion(truth, ranks[:, 0], len(labels)).tolist(),
    }


def _confusion(truth: np.ndarray, guess: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=int)
    for t, g in zip(truth, guess):
        matrix[t, g] += 1
    return matrix


def _run_systems(
    ids: list[str],
    protos: np.ndarray,
    train_texts: list[str], train_vectors: np.ndarray, train_y: np.ndarray,
    test_texts: list[str], test_vectors: np.ndarray,
    calibrate: np.ndarray | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Fit the three systems on the training part and score the test part."""
    from nlp.train import fit_layer

    proba, pred, info = {}, {}, {}
    for system, components in SYSTEM_COMPONENTS.items():
        fit = fit_layer(ids, train_vectors, train_y, protos, train_texts, components,
                        calibrate=calibrate, keywords=keywords)
        proba[system] = fit.layer.proba(test_vectors, test_texts)
        pred[system] = proba[system] >= fit.layer.thresholds
        if system == "trained":
            info["mix"] = {k: round(v, 3) for k, v in fit.layer.mix.items()}
    return proba, pred, info


def cross_validate(
    ids: list[str],
    protos: np.ndarray,
    examples: Sequence[Any],
    vectors: np.ndarray,
    eval_source: str,
    n_folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> tuple[FoldPredictions, list[dict[str, float]]]:
    """Stratified k-fold over the examples of ``eval_source``; all other examples always train."""
    from sklearn.model_selection import StratifiedKFold

    from nlp.train import calibration_mask, label_matrix

    y_all = label_matrix(ids, examples)
    mask = calibration_mask(examples)
    eval_idx = np.array([i for i, e in enumerate(examples) if e.source == eval_source])
    other_idx = np.array([i for i, e in enumerate(examples) if e.source != eval_source], int)
    strata = y_all[eval_idx].argmax(axis=1)
    n = len(eval_idx)
    proba = {s: np.zeros((n, len(ids))) for s in SYSTEMS}
    pred = {s: np.zeros((n, len(ids)), bool) for s in SYSTEMS}
    blends = []
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    texts = [e.text for e in examples]
    for k, (tr, te) in enumerate(splitter.split(np.zeros(n), strata), start=1):
        train = np.concatenate([other_idx, eval_idx[tr]])
        test = eval_idx[te]
        p, d, info = _run_systems(
            ids, protos, [texts[i] for i in train], vectors[train], y_all[train],
            [texts[i] for i in test], vectors[test], mask[train], keywords,
        )
        for s in SYSTEMS:
            proba[s][te], pred[s][te] = p[s], d[s]
        blends.append(info["mix"])
        if progress:
            progress(f"fold {k}/{n_folds} done (mix {info['mix']})")
    return FoldPredictions(ids, y_all[eval_idx], proba, pred), blends


def _summarise(fp: FoldPredictions) -> dict[str, Any]:
    return {s: classification_metrics(fp.labels, fp.y, fp.proba[s], fp.pred[s]) for s in SYSTEMS}


def evaluate_action_lines(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
) -> dict[str, Any]:
    """Action Lines on the WSIS Prizes 2021 projects (18 classes), k-fold."""
    from nlp.train import EmbeddingCache, action_line_examples, build_prototypes

    cache = EmbeddingCache(cache_dir, embedder)
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    ids = [lab.id for lab in labels]
    protos = build_prototypes(cache, taxonomy, ACTION_LINES, labels)
    examples = action_line_examples(data_dir, taxonomy)
    vectors = cache.encode([e.text for e in examples], show_progress=progress is not None)
    keywords = {lab.id: list(lab.keywords) for lab in labels}
    fp, blends = cross_validate(ids, protos, examples, vectors, "wsis-prizes-2021", n_folds,
                                seed, progress, keywords)
    return {
        "scheme": ACTION_LINES,
        "eval_set": "wsis-prizes-2021 (title + description), stratified "
                    f"{n_folds}-fold; other sources always in training",
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": ids,
        "mix_per_fold": blends,
        "systems": _summarise(fp),
    }


def evaluate_sdgs(
    embedder: Any, taxonomy: Taxonomy, data_dir: Path, cache_dir: Path | None = None,
    n_folds: int = 5, seed: int = 0, progress: Progress | None = None,
) -> dict[str, Any]:
    """SDG goals on the SDG sentences: k-fold, plus train-without-sentences (cross-source)."""
    from nlp.train import (
        EmbeddingCache,
        build_prototypes,
        calibration_mask,
        label_matrix,
        sdg_goal_examples,
        sdg_goal_keywords,
    )

    cache = EmbeddingCache(cache_dir, embedder)
    goals = taxonomy.sdg_goals
    ids = [g.id for g in goals]
    protos = build_prototypes(cache, taxonomy, SDGS, goals)
    examples = sdg_goal_examples(data_dir)
    vectors = cache.encode([e.text for e in examples], show_progress=progress is not None)
    keywords = sdg_goal_keywords(taxonomy, data_dir)
    fp, blends = cross_validate(ids, protos, examples, vectors, "qu-sdg-sentences", n_folds,
                                seed, progress, keywords)
    # Cross-source: train on taxonomy texts and Matrix rationales only, test on every sentence.
    is_eval = np.array([e.source == "qu-sdg-sentences" for e in examples])
    y = label_matrix(ids, examples)
    texts = [e.text for e in examples]
    p, d, info = _run_systems(
        ids, protos, [t for t, m in zip(texts, is_eval) if not m], vectors[~is_eval], y[~is_eval],
        [t for t, m in zip(texts, is_eval) if m], vectors[is_eval],
        calibration_mask(examples)[~is_eval], keywords,
    )
    cross = FoldPredictions(ids, y[is_eval], p, d)
    return {
        "scheme": SDGS,
        "eval_set": f"qu-sdg-sentences, stratified {n_folds}-fold; targets, indicators and "
                    "Matrix rationales always in training",
        "embedding": {"name": embedder.name, "dimension": embedder.dimension},
        "labels": ids,
        "mix_per_fold": blends,
        "systems": _summarise(fp),
        "cross_source": {
            "eval_set": "all qu-sdg-sentences; trained only on SDG target/indicator texts and "
                        "WSIS-SDG Matrix rationales",
            "mix": info["mix"],
            "systems": _summarise(cross),
        },
    }


# --------------------------------------------------------------------------------------------
# Reports


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
