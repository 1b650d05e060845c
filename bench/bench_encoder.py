"""Encoder backends compared: sentence-transformers (torch) vs ONNX Runtime fp32 vs int8.

Measured for the bundled all-MiniLM-L6-v2:

* single-query latency (one short query per ``encode`` call, as a search request does),
  p50/p95 over ``--queries`` queries, backends interleaved so machine noise hits all alike;
* batch throughput (passages/s, batch size 32) for ~40-word and ~150-word passages,
  best of ``--rounds`` rounds;
* process cold start: a fresh ``python -c`` that imports, loads and encodes one text
  (median of ``--cold`` runs), with that process's peak RSS;
* agreement with torch: cosine per text, and top-10 overlap of query -> passage retrieval.

    python bench/bench_encoder.py           # 4-8 min on the shared 2-core box
    python bench/bench_encoder.py --smoke   # ~1 min once the export exists (torch starts twice)

Writes ``bench/results/encoder.md`` and ``bench/results/encoder.png`` (``--out`` to change);
with ``--threads N``, ``encoder-Nthread.md`` / ``.png`` instead.
The ONNX export (fp32 + int8) is made once under ``<WSIS_HOME>/bench/onnx/all-MiniLM-L6-v2``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from nlp.config import get_settings
from nlp.embed import BUNDLED_MODEL, bundled_model_path
from nlp.onnx_embed import OnnxEmbedder
from nlp.onnx_export import export_onnx
from nlp.onnx_format import MANIFEST, read_manifest

RESULTS = Path(__file__).resolve().parent / "results"
FILLER = (
    "The World Summit on the Information Society review considers broadband access, "
    "digital inclusion, cybersecurity, e-government, capacity building, gender equality, "
    "open data, artificial intelligence governance and financing for development."
)
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")

COLD_START = {
    "torch": (
        "from nlp.embed import load_embedder\n"
        "e = load_embedder('all-MiniLM-L6-v2', backend='torch')\n"
    ),
    "onnx-fp32": (
        "from nlp.embed import load_embedder\n"
        "from nlp.config import get_settings\n"
        "e = load_embedder('all-MiniLM-L6-v2', backend='onnx', onnx_dir=get_settings().onnx_dir)\n"
    ),
    "onnx-int8": (
        "import os\n"
        "from nlp.onnx_embed import OnnxEmbedder\n"
        "e = OnnxEmbedder(os.environ['WSIS_HOME'] + '/onnx/all-MiniLM-L6-v2', precision='int8')\n"
    ),
}
COLD_TAIL = (
    "e.encode(['connect every school to the internet'])\n"
    "import re, sys, time, json\n"
    "seconds = time.perf_counter() - T0\n"
    "# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print(json.dumps({'seconds': seconds, 'rss_mib': int(hwm) / 1024,\n"
    "  'torch_loaded': 'torch' in sys.modules}))\n"
)


# --------------------------------------------------------------------------- inputs


def corpus_words() -> list[str]:
    """Words of the project's WSIS corpus, in order; a fixed filler if the corpus is absent."""
    words: list[str] = []
    for path in sorted((ROOT / "corpus" / "wsis20").glob("*.txt")):
        words += re.findall(r"\S+", path.read_text(encoding="utf-8", errors="replace"))
    if len(words) < 2000:
        filler = re.findall(r"\S+", FILLER)
        words = (words + filler * 200)[:20000]
    return words


def windows(words: list[str], count: int, length: int, rng: np.random.Generator) -> list[str]:
    starts = rng.integers(0, len(words) - length, size=count)
    return [" ".join(words[s : s + length]) for s in starts]


# --------------------------------------------------------------------------- backends


def ensure_export(home: Path) -> Path:
    """The bench's own fp32 + int8 export, made once and reused while the weights match."""
    target = home / "onnx" / BUNDLED_MODEL
    if (target / MANIFEST).is_file() and "int8" in read_manifest(target)["files"]:
        return target
    print(f"exporting {BUNDLED_MODEL} (fp32 + int8) to {target} ...", flush=True)
    start = time.perf_counter()
    export_onnx(bundled_model_path(), target, name=BUNDLED_MODEL, int8=True)
    print(f"  export took {time.perf_counter() - start:.1f} s", flush=True)
    return target


