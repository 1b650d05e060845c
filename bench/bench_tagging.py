"""Tagging throughput against raw encoder throughput, on passages of the founding documents.

The taggers embed each text once and then do matrix arithmetic, so scoring all three schemes
should run at (nearly) the encoder's speed. Evidence (``explain``) also embeds the sentences
of each passage and is reported separately.

    python bench/bench_tagging.py                 # writes bench/results/tagging.md and .json
    python bench/bench_tagging.py --smoke         # hash embedder, quick, no report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "nproc": str(os.cpu_count())}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    return info


def passages(limit: int) -> list[str]:
    from nlp.chunk import Chunker
    from nlp.load import load_paths

    report = load_paths([ROOT / "corpus" / "wsis20"])
    chunker = Chunker()
    out = [p.text for doc in report.documents for p in chunker.chunk(doc)]
    return out[:limit]


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="auto",
                        help="the taggers' encoder: 'auto' (the shipped fine-tuned body), a "
                             "model directory, or 'hash:256'")
    parser.add_argument("--backend", default=None, help="torch or onnx (default: settings)")
    parser.add_argument("--passages", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="hash embedder, 1 repeat, no report")
    args = parser.parse_args()
    if args.smoke:
        args.model, args.repeats, args.passages = "hash:256", 1, 40

    from nlp.config import get_settings
    from nlp.workspace import Workspace

    updates = {"tagging_model": args.model}
    if args.backend:
        updates["embedding_backend"] = args.backend
    settings = get_settings().model_copy(update=updates)
    workspace = Workspace(settings)
    embedder = workspace.tag_embedder
    suite = workspace.taggers(build=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    texts = passages(args.passages)
    words = statistics.mean(len(t.split()) for t in texts)
    bs = args.batch_size

    # warm-up, then alternate so load changes hit every variant alike
    embedder.encode(texts[:bs], batch_size=bs)
    suite.tag(texts[:bs], batch_size=bs)
    runs: dict[str, list[float]] = {"encoder": [], "tag (scores)": [], "tag + evidence": []}
    for _ in range(args.repeats):
        runs["encoder"] += timed(lambda: embedder.encode(texts, batch_size=bs), 1)
        runs["tag (scores)"] += timed(lambda: suite.tag(texts, batch_size=bs), 1)
        runs["tag + evidence"] += timed(lambda: suite.tag(texts, explain=True, batch_size=bs), 1)
    rate = {k: len(texts) / min(v) for k, v in runs.items()}
    result = {
        "machine": {**machine(), "load_before": load_before,
                    "threads": str(getattr(embedder, "threads", "torch default"))},
        "settings": {"model": embedder.name, "backend": settings.embedding_backend,
                     "batch_size": bs, "passages": len(texts), "mean_words": round(words, 1),
                     "repeats": args.repeats, "schemes": sorted(suite.taggers)},
        "passages_per_s": {k: round(v, 2) for k, v in rate.items()},
        "ratio_to_encoder": {k: round(v / rate["encoder"], 3) for k, v in rate.items()},
        "seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    print(json.dumps(result, indent=2))
    if args.smoke:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tagging.json").write_text(json.dumps(result, indent=2))
    m, s = result["machine"], result["settings"]
    lines = [
        "# Tagging throughput", "",
        (f"Machine: {m['cpu']}, nproc {m['nproc']}, encoder threads {m['threads']}, "
         f"load before run {m['load_before']}, after {result['load_after']}; Python {m['python']}."),
        (f"Settings: model `{s['model']}` ({s['backend']}), batch size {s['batch_size']}, "
         f"{s['passages']} passages of the founding documents (mean {s['mean_words']} words), "
         f"best of {s['repeats']} runs; schemes {', '.join(s['schemes'])}."), "",
        "| variant | passages/s | ratio to encoder |", "| --- | --- | --- |",
    ]
    for k, v in result["passages_per_s"].items():
        lines.append(f"| {k} | {v:.1f} | {result['ratio_to_encoder'][k]:.2f} |")
    lines += ["", ("`tag (scores)` embeds each passage once: its sentences and clauses take token "
                   "means of that same pass (the clauses of a one-sentence text are embedded on "
                   "their own; no passage here is one sentence), and the Action Line and SDG "
                   "layers pool their scores into the passage's (multi-label text); one encoder "
                   "call serves all three schemes. `tag + evidence` also scores every sentence "
                   "and clause with every layer and adds keyword matches, nearest examples and "
                   "the clause that drives each tag. The three variants alternate, so a change "
                   "of load hits them alike; the load figures are in the header."), ""]
    (RESULTS / "tagging.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'tagging.md'}")


if __name__ == "__main__":
    main()
