"""HTTP load and cold start of the running service, on loopback only.

Starts the server as users do, ``wsis serve`` (uvicorn with the thread settings ``wsis serve``
makes), in a subprocess with a fresh ``WSIS_HOME`` (so start-up includes building the index),
records

* cold start: process start -> first ``/health`` answer, and -> first ``/v1/search`` answer;
* for ``/v1/search`` and ``/v1/tag`` at concurrency 1, 8 and 32: throughput, latency
  p50/p95/p99 and error count, each step bounded by a request count and a time budget.

    python bench/bench_api.py            # writes bench/results/api.md, api.json, api.png
    python bench/bench_api.py --smoke    # a quick pass, no report
    python bench/bench_api.py --home /tmp/home --label after   # restart on a copy of a built
        # home only; writes api-after.json and the before/after table in api-issue10.md

The load average (1, 5, 15 min) is recorded at the start and end of every step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import machine

RESULTS = Path(__file__).resolve().parent / "results"
QUERIES = [
    "connect every school to the internet", "routing security and MANRS",
    "digital public infrastructure safeguards", "capacity building in developing countries",
    "multistakeholder Internet governance", "submarine cable resilience",
    "artificial intelligence standards", "affordable broadband in rural areas",
    "cybersecurity and trust", "gender digital divide", "open source software",
    "environmental impact of ICTs", "e-health services", "WSIS Forum and stocktaking",
    "Internet exchange points", "data governance and privacy",
]
TEXTS = [
    "We will connect every school and hospital to the Internet by 2030, building on Giga.",
    ("Network operators should implement routing security norms to protect the global routing "
     "system from hijacks and leaks."),
    ("Governments should adopt national digital strategies developed with all stakeholders, "
     "including civil society and the technical community."),
    "Training teachers and young people in digital skills is essential for inclusion.",
    "E-waste and the energy use of data centres must be reduced to meet climate goals.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 95, 99)}


async def load_step(base: str, endpoint: str, concurrency: int, requests: int,
                    budget_s: float) -> dict:
    rng = random.Random(concurrency)
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + budget_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        while sent < requests and time.perf_counter() < deadline:
            sent += 1
            if endpoint == "/v1/search":
                body = {"query": rng.choice(QUERIES), "k": 10, "mode": "hybrid"}
            else:
                body = {"texts": [rng.choice(TEXTS)], "explain": True}
            start = time.perf_counter()
            try:
                response = await client.post(base + endpoint, json=body)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"endpoint": endpoint, "concurrency": concurrency, "requests": len(latencies),
            "errors": errors, "seconds": round(elapsed, 2),
            "throughput_rps": round(len(latencies) / elapsed, 2), **percentiles(latencies)}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server has used, its worker processes included: unlike
    latency, it does not grow with the other jobs on a shared machine."""
    def own(stat: str) -> tuple[int, float]:
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    total = own(Path(f"/proc/{pid}/stat").read_text())[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            try:
                parent, seconds = own((entry / "stat").read_text())
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                total += seconds
    return total


def start_server(home: Path, port: int, backend: str | None,
                 workers: int = 1) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, WSIS_HOME=str(home), HF_HUB_OFFLINE="1",
               WSIS_API_TOKEN="bench-token-0123456789")
    env.pop("WSIS_EMBEDDING_BACKEND", None)
    if backend:
        env["WSIS_EMBEDDING_BACKEND"] = backend
    # uvicorn's access log goes to a file: a pipe nobody reads fills up and stalls the server
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from nlp.cli import main; main()", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log  # type: ignore[attr-defined]
    return proc, started


def server_log(proc: subprocess.Popen) -> str:
    log = proc.log  # type: ignore[attr-defined]
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


