"""Which fine-tuning recipe for the MiniLM body? Honest held-out numbers, written to Markdown.

Action Lines: 5-fold stratified split of the 180 WSIS Prizes 2021 projects. For each fold the
body is fine-tuned on every Action Line text except that fold's test projects (other Prizes
folds, 2015 titles, Matrix plan paragraphs and rationales, taxonomy texts), a class-balanced
logistic head is fitted on the fine-tuned embeddings of training texts only, and the test fold
is scored (top-1, top-3, macro-F1). The baseline is the same head on the frozen base model.

SDGs, leave-one-source-out: the multi-task body is fine-tuned without one SDG source; a logistic
head fitted on the other sources' embeddings scores the held-out source.

    python bench/finetune_experiments.py al --recipes al4,mt4 --folds 0,1
    python bench/finetune_experiments.py sdg --recipe mt4 --holdout trail22-paper,dpg
    python bench/finetune_experiments.py final --recipe mt4     # models/encoders/wsis-minilm-v1
    python bench/finetune_experiments.py report                 # bench/results/finetune.md

Results accumulate in ``$WSIS_FT_WORK/results.json`` (default /tmp/wsis-finetune), so stages
can run one after another and a rerun skips what is already measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp import data as datasets
from nlp.taxonomy import load_taxonomy

DATA = Path(os.environ.get("WSIS_DATA_DIR", "/work/shared/data"))
WORK = Path(os.environ.get("WSIS_FT_WORK", "/tmp/wsis-finetune"))
RESULTS_JSON = WORK / "results.json"
REPORT = ROOT / "bench" / "results" / "finetune.md"
FINAL_DIR = ROOT / "models" / "encoders" / "wsis-minilm-v1"
# Evaluation embeds at 128 tokens for baseline and fine-tuned bodies alike: the shared 2-core
# machine (load 6-8 from other jobs) made 256-token passes over every body too slow.
EVAL_MAX_LEN = 128
SDG_HEAD_PER_GOAL = 20  # head-training texts per (source, goal), to bound embedding time

AL_SOURCES = ("wsis-prizes-2021", "wsis-projects-2015", "matrix-plan", "matrix-rationale",
              "taxonomy")
SDG_GROUPS = ("qu-sdg-sentences", "trail22-UN", "trail22-paper", "trail22-additional", "dpg",
              "sdg-targets")
FILES = (
    "wsis-stocktaking/wsis-prizes-2021-train.csv", "wsis-stocktaking/wsis-projects-data.csv",
    "wsis-sdg-matrix/actions.json", "qu-sdg-sentences/original_data.csv",
    "sdg-sentences-trail22/sentences.csv", "digital-public-goods/descriptions.csv",
    "digital-public-goods/sdg-evidence.csv", "sdg-taxonomy/global_targets.yml",
    "sdg-taxonomy/global_indicators.yml",
)


@dataclass(frozen=True)
class Item:
    text: str
    labels: frozenset[str]  # namespaced: "al:C4", "sdg:4"
    source: str
    group: str  # leave-one-out unit (SDG) / fold unit (prizes)


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int = 4
    lr: float = 3e-5
    temperature: float = 0.07
    per_label_cap: int = 48
    batch_size: int = 32
    max_seq_length: int = 128
    multitask: bool = False
    note: str = ""


RECIPES = {r.name: r for r in (
    Recipe("al4", note="AL texts only, 4 epochs"),
    Recipe("al2", epochs=2, note="AL only, 2 epochs"),
    Recipe("al8", epochs=8, note="AL only, 8 epochs"),
    Recipe("al4-t05-lr5", temperature=0.05, lr=5e-5, note="AL only, tau 0.05, lr 5e-5"),
    Recipe("mt4", multitask=True, note="AL + SDG texts, one body, 4 epochs"),
    Recipe("mt8", epochs=8, multitask=True, note="AL + SDG texts, 8 epochs"),
    # Affordable on the contended machine (about 2 texts/s at 128 tokens): fewer texts per
    # label per epoch and 80 tokens (a Prizes title + 254-character description fits).
    Recipe("al3", epochs=3, per_label_cap=24, max_seq_length=80,
           note="AL only, 3 epochs, 24/label, 80 tokens"),
    Recipe("mt3", epochs=3, per_label_cap=24, max_seq_length=80, multitask=True,
           note="AL + SDG texts, one body, 3 epochs, 24/label, 80 tokens"),
    Recipe("al5-lr5", epochs=5, per_label_cap=32, max_seq_length=64, lr=5e-5,
           temperature=0.1, note="AL only, 5 epochs, 32/label, 64 tokens, lr 5e-5, tau 0.1"),
    Recipe("mt3-t05", epochs=3, per_label_cap=24, max_seq_length=80, multitask=True,
           temperature=0.05, lr=5e-5, note="as mt3 with tau 0.05, lr 5e-5"),
)}


# --------------------------------------------------------------------------------------------
# Data


def al_items() -> list[Item]:
    """Every Action Line text with its label; Matrix rationales also carry their SDG goal."""
    taxonomy = load_taxonomy(ROOT / "corpus" / "taxonomy", DATA)
    out = [Item(x.text, frozenset({f"al:{x.label}"}), x.source, x.id)
           for x in datasets.read_wsis_prizes_2021(DATA)]
    out += [Item(x.text, frozenset({f"al:{x.label}"}), x.source, x.source)
            for x in datasets.read_wsis_projects_2015(DATA)]
    for line in datasets.read_wsis_matrix(DATA):
        out += [Item(t, frozenset({f"al:{line.id}"}), "matrix-plan", "matrix-plan")
                for t in line.plan_items]
        out += [Item(link.rationale, frozenset({f"al:{line.id}", f"sdg:{link.goal}"}),
                     "matrix-rationale", "matrix-rationale")
                for link in line.links if link.rationale]
    for label in taxonomy.action_lines:
        if label.id == "C7":  # the parent; its eight sub-lines carry the labels
            continue
        out += [Item(t, frozenset({f"al:{label.id}"}), "taxonomy", "taxonomy")
                for t in label.prototype_texts()]
    return out


def al_prototype_texts() -> dict[str, list[str]]:
    taxonomy = load_taxonomy(ROOT / "corpus" / "taxonomy", DATA)
    return {lab.id: lab.prototype_texts() for lab in taxonomy.action_lines if lab.id != "C7"}


def sdg_items() -> list[Item]:
    """SDG-labelled texts by leave-one-out group (read from the shared CSVs directly)."""
    out = [Item(x.text, frozenset({f"sdg:{x.label}"}), x.source, "qu-sdg-sentences")
           for x in datasets.read_sdg_sentences(DATA)]
    with open(DATA / "sdg-sentences-trail22/sentences.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            group = f"trail22-{row['origin'] or 'additional'}"
            text = " ".join(row["text"].split())
            if text and row["sdg"].strip().isdigit():
                out.append(Item(text, frozenset({f"sdg:{int(row['sdg'])}"}), group, group))
    with open(DATA / "digital-public-goods/descriptions.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            goals = {g.strip() for g in row["sdgs"].split(";") if g.strip().isdigit()}
            text = " ".join(row["description"].split())
            if text and goals:
                out.append(Item(text, frozenset(f"sdg:{int(g)}" for g in goals),
                                "dpg-descriptions", "dpg"))
    with open(DATA / "digital-public-goods/sdg-evidence.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["evidence_text"].split())
            if text and row["sdg"].strip().isdigit():
                out.append(Item(text, frozenset({f"sdg:{int(row['sdg'])}"}), "dpg-evidence",
                                "dpg"))
    for target, text in datasets.read_sdg_targets(DATA).items():
        out.append(Item(text, frozenset({f"sdg:{target.split('.')[0]}"}), "sdg-targets",
                        "sdg-targets"))
    for target, texts in datasets.read_sdg_indicators(DATA).items():
        out += [Item(t, frozenset({f"sdg:{target.split('.')[0]}"}), "sdg-indicators",
                     "sdg-targets") for t in texts]
    return out


def strip_scheme(items: list[Item], scheme: str) -> list[Item]:
    """Keep only one scheme's labels (drops items left without a label)."""
    out = []
    for it in items:
        labels = frozenset(lab for lab in it.labels if lab.startswith(scheme + ":"))
        if labels:
            out.append(Item(it.text, labels, it.source, it.group))
    return out


