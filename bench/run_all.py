"""Run every benchmark in turn (``make bench``); ``--smoke`` runs the quick versions.

Each script writes its own report into bench/results/; this only sequences them so they do
not compete for the two cores, and stops at the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_ingest.py", "bench_tagging.py", "bench_encoder.py", "bench_api.py",
           "bench_index.py", "bench_insights.py"]


def main(argv: list[str]) -> int:
    extra = [a for a in argv if a == "--smoke"]
    for script in SCRIPTS:
        start = time.perf_counter()
        print(f"== {script} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *extra])
        print(f"== {script}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
