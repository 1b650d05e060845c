"""Does a fine-tuned body lift the whole Action Line tagger, not only a logistic head?

The in-source evaluation of ``wsis evaluate`` (WSIS Prizes 2021, stratified 5-fold, nested
stacking and decision rule) is run fold by fold, each fold on a body fine-tuned without that
fold's test projects: supervised-contrastive on every other Action Line text (other Prizes
folds, 2015 titles, Matrix plan items and rationales, taxonomy scope items), recipe ``al4``
(4 epochs, 48 texts per label per epoch, 128 tokens, lr 3e-5, tau 0.07, seed 0). The same
folds on the base body give the comparison row. Figures go to stdout and to
``$WSIS_FT_WORK/system.json``. ``--alphas`` also scores weight-space averages of each fold's
body with the base (``interpolate_encoder``; 1 is the fine-tuned body itself). Bodies are
deleted after use unless ``--keep``; a kept body is reused by the next run.
``--anchor-weight W`` fine-tunes with unlabelled UN policy prose anchored to the base
embeddings (``finetune_encoder(anchor_texts=...)``).

    python bench/finetune_system.py --folds 0,1,2,3,4 --alphas 0.5,1 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.embed import BUNDLED_MODEL, SentenceTransformerEmbedder, bundled_model_path
from nlp.embed_cache import EmbeddingCache
from nlp.labelled import action_line_examples
from nlp.taxonomy import ACTION_LINES, load_taxonomy
from nlp.training.encoder import policy_anchor_texts
from nlp.training.evaluation.config import OBJECTIVES
from nlp.training.evaluation.metrics import classification_metrics
from nlp.training.evaluation.splits import SchemeData, in_source_splits
from nlp.training.evaluation.systems import SYSTEMS, score_splits, segment_encoder
from nlp.training.finetune import finetune_encoder, interpolate_encoder
from nlp.training.fit import build_prototypes

DATA = Path(os.environ.get("WSIS_DATA_DIR", ROOT.parent / "shared" / "data"))
WORK = Path(os.environ.get("WSIS_FT_WORK", "/tmp/wsis-finetune"))
RECIPE = {"epochs": 4, "per_label_cap": 48, "max_seq_length": 128, "lr": 3e-5,
          "temperature": 0.07, "batch_size": 32, "seed": 0}
POOL = 0.5  # the shipped layers' pooling weight


def scheme_data(embedder, taxonomy, examples) -> SchemeData:
    cache = EmbeddingCache(None, embedder)
    labels = [lab for lab in taxonomy.action_lines if lab.id != "C7"]
    return SchemeData.build(
        ACTION_LINES, [lab.id for lab in labels], examples, cache.encode,
        build_prototypes(cache, taxonomy, ACTION_LINES, labels),
        {lab.id: list(lab.keywords) for lab in labels}, OBJECTIVES[ACTION_LINES],
        segment_encoder(cache, None))


def fold_scores(data: SchemeData, split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    (scored,) = score_splits(data, [split])
    out = {s: scored.stacks[s][:2] for s in SYSTEMS}
    if scored.pooled is not None:
        proba = scored.pooled.proba(POOL)
        out["trained, pooled"] = (proba, scored.pooled.decide(proba))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--alphas", default="1", help="weights of the tuned body, e.g. 0.5,1")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) fold bodies")
    parser.add_argument("--anchor-weight", type=float, default=0.0,
                        help="keep policy prose near the base embeddings (see anchor_texts)")
    args = parser.parse_args()
    anchors = policy_anchor_texts(DATA) if args.anchor_weight > 0 else []
    tag = f"anchor{args.anchor_weight:g}" if anchors else "al4"
    folds = [int(f) for f in args.folds.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    taxonomy = load_taxonomy(ROOT / "corpus" / "taxonomy", DATA)
    examples = action_line_examples(DATA, taxonomy)
    base = scheme_data(SentenceTransformerEmbedder(BUNDLED_MODEL), taxonomy, examples)
    splits = in_source_splits(base.sources, base.primary, base.calibrate, "wsis-prizes-2021", 5,
                              0)
    results: dict[str, dict[str, list]] = {"base": {}, **{body_name(tag, a): {} for a in alphas}}
    runs = []
    for k in folds:
        split = splits[k]
        test = set(split.test.tolist())
        for name, (proba, pred) in fold_scores(base, split).items():
            results["base"].setdefault(name, []).append((k, proba, pred))
        train = [e for i, e in enumerate(examples) if i not in test and e.positive]
        out = WORK / (f"system-body-{k}" if not anchors else f"system-body-{k}-{tag}")
        started = time.time()
        if not (out / "manifest.json").is_file():
            finetune_encoder([e.text for e in train], [[f"al:{lab}" for lab in e.labels]
                                                       for e in train],
                             bundled_model_path(), out, anchor_texts=anchors,
                             anchor_weight=args.anchor_weight, **RECIPE)
        runs.append({"fold": k, "texts": len(train), "wall_s": round(time.time() - started, 1),
                     "load": os.getloadavg()})
        for alpha in alphas:
            body = out
            if alpha < 1:
                body = WORK / f"system-body-{k}-a{round(alpha * 100)}"
                interpolate_encoder(bundled_model_path(), out, alpha, body)
            data = scheme_data(SentenceTransformerEmbedder(str(body)), taxonomy, examples)
            for name, (proba, pred) in fold_scores(data, split).items():
                results[body_name(tag, alpha)].setdefault(name, []).append((k, proba, pred))
            if body != out:
                shutil.rmtree(body, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        print(f"fold {k}: fine-tuned on {len(train)} texts in {runs[-1]['wall_s']} s", flush=True)
        report(base, splits, results, runs)


def body_name(tag: str, alpha: float) -> str:
    return tag if alpha == 1 else f"{tag} x {alpha:g}"


def report(data: SchemeData, splits, results, runs) -> None:
    table = {}
    for body, systems in results.items():
        for name, parts in systems.items():
            rows = np.concatenate([splits[k].test for k, _, _ in parts])
            m = classification_metrics(data.labels, data.y[rows],
                                       np.concatenate([p for _, p, _ in parts]),
                                       np.concatenate([d for _, _, d in parts]),
                                       data.primary[rows], detail=False)
            table[f"{body} / {name}"] = {k: round(float(m[k]), 4) for k in
                                        ("top1", "top3", "micro_f1", "macro_f1", "n")}
            per_fold = []
            for k, p, _ in parts:
                t = splits[k].test
                per_fold.append(round(float(np.mean(p.argmax(1) == data.primary[t])), 3))
            table[f"{body} / {name}"]["top1_per_fold"] = per_fold
    for key, m in table.items():
        print(f"  {key:32s} top-1 {m['top1']:.3f} top-3 {m['top3']:.3f} micro-F1 "
              f"{m['micro_f1']:.3f} per fold {m['top1_per_fold']}", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "system.json").write_text(json.dumps({"table": table, "runs": runs,
                                                  "recipe": RECIPE}, indent=1))


if __name__ == "__main__":
    main()