def prize_folds(items: list[Item]) -> list[set[str]]:
    from sklearn.model_selection import StratifiedKFold

    prizes = [it for it in items if it.source == "wsis-prizes-2021"]
    y = [next(iter(it.labels)) for it in prizes]
    skf = StratifiedKFold(5, shuffle=True, random_state=0)
    return [{prizes[i].group for i in test} for _, test in skf.split(np.zeros(len(y)), y)]


# --------------------------------------------------------------------------------------------
# Embedding, heads, metrics


class Encoder:
    def __init__(self, path: Path) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(2)
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True).float()
        self.model.max_seq_length = EVAL_MAX_LEN
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.cache}, key=len)
        if missing:
            vecs = self.model.encode(missing, batch_size=64, normalize_embeddings=True,
                                     convert_to_numpy=True)
            self.cache.update(zip(missing, vecs.astype(np.float32), strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384))


def fit_logistic(x: np.ndarray, y: list[str], c: float = 4.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, y)


def ranking_metrics(proba: np.ndarray, classes: list[str], gold: list[str]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    order = np.argsort(-proba, axis=1)
    index = {c: i for i, c in enumerate(classes)}
    g = np.array([index[x] for x in gold])
    top1 = order[:, 0] == g
    top3 = (order[:, :3] == g[:, None]).any(axis=1)
    pred = [classes[i] for i in order[:, 0]]
    return {"top1": float(top1.mean()), "top3": float(top3.mean()),
            "macro_f1": float(f1_score(gold, pred, average="macro", labels=classes,
                                       zero_division=0)), "n": len(gold)}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def al_heads(enc: Encoder, train: list[Item], test: list[Item],
             protos: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Score the test projects with three heads on the same body."""
    gold = [next(iter(it.labels)).removeprefix("al:") for it in test]
    x_test = enc.encode([it.text for it in test])
    out = {}
    base = [it for it in train if it.source != "taxonomy"]
    for head, rows in (("lr", base), ("lr+tax", train)):
        clf = fit_logistic(enc.encode([it.text for it in rows]),
                           [next(iter(it.labels)).removeprefix("al:") for it in rows])
        classes = list(clf.classes_)
        proba = clf.predict_proba(x_test)
        out[head] = ranking_metrics(proba, classes, gold)
        if head == "lr":
            p = np.stack([enc.encode(protos[c]).mean(axis=0) for c in classes])
            p /= np.linalg.norm(p, axis=1, keepdims=True)
            proto = softmax((x_test @ p.T) / 0.05)
            out["lr+proto"] = ranking_metrics(0.5 * proba + 0.5 * proto, classes, gold)
    return out


# --------------------------------------------------------------------------------------------
# Bookkeeping


def load_results() -> dict:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text())
    return {"al": {}, "sdg": {}, "runs": {}}


def save_results(results: dict) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_JSON.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, RESULTS_JSON)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def finetune(items: list[Item], recipe: Recipe, out_dir: Path, **kwargs):
    from nlp.embed import bundled_model_path
    from nlp.training.finetune import finetune_encoder

    state = {"t": time.perf_counter()}

    def progress(p) -> None:
        if p.step == p.steps or time.perf_counter() - state["t"] > 30:
            state["t"] = time.perf_counter()
            print(f"    epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {p.loss:.3f}",
                  flush=True)

    load_before = loadavg()
    result = finetune_encoder(
        [it.text for it in items], [sorted(it.labels) for it in items], bundled_model_path(),
        out_dir, epochs=recipe.epochs, batch_size=recipe.batch_size,
        max_seq_length=recipe.max_seq_length, lr=recipe.lr, temperature=recipe.temperature,
        per_label_cap=recipe.per_label_cap, seed=0, progress=progress, **kwargs)
    run = {"wall_s": round(result.wall_seconds, 1), "steps": result.manifest["steps"],
           "n_texts": result.manifest["n_texts"], "per_scheme": result.manifest["texts_per_scheme"],
           "losses": result.manifest["epoch_losses"], "load_before": load_before,
           "load_after": loadavg()}
    print(f"    fine-tuned in {result.wall_seconds:.0f} s, {run}", flush=True)
    return result, run


# --------------------------------------------------------------------------------------------
# Stages


def stage_al(recipe_names: list[str], folds: list[int],
             sdg_holdout: dict[int, str] | None = None) -> None:
    """Action Line folds; with ``sdg_holdout`` a multi-task fold's body also leaves one SDG
    source out and is scored on it too (one fine-tune serves both held-out evaluations: the
    Prizes test fold and the SDG source are both unseen by that body)."""
    from nlp.embed import bundled_model_path

    results = load_results()
    items_al = al_items()
    folds_ids = prize_folds(items_al)
    protos = al_prototype_texts()
    sdg_all = sdg_items() if any(RECIPES[r].multitask for r in recipe_names if r != "frozen") \
        else []
    sdg_holdout = sdg_holdout or {}
    frozen: Encoder | None = None
    for name in recipe_names:
        for fold in folds:
            key = f"{name}/{fold}"
            if key in results["al"]:
                print(f"{key}: done already", flush=True)
                continue
            test_ids = folds_ids[fold]
            test = [it for it in items_al if it.group in test_ids]
            train = [it for it in items_al if it.group not in test_ids]
            train_al = strip_scheme(train, "al")
            print(f"{key}: {len(train_al)} AL training texts, {len(test)} test", flush=True)
            if name == "frozen":
                frozen = frozen or Encoder(bundled_model_path())
                results["al"][key] = {"heads": al_heads(frozen, train_al, test, protos)}
            else:
                recipe = RECIPES[name]
                held = sdg_holdout.get(fold) if recipe.multitask else None
                ft_items = train if recipe.multitask else train_al
                if recipe.multitask:
                    ft_items = ft_items + [it for it in sdg_all if it.group != held]
                out = WORK / "models" / key.replace("/", "-")
                _, run = finetune(ft_items, recipe, out)
                enc = Encoder(out)
                results["al"][key] = {"heads": al_heads(enc, train_al, test, protos), "run": run}
                if held:
                    run = {**run, "sdg_holdout": held}
                    results["al"][key]["run"] = run
                    head_train, sdg_test = sdg_split(sdg_all, items_al, held)
                    print(f"  {name}/{held}: scoring held-out SDG source ({len(sdg_test)})",
                          flush=True)
                    results["sdg"][f"{name}/{held}"] = {
                        "scores": sdg_scores(enc, head_train, sdg_test),
                        "run": {**run, "shared_with": key}}
                    if f"frozen/{held}" not in results["sdg"]:
                        frozen = frozen or Encoder(bundled_model_path())
                        results["sdg"][f"frozen/{held}"] = {
                            "scores": sdg_scores(frozen, head_train, sdg_test)}
                    print(f"  {name}/{held}: {results['sdg'][f'{name}/{held}']['scores']} "
                          f"frozen {results['sdg'][f'frozen/{held}']['scores']}", flush=True)
                del enc
                shutil.rmtree(out, ignore_errors=True)
            print(f"  {key}: {json.dumps(results['al'][key]['heads'])}", flush=True)
            save_results(results)


def sdg_scores(enc: Encoder, train: list[Item], test: list[Item]) -> dict[str, float]:
    """Logistic head on the training sources, scored on the held-out one.

    Multi-label texts train the head once per goal. For a multi-label held-out set, a
    probability threshold is chosen on 3-fold cross-validated training probabilities (best
    per-(text, goal) F1) and macro-F1 over goals is reported beside top-1 (in the gold set).
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    rows = [(it.text, lab.removeprefix("sdg:")) for it in train for lab in sorted(it.labels)]
    x = enc.encode([t for t, _ in rows])
    y = [lab for _, lab in rows]
    clf = fit_logistic(x, y)
    classes = list(clf.classes_)
    x_test = enc.encode([it.text for it in test])
    proba = clf.predict_proba(x_test)
    gold_sets = [{lab.removeprefix("sdg:") for lab in it.labels} for it in test]
    multi = any(len(g) > 1 for g in gold_sets)
    order = np.argsort(-proba, axis=1)
    top1 = np.mean([classes[o[0]] in g for o, g in zip(order, gold_sets, strict=True)])
    top3 = np.mean([bool({classes[i] for i in o[:3]} & g)
                    for o, g in zip(order, gold_sets, strict=True)])
    out = {"top1": float(top1), "top3": float(top3), "n": len(test)}
    if not multi:
        gold = [next(iter(g)) for g in gold_sets]
        out["macro_f1"] = float(f1_score(gold, [classes[o[0]] for o in order], average="macro",
                                         labels=classes, zero_division=0))
        return out
    # threshold from cross-validated training probabilities (never the held-out source)
    cv = np.zeros((len(rows), len(classes)))
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y):
        part = fit_logistic(x[tr], [y[i] for i in tr])
        cv[np.ix_(te, [classes.index(c) for c in part.classes_])] = part.predict_proba(x[te])
    y_cv = np.zeros_like(cv, dtype=bool)
    y_cv[np.arange(len(y)), [classes.index(v) for v in y]] = True
    grid = np.linspace(0.02, 0.6, 59)
    best = max(grid, key=lambda t: f1_score(y_cv.ravel(), (cv >= t).ravel(), zero_division=0))
    y_true = np.array([[c in g for c in classes] for g in gold_sets])
    pred = proba >= best
    pred[np.arange(len(pred)), order[:, 0]] = True  # every text gets at least its best goal
    out.update({"threshold": float(best),
                "micro_f1": float(f1_score(y_true.ravel(), pred.ravel(), zero_division=0)),
                "macro_f1": float(f1_score(y_true, pred, average="macro", zero_division=0))})
    return out


def sdg_split(sdg_all: list[Item], items_al: list[Item], held: str) -> tuple[list[Item],
                                                                            list[Item]]:
    """(head training texts, held-out test texts) for one left-out SDG group."""
    import random

    test = [it for it in sdg_all if it.group == held]
    if held == "dpg":
        test = [it for it in test if it.source == "dpg-descriptions"]
    rest = [it for it in sdg_all if it.group != held] + strip_scheme(items_al, "sdg")
    by_key: dict[tuple[str, str], list[Item]] = {}
    for it in rest:
        by_key.setdefault((it.source, min(it.labels)), []).append(it)
    rng = random.Random(0)
    head = [x for key in sorted(by_key) for x in rng.sample(by_key[key], min(
        SDG_HEAD_PER_GOAL, len(by_key[key])))]
    return head, test


def stage_sdg(recipe_name: str, holdouts: list[str]) -> None:
    from nlp.embed import bundled_model_path

    results = load_results()
    recipe = RECIPES[recipe_name]
    items_al = al_items()
    sdg_all = sdg_items()
    frozen: Encoder | None = None
    for held in holdouts:
        rest = [it for it in sdg_all if it.group != held]
        head_train, test = sdg_split(sdg_all, items_al, held)
        for name in ("frozen", recipe_name):
            key = f"{name}/{held}"
            if key in results["sdg"]:
                print(f"{key}: done already", flush=True)
                continue
            print(f"{key}: {len(rest)} SDG training texts, {len(test)} held out", flush=True)
            if name == "frozen":
                frozen = frozen or Encoder(bundled_model_path())
                results["sdg"][key] = {"scores": sdg_scores(frozen, head_train, test)}
            else:
                out = WORK / "models" / key.replace("/", "-")
                _, run = finetune(items_al + rest, recipe, out)
                enc = Encoder(out)
                results["sdg"][key] = {"scores": sdg_scores(enc, head_train, test), "run": run}
                shutil.rmtree(out, ignore_errors=True)
            print(f"  {key}: {json.dumps(results['sdg'][key]['scores'])}", flush=True)
            save_results(results)


def stage_final(recipe_name: str) -> None:
    results = load_results()
    recipe = RECIPES[recipe_name]
    items = al_items() + (sdg_items() if recipe.multitask else [])
    if not recipe.multitask:
        items = strip_scheme(items, "al")
    hashes = datasets.dataset_hashes(DATA, FILES)
    counts = Counter(it.source for it in items)
    notes = final_card_notes(results, recipe, counts)
    _, run = finetune(
        items, recipe, FINAL_DIR, data_files=hashes, name="wsis-minilm-v1", card_notes=notes,
        extra_manifest={"recipe_name": recipe.name, "texts_per_source": dict(sorted(
            counts.items())), "metrics": summary_metrics(results, recipe.name)})
    results["runs"]["final"] = {"recipe": recipe.name, **run}
    save_results(results)
    size = subprocess.run(["du", "-sh", str(FINAL_DIR)], capture_output=True, text=True,
                          check=False).stdout
    print(f"final: {FINAL_DIR} {size.split()[0]}", flush=True)


# --------------------------------------------------------------------------------------------
# Report


def fold_mean(results: dict, name: str, head: str, folds: list[int]) -> dict[str, float] | None:
    rows = [results["al"].get(f"{name}/{f}", {}).get("heads", {}).get(head) for f in folds]
    if not rows or any(r is None for r in rows):
        return None
    return {k: float(np.mean([r[k] for r in rows])) for k in ("top1", "top3", "macro_f1")}


def folds_done(results: dict, name: str) -> list[int]:
    return sorted(int(k.split("/")[1]) for k in results["al"] if k.startswith(name + "/"))


def summary_metrics(results: dict, name: str) -> dict:
    out = {}
    folds = folds_done(results, name)
    label = "folds" + "".join(map(str, folds))
    for body in (name, "frozen"):
        for head in ("lr", "lr+tax", "lr+proto"):
            m = fold_mean(results, body, head, folds) if folds else None
            if m:
                key = f"al_prizes2021_{label}_{head}" + ("_frozen" if body == "frozen" else "")
                out[key] = {k: round(v, 4) for k, v in m.items()}
    for key, value in results["sdg"].items():
        if key.startswith(name + "/"):
            out[f"sdg_heldout_{key.split('/', 1)[1]}"] = {
                k: round(v, 4) for k, v in value["scores"].items() if isinstance(v, float)}
    return out


def final_card_notes(results: dict, recipe: Recipe, counts: Counter) -> str:
    lines = ["## Measured (held out; bench/results/finetune.md)", ""]
    folds = folds_done(results, recipe.name)
    for head in ("lr", "lr+proto"):
        m = fold_mean(results, recipe.name, head, folds) if folds else None
        f = fold_mean(results, "frozen", head, folds) if folds else None
        if m and f:
            lines.append(
                f"- WSIS Prizes 2021, 18 Action Lines, fold(s) {folds} of a stratified 5-fold "
                f"split ({36 * len(folds)} projects), head `{head}`: top-1 "
                f"{100 * m['top1']:.1f} / top-3 {100 * m['top3']:.1f} / macro-F1 "
                f"{100 * m['macro_f1']:.1f} (frozen base: {100 * f['top1']:.1f} / "
                f"{100 * f['top3']:.1f} / {100 * f['macro_f1']:.1f})")
    for key, value in sorted(results["sdg"].items()):
        if key.startswith(recipe.name + "/"):
            held = key.split("/", 1)[1]
            s = value["scores"]
            b = results["sdg"].get(f"frozen/{held}", {}).get("scores", {})
            lines.append(f"- SDG goals, held-out source {held}: top-1 {100 * s['top1']:.1f} "
                         f"(frozen {100 * b.get('top1', float('nan')):.1f}), macro-F1 "
                         f"{100 * s['macro_f1']:.1f} (frozen "
                         f"{100 * b.get('macro_f1', float('nan')):.1f})")
    lines += ["", ("These figures come from bodies trained without the scored texts; this "
                   "final body saw all of them, so it must not be scored on them again."), "",
              "Training texts per source: " + ", ".join(f"{k} {v}" for k, v in
                                                        sorted(counts.items()))]
    return "\n".join(lines)


def machine_line() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                      if ln.startswith("Model name")), platform.machine())
    except OSError:
        model = platform.machine()
    return f"{model}; {os.cpu_count()} CPUs visible, shared with two other engineers' jobs"