def load_backends(export_dir: Path, threads: int | None) -> dict:
    """The three embedders; ``threads`` pins torch's and ONNX Runtime's intra-op threads."""
    import torch

    from nlp.embed import SentenceTransformerEmbedder

    if threads:
        torch.set_num_threads(threads)
    return {
        "torch": SentenceTransformerEmbedder(BUNDLED_MODEL),
        "onnx-fp32": OnnxEmbedder(export_dir, precision="fp32", threads=threads),
        "onnx-int8": OnnxEmbedder(export_dir, precision="int8", threads=threads),
    }


# --------------------------------------------------------------------------- measurements


def single_query_latency(embedders: dict, queries: list[str]) -> dict[str, np.ndarray]:
    for e in embedders.values():  # warm-up: first calls allocate
        for q in queries[:5]:
            e.encode([q])
    times = {name: [] for name in embedders}
    names = list(embedders)
    for i, q in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate the order
            start = time.perf_counter_ns()
            embedders[name].encode([q])
            times[name].append((time.perf_counter_ns() - start) / 1e6)
    return {name: np.array(t) for name, t in times.items()}


def throughput(embedders: dict, passages: list[str], rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in embedders}
    for _ in range(rounds):
        for name, e in embedders.items():
            start = time.perf_counter()
            e.encode(passages, batch_size=32)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(passages) / t for name, t in best.items()}


