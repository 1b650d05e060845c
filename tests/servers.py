"""A real uvicorn server in a subprocess, on loopback, for tests that need processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``uvicorn api.app:create_app`` over one home with the fake embedder.

    Models go to ``home/models`` and the data directory is empty, so start-up builds
    zero-shot taggers in seconds and never writes to the repository.
    """

    def __init__(self, home: Path, workers: int = 1, **env: str) -> None:
        self.home = home
        self.workers = workers
        self.env = {"WSIS_HOME": str(home), "WSIS_EMBEDDING_MODEL": "hash:256",
                    "WSIS_MODELS_DIR": str(home / "models"),
                    "WSIS_DATA_DIR": str(home / "no-data"), "HF_HUB_OFFLINE": "1", **env}
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.log = home / "server.log"

    def start(self, timeout: float = 180) -> ServerProcess:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.home.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads the server's output while it runs, and a full pipe
        # would block it.
        self.log = self.home / f"server-{port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
                 "127.0.0.1", "--port", str(port), "--workers", str(self.workers),
                 "--log-level", "warning"],
                env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)
        self.wait(timeout)
        return self

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text(errors="replace")[-3000:])
            try:
                health = httpx.get(self.base + "/health", timeout=2)
                # up, and done loading in the background (the tests want the taggers)
                if health.status_code == 200 and not health.json().get("loading"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.base} did not come up in {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a crash."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
