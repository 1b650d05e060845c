"""What a new user waits for at the shell: ``wsis`` commands and ``wsis serve`` start-up.

Runs each command in a fresh process on a *built* home (index, ONNX export and models there
already), ``--runs`` times, and reports the median wall time, the bytes written to stderr and
whether the process mapped libtorch. ``wsis serve`` is timed from process start to the first
``/health`` answer and to the first ``/v1/search`` answer.

    python bench/bench_cli.py --home /tmp/home --label before   # writes results/cli-before.json
    python bench/bench_cli.py --home /tmp/home --label after    # and results/cli.md from all
    python bench/bench_cli.py --home /tmp/home --smoke           # one run each, no report

``results/cli.md`` shows the runs of :data:`REPORT_LABELS` found in ``results/``, in that
order, followed by ``results/cli-notes.md`` (written by hand: what each run measured), so a
new run never drops the notes.

The home must hold a built index (``WSIS_HOME=/tmp/home wsis index``). The load average is
recorded before and after every row: the machine is shared, so compare rows measured under
similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
QUERY = "connect every school to the internet"
TEXT = "We will connect every school to the Internet by 2030."

# Runs the CLI exactly as the `wsis` script does, then records whether libtorch was mapped.
_PROBE = (
    "import atexit, os, sys\n"
    "def _probe():\n"
    "    maps = open('/proc/self/maps').read()\n"
    "    open(os.environ['WSIS_BENCH_PROBE'], 'w').write(\n"
    "        '1' if 'libtorch' in maps else '0')\n"
    "atexit.register(_probe)\n"
    "sys.argv = ['wsis', *sys.argv[1:]]\n"
    "from nlp.cli import main\n"
    "main()\n"
)

# The runs cli.md shows, in this order: issue 10's torch -> ONNX change (measured under loads of
# 8-16), then the start-up work on a quiet machine (the code before it, run at the same time),
# then the same code on the faster host of the next session (see cli-notes.md).
REPORT_LABELS = ("before", "after", "before-startup", "after-startup", "final", "final-host2")
NOTES = RESULTS / "cli-notes.md"

# (row name, wsis arguments, extra environment)
COMMANDS: list[tuple[str, list[str], dict[str, str]]] = [
    ("wsis --help", ["--help"], {}),
    ("wsis documents (no model)", ["documents", "--json"], {}),
    ("wsis search (default backend)", ["search", QUERY, "--k", "3"], {}),
    ("wsis search (onnx)", ["search", QUERY, "--k", "3"], {"WSIS_EMBEDDING_BACKEND": "onnx"}),
    ("wsis tag (default backend)", ["tag", TEXT], {}),
    ("wsis tag (onnx)", ["tag", TEXT], {"WSIS_EMBEDDING_BACKEND": "onnx"}),
]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_command(args: list[str], env: dict[str, str]) -> dict:
    with tempfile.NamedTemporaryFile(prefix="wsis-probe-", delete=False) as probe:
        probe_path = probe.name
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], check=False, cwd=ROOT,
                          env={**env, "WSIS_BENCH_PROBE": probe_path},
                          capture_output=True, timeout=600)
    wall = time.perf_counter() - start
    torch = Path(probe_path).read_text() == "1"
    os.unlink(probe_path)
    if done.returncode != 0:
        raise RuntimeError(f"wsis {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return {"wall_s": wall, "stderr_bytes": len(done.stderr), "libtorch": torch}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_serve(env: dict[str, str]) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nlp.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    health = search = None
    try:
        while time.perf_counter() - start < 300:
            if proc.poll() is not None:
                raise RuntimeError("wsis serve exited")
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    health = time.perf_counter() - start
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        response = httpx.post(base + "/v1/search", json={"query": QUERY, "k": 5}, timeout=300)
        response.raise_for_status()
        search = time.perf_counter() - start
        torch = "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"health_s": health, "search_s": search, "libtorch": torch}


def measure(home: Path, runs: int) -> dict:
    base_env = {**os.environ, "WSIS_HOME": str(home), "HF_HUB_OFFLINE": "1",
                "WSIS_API_TOKEN": "bench-token-0123456789"}
    base_env.pop("WSIS_EMBEDDING_BACKEND", None)
    rows = []
    for name, args, extra in COMMANDS:
        before = load()
        samples = [run_command(args, {**base_env, **extra}) for _ in range(runs)]
        row = {"what": name, "runs": runs,
               "wall_s": round(statistics.median(s["wall_s"] for s in samples), 2),
               "stderr_bytes": max(s["stderr_bytes"] for s in samples),
               "libtorch": any(s["libtorch"] for s in samples),
               "load_before": before, "load_after": load()}
        print(json.dumps(row), flush=True)
        rows.append(row)
    for backend in ("default backend", "onnx"):
        env = dict(base_env)
        if backend == "onnx":
            env["WSIS_EMBEDDING_BACKEND"] = "onnx"
        before = load()
        samples = [run_serve(env) for _ in range(runs)]
        row = {"what": f"wsis serve ({backend}): start -> first /health", "runs": runs,
               "wall_s": round(statistics.median(s["health_s"] for s in samples), 2),
               "first_search_s": round(statistics.median(s["search_s"] for s in samples), 2),
               "libtorch": any(s["libtorch"] for s in samples),
               "load_before": before, "load_after": load()}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"rows": rows, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def report(labels: list[str]) -> str:
    found = {label: json.loads((RESULTS / f"cli-{label}.json").read_text())
             for label in labels if (RESULTS / f"cli-{label}.json").is_file()}
    lines = ["# The CLI and `wsis serve` from a shell", "",
             ("Each command in a fresh process on a built home (index, ONNX export, shipped "
             "models), median of the runs; stderr is what the command printed there; "
             "*libtorch*: whether the process mapped torch's library. Load averages (1, 5, 15 "
             "min) before and after each row: the 2-core machine is shared with other jobs."),
             ""]
    for label, data in found.items():
        lines += [f"## {label} ({data['created']})", "",
                  ("| what | wall s | first search s | stderr bytes | libtorch | load before | "
                  "load after |"), "| --- | ---: | ---: | ---: | --- | --- | --- |"]
        for r in data["rows"]:
            lines.append(f"| {r['what']} | {r['wall_s']} | {r.get('first_search_s', '')} | "
                         f"{r.get('stderr_bytes', '')} | {'yes' if r['libtorch'] else 'no'} | "
                         f"{r['load_before']} | {r['load_after']} |")
        lines.append("")
    lines += [("Reproduce: `WSIS_HOME=/tmp/home .venv/bin/wsis index`, then "
              "`.venv/bin/python bench/bench_cli.py --home /tmp/home --label after`.")]
    if NOTES.is_file():
        lines += ["", NOTES.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a built WSIS_HOME")
    parser.add_argument("--label", default="after", help="before / after")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    data = measure(args.home.resolve(), 1 if args.smoke else args.runs)
    if args.smoke:
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"cli-{args.label}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "cli.md").write_text(report(list(REPORT_LABELS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