def cold_start(backend: str, home: Path, runs: int) -> dict:
    script = "import time; T0 = time.perf_counter()\n" + COLD_START[backend] + COLD_TAIL
    env = {
        **os.environ,
        "WSIS_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    walls, inner, rss, torch_loaded = [], [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        walls.append(time.perf_counter() - start)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        inner.append(report["seconds"])
        rss.append(report["rss_mib"])
        torch_loaded.append(report["torch_loaded"])
    return {
        "wall_s": statistics.median(walls),
        "in_process_s": statistics.median(inner),
        "rss_mib": statistics.median(rss),
        "torch_loaded": any(torch_loaded),
    }


def agreement(embedders: dict, queries: list[str], passages: list[str]) -> dict[str, dict]:
    texts = queries + passages
    reference = embedders["torch"].encode(texts)
    ref_top = np.argsort(-(reference[: len(queries)] @ reference[len(queries) :].T), axis=1)[:, :10]
    out = {}
    for name, e in embedders.items():
        if name == "torch":
            continue
        vectors = e.encode(texts)
        cosine = (vectors * reference).sum(axis=1)
        top = np.argsort(-(vectors[: len(queries)] @ vectors[len(queries) :].T), axis=1)[:, :10]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, ref_top)])
        out[name] = {
            "cos_min": float(cosine.min()),
            "cos_mean": float(cosine.mean()),
            "top10_overlap": float(overlap),
        }
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    info = {"cores": str(os.cpu_count()), "python": platform.python_version()}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in lines if "model name" in ln)
        flags = next(ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags"))
        simd = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
        info["simd"] = ", ".join(f for f in simd if f in flags) or "none of avx2/avx512/vnni"
        info["vnni"] = "yes" if {"avx512_vnni", "avx_vnni"} & set(flags) else "no"
    except (OSError, StopIteration):
        info.update(cpu=platform.processor() or "unknown", simd="unknown", vnni="unknown")
    info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def versions() -> str:
    found = []
    for package in (
        "torch",
        "sentence-transformers",
        "transformers",
        "onnxruntime",
        "tokenizers",
        "numpy",
    ):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["latency"])
    colours = {"torch": "#c0504d", "onnx-fp32": "#4f81bd", "onnx-int8": "#9bbb59"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    x = np.arange(len(names))

    ax = axes[0]
    p50 = [results["latency"][n]["p50"] for n in names]
    p95 = [results["latency"][n]["p95"] for n in names]
    ax.bar(x - 0.2, p50, 0.4, label="p50", color=[colours[n] for n in names])
    ax.bar(x + 0.2, p95, 0.4, label="p95", color=[colours[n] for n in names], alpha=0.5)
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log)")
    ax.set_title("single-query latency (p50 solid, p95 light)")

    ax = axes[1]
    for offset, key in ((-0.2, "40 words"), (0.2, "150 words")):
        values = [results["throughput"][key][n] for n in names]
        bars = ax.bar(
            x + offset,
            values,
            0.4,
            color=[colours[n] for n in names],
            alpha=1.0 if key == "40 words" else 0.5,
        )
        ax.bar_label(bars, labels=[key.split()[0] + "w"] * len(names), fontsize=7)
    ax.set_xticks(x, names)
    ax.set_ylabel("passages / s (batch 32)")
    ax.set_title("batch throughput")

    ax = axes[2]
    cold = [results["cold"][n]["wall_s"] for n in names]
    ax.bar(x, cold, 0.6, color=[colours[n] for n in names])
    for i, n in enumerate(names):
        ax.annotate(
            f"{results['cold'][n]['rss_mib']:.0f} MiB",
            (i, cold[i]),
            ha="center",
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xticks(x, names)
    ax.set_ylabel("s (fresh process: import + load + encode 1)")
    ax.set_title("cold start (label: peak RSS)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, args: argparse.Namespace, elapsed: float, out: Path) -> Path:
    info = machine()
    stem = f"encoder-{args.threads}thread" if args.threads else "encoder"
    names = list(results["latency"])
    lat, thr, cold, agree = (results[k] for k in ("latency", "throughput", "cold", "agreement"))
    lines = [
        "# Encoder benchmark: torch vs ONNX Runtime",
        "",
        (
            f"Generated by `python bench/bench_encoder.py{' --smoke' if args.smoke else ''}"
            f"{f' --threads {args.threads}' if args.threads else ''}` in "
            f"{elapsed / 60:.1f} min on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
        ),
        "",
        (
            f"- Machine: {info['cores']} cores, {info['cpu']}; SIMD: {info['simd']}; "
            f"VNNI: {info['vnni']}. Load average (1/5/15 min) at the start "
            f"{results['settings']['load_at_start']}, at the end {info['load']} "
            "(shared machine: other jobs were running, so absolute numbers carry noise; "
            "backends were interleaved so it hits them alike)."
        ),
        f"- Libraries: Python {info['python']}, {versions()}.",
        (
            f"- Model: {BUNDLED_MODEL} (bundled), max_seq_length 256, mean pooling, L2-normalised. "
            f"torch threads {results['settings']['torch_threads']}; ONNX Runtime intra-op threads "
            f"{results['settings']['ort_threads']}, ORT_ENABLE_ALL graph optimisation; int8 = "
            "`quantize_dynamic`, per-channel QInt8 weights."
        ),
        (
            f"- Inputs: windows of the project corpus text; {args.queries} queries of 4-12 words; "
            f"{args.short} passages of 40 words (~55 tokens) and {args.long} of 150 words "
            "(~200 tokens), batch size 32, best of "
            f"{args.rounds} rounds; cold start is the median of {args.cold} fresh processes. "
            f"Agreement: every query and the 40-word passages plus 32 of the 150-word ones, "
            "each encoded by each backend; top-10 overlap compares, per query, the 10 nearest "
            "passages found with that backend's vectors against those found with torch's."
        ),
        "",
        (
            "| backend | query p50 ms | query p95 ms | 40-word passages/s | 150-word passages/s "
            "| cold start s | cold-start peak RSS MiB | cosine vs torch min / mean "
            "| top-10 overlap vs torch |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for n in names:
        a = agree.get(n)
        cos = f"{a['cos_min']:.5f} / {a['cos_mean']:.5f}" if a else "(reference)"
        overlap = f"{a['top10_overlap']:.3f}" if a else "1"
        lines.append(
            f"| {n} | {lat[n]['p50']:.2f} | {lat[n]['p95']:.2f} | {thr['40 words'][n]:.0f} "
            f"| {thr['150 words'][n]:.0f} | {cold[n]['wall_s']:.2f} | {cold[n]['rss_mib']:.0f} "
            f"| {cos} | {overlap} |"
        )
    torch_free = [n for n in names if n != "torch" and not cold[n]["torch_loaded"]]
    lines += [
        "",
        f"Cold-start processes that never imported torch: {', '.join(torch_free) or 'none'}.",
        "",
        f"![encoder benchmark]({stem}.png)",
        "",
        "## Reading",
        "",
    ]
    t, f, q = "torch", "onnx-fp32", "onnx-int8"
    lines.append(
        f"- ONNX fp32 vs torch: query p50 {lat[t]['p50'] / lat[f]['p50']:.1f}x faster, "
        f"40-word throughput {thr['40 words'][f] / thr['40 words'][t]:.2f}x, 150-word "
        f"{thr['150 words'][f] / thr['150 words'][t]:.2f}x, cold start "
        f"{cold[t]['wall_s'] / cold[f]['wall_s']:.1f}x faster with "
        f"{cold[t]['rss_mib'] - cold[f]['rss_mib']:.0f} MiB less memory; vectors agree to "
        f"cosine >= {agree[f]['cos_min']:.4f}."
    )
    if q in names:
        lines.append(
            f"- int8 vs fp32: query p50 {lat[f]['p50'] / lat[q]['p50']:.2f}x, 40-word "
            f"throughput {thr['40 words'][q] / thr['40 words'][f]:.2f}x, 150-word "
            f"{thr['150 words'][q] / thr['150 words'][f]:.2f}x; but cosine vs torch drops to "
            f"min {agree[q]['cos_min']:.3f} and the top-10 retrieval overlap with torch is "
            f"{agree[q]['top10_overlap']:.3f} (fp32: {agree[f]['top10_overlap']:.3f})."
        )
        lines.append(
            "- Serving therefore uses fp32: `OnnxEmbedder.from_spec` (what `load_embedder(..., "
            "backend='onnx')` calls) always loads `model.onnx`; int8 stays reachable only as "
            "`OnnxEmbedder(path, precision='int8')` so this benchmark can re-measure it, e.g. "
            "on a CPU with VNNI, where int8 matrix products are much faster than here."
        )
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{stem}.md"
    report.write_text("\n".join(lines) + "\n")
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / f"{stem}.png")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, < 30 s")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--short", type=int, default=256, help="number of 40-word passages")
    parser.add_argument("--long", type=int, default=96, help="number of 150-word passages")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin torch and ONNX Runtime to N threads in the measuring process "
        "(writes encoder-Nthread.*); default: each library's own choice",
    )
    parser.add_argument("--cold", type=int, default=3, help="fresh processes per backend")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.queries, args.short, args.long, args.rounds, args.cold = 20, 32, 16, 1, 1
        args.threads = args.threads or 1  # two threads on a busy box made torch 20x slower
        if args.out == RESULTS:
            args.out = RESULTS / "smoke"

    start = time.perf_counter()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    home = get_settings().home / "bench"
    export_dir = ensure_export(home)
    rng = np.random.default_rng(args.seed)
    words = corpus_words()
    queries = [
        " ".join(w.split()[: int(rng.integers(4, 13))])
        for w in windows(words, args.queries, 12, rng)
    ]
    short = windows(words, args.short, 40, rng)
    long = windows(words, args.long, 150, rng)

    print("cold start ...", flush=True)  # first, before this process holds ~1 GiB of models
    cold = {name: cold_start(name, home, args.cold) for name in BACKENDS}
    for name, c in cold.items():
        print(
            f"  {name:<10} {c['wall_s']:.2f} s  {c['rss_mib']:.0f} MiB  torch={c['torch_loaded']}"
        )

    embedders = load_backends(export_dir, args.threads)
    import torch

    print("single-query latency ...", flush=True)
    latencies = single_query_latency(embedders, queries)
    print("throughput ...", flush=True)
    thr = {
        "40 words": throughput(embedders, short, args.rounds),
        "150 words": throughput(embedders, long, args.rounds),
    }
    print("agreement ...", flush=True)
    agree = agreement(embedders, queries, short + long[:32])

    results = {
        "settings": {
            "load_at_start": load_at_start,
            "torch_threads": torch.get_num_threads(),
            "ort_threads": embedders["onnx-fp32"].threads,
            "queries": args.queries,
            "short": args.short,
            "long": args.long,
        },
        "latency": {
            n: {"p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95))}
            for n, t in latencies.items()
        },
        "throughput": thr,
        "cold": cold,
        "agreement": agree,
    }
    for n in BACKENDS:
        print(
            f"  {n:<10} p50 {results['latency'][n]['p50']:6.2f} ms  p95 "
            f"{results['latency'][n]['p95']:6.2f} ms  40w {thr['40 words'][n]:6.0f}/s  "
            f"150w {thr['150 words'][n]:6.0f}/s  {agree.get(n, '')}"
        )
    report = write_report(results, args, time.perf_counter() - start, args.out)
    print(f"wrote {report} in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
