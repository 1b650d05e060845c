"""Review-insight views (nlp.insights) at 10k synthetic passages.

A synthetic corpus of ``--passages`` passages (25 a document, 40 organisations, 4 kinds, dates
2023-2025) with clustered unit vectors (dim 384: ~1 topic per 40 passages, each topic spread
over many documents, so themes exist across inputs), topic-word texts (for the theme names) and
a passage-tag table over the real label sets with ~3 % of (passage, label) pairs predicted.
Nothing is embedded: the views read the stored vectors and the table, as in the service.

Measured (wall seconds; median of ``--repeat`` runs for the fast views, one cold run for themes
with its progress printed): the coverage matrix for each label set and grouping, one cell, the
gaps, one comparison, one cross-walk and all of them, themes (auto: HDBSCAN above 3000
passages; agglomerative at 3000), the XLSX workbook and the JSON Lines of tags.

    .venv/bin/python bench/bench_insights.py            # 10k passages (~1-2 min)
    .venv/bin/python bench/bench_insights.py --smoke    # 1k passages, report not written

Writes ``bench/results/insights.md`` and ``insights.json``.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.config import PROJECT_ROOT
from nlp.index import VectorIndex
from nlp.insights import compare, crosswalk, export, gaps, matrix, themes
from nlp.insights.corpus import CorpusView
from nlp.tagging.table import KeyScores, PassageTagTable
from nlp.taxonomy import load_taxonomy
from nlp.types import DocumentMeta, Passage

DIM = 384
PER_DOC = 25
RESULTS = ROOT / "bench" / "results"
KINDS = ("input", "outcome", "resolution", "report")


def synthetic_corpus(n: int, seed: int = 0) -> CorpusView:
    """A corpus of ``n`` passages with planted topics (see the module docstring)."""
    rng = np.random.default_rng(seed)
    taxonomy = load_taxonomy(PROJECT_ROOT / "corpus" / "taxonomy", None)
    topics = max(8, n // 40)
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    words = [[f"topic{t}word{w}" for w in range(8)] for t in range(topics)]
    common = [f"common{w}" for w in range(300)]
    topic_of = rng.integers(0, topics, n)
    vectors = centres[topic_of] + rng.standard_normal((n, DIM)).astype(np.float32) * 0.8
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    documents: dict[str, DocumentMeta] = {}
    passages = []
    for row in range(n):
        doc = row // PER_DOC
        doc_id = f"{doc:016x}"
        if doc_id not in documents:
            documents[doc_id] = DocumentMeta(
                f"Synthetic document {doc}", f"Organisation {doc % 40}", KINDS[doc % 4],
                f"{2023 + doc % 3}-{1 + doc % 12:02d}")
        text = " ".join([*rng.choice(words[topic_of[row]], 12), *rng.choice(common, 28)])
        i = row % PER_DOC
        passages.append(Passage(f"{doc_id}-{i:04d}", doc_id, i, i * 300, i * 300 + len(text),
                                text))
    index = VectorIndex("synthetic", DIM)
    index.add(documents, passages, vectors)
    label_sets = {
        "action_lines": taxonomy.ids("action-lines"), "sdgs": taxonomy.ids("sdgs", "goal"),
        "sdg_targets": taxonomy.ids("sdgs", "target"), "gdc": taxonomy.ids("gdc", "objective"),
        "gdc_sections": taxonomy.ids("gdc", "section"),
        "gdc_commitments": taxonomy.ids("gdc", "commitment"),
        "gdc_principles": taxonomy.ids("gdc", "principle"),
    }
    keys = {}
    for key, labels in label_sets.items():
        # Tags follow topics: each topic prefers a few labels, plus noise.
        prefer = rng.random((topics, len(labels))) < 3 / len(labels)
        scores = rng.random((n, len(labels))).astype(np.float32) * 0.6
        scores[prefer[topic_of]] += 0.4
        keys[key] = KeyScores.of(labels, scores, scores > 0.75)
    return CorpusView(index, PassageTagTable((1, n, "synthetic"), keys), taxonomy)


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def machine() -> dict[str, str]:
    import sklearn

    info = {"python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "cores": str(os.cpu_count())}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                           if "model name" in line)
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    return info


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(n: int, repeat: int) -> dict:
    # The service imports scikit-learn once per process; time the clustering, not the import.
    import sklearn.cluster
    import sklearn.decomposition
    import sklearn.feature_extraction.text  # noqa: F401

    load_start = loadavg()
    started = time.perf_counter()
    view = synthetic_corpus(n)
    built = time.perf_counter() - started
    print(f"synthetic corpus: {n} passages, {len(view.doc_ids)} documents ({built:.1f} s)")
    rows: list[tuple[str, float, str]] = []

    def measure(name: str, fn, note: str = "") -> object:
        seconds, result = timed(fn, repeat)
        rows.append((name, seconds, note))
        print(f"{name:<48} {seconds * 1000:9.1f} ms  {note}")
        return result

    for key in ("action_lines", "sdgs", "gdc_commitments", "sdg_targets"):
        size = len(view.key(key).labels)
        measure(f"matrix {key} by document", lambda k=key: matrix.coverage_matrix(view, k),
                f"{len(view.doc_ids)} x {size}")
    measure("matrix action_lines by organisation",
            lambda: matrix.coverage_matrix(view, "action_lines", "organization"))
    doc = view.doc_ids[0]
    measure("cell (one document, one label)",
            lambda: matrix.cell_passages(view, "action_lines", "C4", doc))
    measure("gaps gdc_commitments by organisation",
            lambda: gaps.find_gaps(view, "gdc_commitments", "organization"))
    measure("compare two documents",
            lambda: compare.compare_documents(view, view.doc_ids[0], view.doc_ids[1]))
    measure("cross-walk C7.e-health", lambda: crosswalk.crosswalk(view, "C7.e-health"))
    measure("cross-walk of every Action Line", lambda: crosswalk.crosswalk_rows(view))

    def progress(stage: str, fraction: float) -> None:
        print(f"    themes: {stage} ({fraction:.0%}) at {time.perf_counter() - t0:.1f} s",
              flush=True)

    theme_runs = []
    for method, size in (("auto", n), ("agglomerative", min(n, 3000))):
        subset = view if size == n else synthetic_corpus(size)
        t0 = time.perf_counter()
        result = themes.find_themes(subset, method=method, progress=progress)
        seconds = time.perf_counter() - t0
        spans = [len(t["documents"]) for t in result["themes"]]
        theme_runs.append({"method": result["method"], "passages": size, "seconds": seconds,
                           "themes": result["total_themes"], "clustered": result["clustered"],
                           "median_documents": statistics.median(spans) if spans else 0})
        rows.append((f"themes {result['method']} ({size} passages, cold)", seconds,
                     f"{result['total_themes']} themes"))
        print(f"themes {result['method']} at {size}: {seconds:.1f} s, "
              f"{result['total_themes']} themes")
    t0 = time.perf_counter()
    report = export.corpus_report(view)
    book = export.report_xlsx(report)
    name = (f"XLSX workbook, every view (themes cached; Compare: "
            f"{export.COMPARE_DOCUMENTS} largest documents)")
    rows.append((name, time.perf_counter() - t0,
                 f"{len(book) / 2**20:.1f} MiB"))
    t0 = time.perf_counter()
    size = sum(len(line) for line in export.tags_jsonl(view))
    rows.append(("tags JSON Lines (whole corpus)", time.perf_counter() - t0,
                 f"{size / 2**20:.1f} MiB"))
    return {"passages": n, "documents": len(view.doc_ids), "repeat": repeat,
            "machine": machine(), "load_at_start": load_start, "load_at_end": loadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds_total": time.perf_counter() - started,
            "rows": [{"view": r[0], "seconds": r[1], "note": r[2]} for r in rows],
            "themes": theme_runs}


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Review insights benchmark",
        "",
        (f"Generated by `python bench/bench_insights.py` in {result['seconds_total']:.0f} s, "
        f"finished {result['finished']}."),
        "",
        (f"- Machine: {m['cores']} cores, {m['cpu']}; load average (1/5/15 min) at the start "
        f"{result['load_at_start']}, at the end {result['load_at_end']} (shared machine: "
        "other jobs were running)."),
        (f"- Libraries: numpy {m['numpy']}, scikit-learn {m['scikit-learn']}, "
        f"Python {m['python']}."),
        (f"- Data: {result['passages']:,} synthetic passages in {result['documents']} documents "
        "(25 each, 40 organisations), 384-d clustered unit vectors, a tag table over the real "
        "label sets; nothing is embedded (the views read stored vectors and the tag table)."),
        (f"- Fast views: median of {result['repeat']} runs. Themes: one cold run each (the "
        "service caches themes per index version and parameters), scikit-learn already "
        "imported (as in a running server)."),
        "- Targets (issue 12): matrix under 1 s, themes under 30 s with progress shown.",
        "",
        "| view | seconds | note |",
        "|---|---:|---|",
    ]
    lines += [f"| {r['view']} | {r['seconds']:.3f} | {r['note']} |" for r in result["rows"]]
    lines += ["", ("| themes method | passages | seconds | themes | passages in a theme | "
              "median documents a theme |"), "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {t['method']} | {t['passages']:,} | {t['seconds']:.1f} | {t['themes']} | "
              f"{t['clustered']:,} | {t['median_documents']} |" for t in result["themes"]]
    lines += ["", ("Progress is reported at each stage (clustering, naming, done): printed by "
              "this script and by `wsis report corpus`; the page shows a status line while "
              "the request runs."), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="1k passages, no report")
    args = parser.parse_args()
    n = 1000 if args.smoke else args.passages
    result = run(n, 2 if args.smoke else args.repeat)
    if args.smoke:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "insights.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "insights.md").write_text(render(result))
    print(f"wrote {RESULTS / 'insights.md'}")


if __name__ == "__main__":
    main()