def pct(m: dict | None, key: str) -> str:
    return "–" if m is None else f"{100 * m[key]:.1f}"


def stage_card() -> None:
    """Rewrite the final body's model card and manifest metrics from the current results."""
    from nlp.training.finetune import model_card, read_manifest

    results = load_results()
    manifest = read_manifest(FINAL_DIR)
    recipe = RECIPES[manifest["recipe_name"]]
    manifest["metrics"] = summary_metrics(results, recipe.name)
    notes = final_card_notes(results, recipe, Counter(manifest["texts_per_source"]))
    for name, text in (("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False)
                        + "\n"), ("README.md", model_card(manifest, notes))):
        tmp = FINAL_DIR / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, FINAL_DIR / name)


def stage_report() -> None:
    results = load_results()
    names = ["frozen", *[n for n in RECIPES if any(k.startswith(n + "/") for k in results["al"])]]
    lines = [
        "# Fine-tuning the MiniLM body (SupCon): held-out results",
        "",
        f"Machine: {machine_line()}. torch threads 2. Generated by "
        + "`bench/finetune_experiments.py`.",
        "",
        "## Action Lines — WSIS Prizes 2021 (180 projects, 18 classes), stratified 5-fold split",
        "",
        ("Each fold's body is fine-tuned without that fold's test projects; the head is a "
        "class-balanced logistic regression (C=4) fitted on the fold's training texts (other "
        "Prizes folds, 2015 titles, Matrix plan paragraphs and rationales; `+tax` also the "
        "taxonomy texts; `+proto` averages its probabilities with a softmax over cosines to the "
        "taxonomy prototypes, tau 0.05). Figures are % means over the folds listed (36 "
        "projects per fold; folds not listed were not run)."),
        "",
        "| recipe | folds | head | top-1 | top-3 | macro-F1 | fine-tune wall s / fold |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    fold_sets: list[list[int]] = []
    for name in names:
        done = sorted(int(k.split("/")[1]) for k in results["al"] if k.startswith(name + "/"))
        if done and done not in fold_sets:
            fold_sets.append(done)
    fold_sets.sort(key=len, reverse=True)
    for folds in fold_sets:
        label = ",".join(map(str, folds))
        for name in names:
            for head in ("lr", "lr+tax", "lr+proto"):
                m = fold_mean(results, name, head, folds)
                if m is None:
                    continue
                walls = [results["al"][f"{name}/{f}"].get("run", {}).get("wall_s")
                         for f in folds]
                wall = "–" if None in walls else f"{np.mean(walls):.0f}"
                lines.append(f"| {name} | {label} | {head} | {pct(m, 'top1')} | "
                             f"{pct(m, 'top3')} | {pct(m, 'macro_f1')} | {wall} |")
    lines += ["", "Recipes: " + "; ".join(
        f"`{r.name}` = {r.note} (lr {r.lr}, tau {r.temperature}, batch {r.batch_size}, "
        f"cap {r.per_label_cap}/label, {r.max_seq_length} tokens)"
        for r in RECIPES.values() if any(k.startswith(r.name + "/") for k in results["al"])
        or any(k.startswith(r.name + "/") for k in results["sdg"])) + ".", ""]
    lines += ["### Per fold (head `lr`)", "", "| recipe | fold | top-1 | top-3 | macro-F1 |",
              "|---|---:|---:|---:|---:|"]
    for key in sorted(results["al"]):
        m = results["al"][key]["heads"]["lr"]
        name, fold = key.split("/")
        lines.append(f"| {name} | {fold} | {pct(m, 'top1')} | {pct(m, 'top3')} | "
                     f"{pct(m, 'macro_f1')} |")
    if results["sdg"]:
        lines += [
            "", "## SDG goals — leave one source out", "",
            ("The body is fine-tuned on all Action Line texts plus every SDG source except the "
            "held-out one; the logistic head is fitted on the remaining SDG sources (and Matrix "
            "rationales). `dpg` holds out the DPG descriptions and the DPG evidence texts (same "
            "nominees) and scores the 739 descriptions: multi-label, top-1 counts a hit when the "
            "best goal is among the declared ones, and per-(text, goal) decisions use a "
            "threshold chosen on cross-validated training probabilities."), "",
            "| held out | body | n | top-1 | top-3 | macro-F1 | micro-F1 | wall s |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
        for key in sorted(results["sdg"],
                          key=lambda k: (k.split("/")[1], k.split("/")[0] != "frozen")):
            name, held = key.split("/")
            s = results["sdg"][key]["scores"]
            run = results["sdg"][key].get("run", {})
            wall = run.get("wall_s", "–")
            if "shared_with" in run:
                wall = f"{wall} (body of {run['shared_with']})"
            lines.append(f"| {held} | {name} | {s['n']} | {pct(s, 'top1')} | {pct(s, 'top3')} | "
                         f"{pct(s, 'macro_f1')} | "
                         f"{pct(s, 'micro_f1') if 'micro_f1' in s else '–'} | {wall} |")
    lines += ["", "## Fine-tuning runs", "",
              "| run | texts | steps | wall s | epoch losses | load avg before → after |",
              "|---|---:|---:|---:|---|---|"]
    runs = [(f"al {k}", v["run"]) for k, v in sorted(results["al"].items()) if "run" in v]
    runs += [(f"sdg {k}", v["run"]) for k, v in sorted(results["sdg"].items())
             if "run" in v and "shared_with" not in v["run"]]
    runs += [(f"final ({v['recipe']})", v) for k, v in results["runs"].items()]
    for label, run in runs:
        if "sdg_holdout" in run:
            label += f" (without {run['sdg_holdout']})"
        lines.append(f"| {label} | {run['n_texts']} | {run['steps']} | {run['wall_s']} | "
                     f"{', '.join(f'{x:.2f}' for x in run['losses'])} | {run['load_before']} → "
                     f"{run['load_after']} |")
    extra = results.get("notes")
    if extra:
        lines += ["", "## Notes", "", extra]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(REPORT.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("al")
    p.add_argument("--recipes", default="frozen,al4")
    p.add_argument("--folds", default="0,1")
    p.add_argument("--sdg-holdout", default="",
                   help="fold:group pairs, e.g. 2:trail22-paper,3:dpg (multi-task recipes)")
    p = sub.add_parser("sdg")
    p.add_argument("--recipe", default="mt4")
    p.add_argument("--holdout", default="trail22-paper,dpg")
    p = sub.add_parser("final")
    p.add_argument("--recipe", default="mt4")
    sub.add_parser("report")
    sub.add_parser("card")
    args = parser.parse_args()
    if args.stage == "al":
        pairs = [p.split(":", 1) for p in args.sdg_holdout.split(",") if p]
        stage_al(args.recipes.split(","), [int(f) for f in args.folds.split(",")],
                 {int(f): g for f, g in pairs})
    elif args.stage == "sdg":
        stage_sdg(args.recipe, args.holdout.split(","))
    elif args.stage == "final":
        stage_final(args.recipe)
    elif args.stage == "card":
        stage_card()
    stage_report()


if __name__ == "__main__":
    main()