def wait_for(url: str, started: float, proc: subprocess.Popen, timeout: float = 600) -> float:
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {server_log(proc)}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, choices=["torch", "onnx"],
                        help="default: the settings' default")
    parser.add_argument("--home", type=Path, default=None,
                        help="a built home to copy and restart on (no fresh-home cold start)")
    parser.add_argument("--label", default=None, help="before / after: api-<label>.json")
    parser.add_argument("--requests", type=int, default=200, help="per step, at most")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per step, at most")
    parser.add_argument("--workers", type=int, default=1, help="wsis serve --workers")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    levels = [1, 8] if args.smoke else [1, 8, 32]
    requests = 16 if args.smoke else args.requests
    budget = 10.0 if args.smoke else args.budget

    home = Path(tempfile.mkdtemp(prefix="wsis-bench-api-"))
    if args.home is not None:
        shutil.copytree(args.home, home, dirs_exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, started = start_server(home, port, args.backend, args.workers)
    try:
        cold_health = wait_for(base + "/health", started, proc)
        response = httpx.post(base + "/v1/search", json={"query": "school connectivity", "k": 5},
                              timeout=600)
        response.raise_for_status()
        cold_search = time.perf_counter() - started
        # warm both paths once (tag table, spaCy) before measuring
        httpx.post(base + "/v1/tag", json={"texts": [TEXTS[0]]}, timeout=600).raise_for_status()
        rows = []
        for endpoint in ("/v1/search", "/v1/tag"):
            for concurrency in levels:
                before, cpu = load(), cpu_seconds(proc.pid)
                row = asyncio.run(load_step(base, endpoint, concurrency, requests, budget))
                row.update(load_before=before, load_after=load(), cpu_ms_per_request=round(
                    (cpu_seconds(proc.pid) - cpu) / max(1, row["requests"]) * 1000, 1))
                print(json.dumps(row), flush=True)
                rows.append(row)
        # Warm restart: the index and models already exist on disk.
        proc.terminate()
        proc.wait(timeout=30)
        proc, started = start_server(home, port, args.backend, args.workers)
        warm_health = wait_for(base + "/health", started, proc)
        httpx.post(base + "/v1/search", json={"query": "school connectivity", "k": 5},
                   timeout=600).raise_for_status()
        warm_search = time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)

    cold = {"first_health_s": round(cold_health, 2), "first_search_s": round(cold_search, 2),
            "restart_health_s": round(warm_health, 2), "restart_search_s": round(warm_search, 2)}
    print(json.dumps(cold))
    if args.smoke:
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    m = machine()
    if args.label:
        (RESULTS / f"api-{args.label}.json").write_text(json.dumps(
            {"machine": m, "backend": args.backend or "default", "restart": cold, "load": rows,
             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "settings": {"requests_per_step": requests, "budget_s": budget,
                          "workers": args.workers}}, indent=2) + "\n")
        (RESULTS / "api-issue10.md").write_text(issue_table())
        return 0
    report = {"machine": m, "backend": args.backend, "cold_start": cold, "load": rows,
              "settings": {"requests_per_step": requests, "budget_s": budget, "workers": args.workers}}
    (RESULTS / "api.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# API under load and cold start", "",
        (f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}. One uvicorn worker, "
         f"embedding backend `{args.backend}`, client on the same machine (loopback), "
         f"at most {requests} requests or {budget:.0f} s per step. `/v1/search` is hybrid, "
         "k=10, with passage tags; `/v1/tag` tags one text with evidence."), "",
        "| endpoint | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| `{r['endpoint']}` | {r['concurrency']} | {r['requests']} | "
                     f"{r['errors']} | {r['throughput_rps']} | {r['p50']} | {r['p95']} | "
                     f"{r['p99']} |")
    lines += ["", "| cold start | seconds |", "| --- | ---: |",
              f"| fresh home: process start -> first /health | {cold['first_health_s']} |",
              f"| fresh home: process start -> first /v1/search | {cold['first_search_s']} |",
              f"| restart: process start -> first /health | {cold['restart_health_s']} |",
              f"| restart: process start -> first /v1/search | {cold['restart_search_s']} |",
              "", "Reproduce: `.venv/bin/python bench/bench_api.py`."]
    (RESULTS / "api.md").write_text("\n".join(lines) + "\n")
    plot(rows, RESULTS / "api.png")
    return 0


def issue_table() -> str:
    """The HTTP rows of issue 10's table, before and after, from api-before/after.json."""
    found = {}
    for path in sorted(RESULTS.glob("api-*.json")):
        data = json.loads(path.read_text())
        if "restart" in data and "load" in data:  # a labelled run of this script
            found[path.stem.removeprefix("api-")] = data
    found = dict(sorted(found.items(), key=lambda kv: kv[1]["created"]))
    lines = ["# HTTP service before and after the fast path (issue 10)", "",
             ("`wsis serve` (before: uvicorn) on a copy of a built home (restart: the index, ONNX "
              "export and models exist), default settings, client on the same machine. `/v1/search` is "
              "hybrid, k=10, with passage tags; `/v1/tag` tags one text with evidence. Load "
              "averages (1, 5, 15 min) at the start and end of each step: the 2-core machine is "
              "shared with other jobs."), ""]
    for label, data in found.items():
        cold = data["restart"]
        workers = data["settings"].get("workers", 1)
        lines += [(f"## {label} ({data['created']}, backend {data['backend']}, "
                  f"{workers} worker{'s' if workers > 1 else ''})"), "",
                  (f"Restart: first `/health` {cold['first_health_s']} s, first search "
                  f"{cold['first_search_s']} s."), "",
                  ("| endpoint | concurrency | requests | errors | req/s | p50 ms | p95 ms | "
                  "server CPU ms / request | load before | load after |"),
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in data["load"]:
            lines.append(f"| `{r['endpoint']}` | {r['concurrency']} | {r['requests']} | "
                         f"{r['errors']} | {r['throughput_rps']} | {r['p50']} | {r['p95']} | "
                         f"{r.get('cpu_ms_per_request', '')} | {r.get('load_before', '')} | "
                         f"{r.get('load_after', '')} |")
        lines.append("")
    lines.append("Reproduce: `.venv/bin/python bench/bench_api.py --home <built home> "
                 "--label after`.")
    notes = RESULTS / "api-notes.md"  # written by hand: what each run measured
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for endpoint in sorted({r["endpoint"] for r in rows}):
        mine = [r for r in rows if r["endpoint"] == endpoint]
        xs = [r["concurrency"] for r in mine]
        axes[0].plot(xs, [r["throughput_rps"] for r in mine], marker="o", label=endpoint)
        axes[1].plot(xs, [r["p95"] for r in mine], marker="o", label=endpoint)
    axes[0].set(xlabel="concurrency", ylabel="requests/s", title="Throughput", xscale="log")
    axes[1].set(xlabel="concurrency", ylabel="p95 latency (ms)", title="Tail latency",
                xscale="log")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
