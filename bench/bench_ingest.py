"""Ingest pipeline throughput against the raw encoder.

Measures, on the same passages and with the same encoder settings:

* raw: ``embedder.encode(passage_texts)`` alone;
* pipeline: read files -> chunk -> store -> embed -> FAISS add -> publish (``Workspace.ingest``).

The ratio pipeline / raw (passages per second) is the overhead of everything but the model.
The corpus is the five founding documents copied ``--copies`` times with a distinct first line,
so every copy is a new document.

    python bench/bench_ingest.py            # full run, writes bench/results/ingest.md
    python bench/bench_ingest.py --smoke    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import machine

from nlp.config import PROJECT_ROOT, Settings
from nlp.embed import load_embedder
from nlp.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results"


def make_corpus(folder: Path, copies: int) -> None:
    source = PROJECT_ROOT / "corpus" / "wsis20"
    rows = ["file,title,organization,kind,date"]
    for copy in range(copies):
        for path in sorted(source.glob("*.txt")):
            name = f"c{copy:02d}_{path.name}"
            (folder / name).write_text(f"Copy {copy}\n\n" + path.read_text(encoding="utf-8"))
            rows.append(f"{name},Copy {copy} of {path.stem},Org {copy},input,2025")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument("--smoke", action="store_true", help="1 copy, 1 round, no report file")
    args = parser.parse_args(argv)
    copies = 1 if args.smoke else args.copies

    from nlp.config import get_settings

    embedder = load_embedder(args.model, args.backend, onnx_dir=get_settings().onnx_dir)
    embedder.encode(["warm up the encoder"] * 8)
    pipeline_times: list[float] = []
    raw_times: list[float] = []
    for round_ in range(1 if args.smoke else args.rounds):
        # Rounds alternate pipeline and raw so drifting machine load hits both alike.
        work = Path(tempfile.mkdtemp(prefix="wsis-bench-ingest-"))
        try:
            corpus = work / "corpus"
            corpus.mkdir()
            make_corpus(corpus, copies)
            settings = Settings(home=work / "home", embedding_batch_size=args.batch_size)
            ws = Workspace(settings, embedder=embedder)

            start = time.perf_counter()
            result = ws.ingest([corpus])
            pipeline_times.append(time.perf_counter() - start)
            texts = [p.text for p in ws.store.passages()]
            assert len(texts) == result.passages
            ws.close()

            start = time.perf_counter()
            embedder.encode(texts, batch_size=args.batch_size)
            raw_times.append(time.perf_counter() - start)
            print(f"round {round_ + 1}: pipeline {pipeline_times[-1]:.1f} s, "
                  f"raw {raw_times[-1]:.1f} s", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    pipeline_s, raw_s = min(pipeline_times), min(raw_times)
    # Paired per round: both halves of a round saw about the same machine load.
    paired = sorted(r / p for r, p in zip(raw_times, pipeline_times, strict=True))
    ratio = paired[len(paired) // 2]

    n = len(texts)
    words = sum(len(t.split()) for t in texts) / n
    figures = {
        "passages": n,
        "documents": len(result.added),
        "mean_words_per_passage": round(words, 1),
        "raw_encode_s": round(raw_s, 2),
        "pipeline_s": round(pipeline_s, 2),
        "raw_passages_per_s": round(n / raw_s, 1),
        "pipeline_passages_per_s": round(n / pipeline_s, 1),
        "ratio": round(ratio, 3),
        "ratio_per_round": [round(x, 3) for x in paired],
        "rounds": len(raw_times),
        "model": embedder.name,
        "backend": args.backend,
        "batch_size": args.batch_size,
        "machine": machine(),
    }
    print(json.dumps(figures, indent=2))
    if args.smoke:
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(figures, indent=2) + "\n")
    m = figures["machine"]
    (RESULTS / "ingest.md").write_text(
        "# Ingest pipeline vs raw encoder\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, faiss {m['faiss']}. "
        f"Model {embedder.name} ({args.backend}), batch size {args.batch_size}. "
        f"Best of {len(raw_times)} alternating rounds; load average at the end "
        f"{m['load']}.\n\n"
        f"Corpus: the five founding documents x {copies} copies = {len(result.added)} documents, "
        f"{n} passages, {words:.0f} words per passage on average.\n\n"
        "| stage | best seconds | passages/s |\n| --- | ---: | ---: |\n"
        f"| raw `encode` | {raw_s:.2f} | {n / raw_s:.1f} |\n"
        f"| read -> chunk -> store -> embed -> index -> publish | {pipeline_s:.2f} | "
        f"{n / pipeline_s:.1f} |\n\n"
        f"**Pipeline throughput = {100 * ratio:.1f} % of the raw encoder** (median of the "
        f"per-round ratios {', '.join(f'{100 * x:.0f} %' for x in paired)}) "
        "(target: at least 90 %). The pipeline time includes importing spaCy (~2 s, once "
        "per process), sentence splitting, SQLite writes and publishing the index "
        "version.\n\n"
        "Reproduce: `.venv/bin/python bench/bench_ingest.py`.\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
