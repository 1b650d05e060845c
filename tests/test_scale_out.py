"""Scale-out: two server processes share one database and one published index directory.

A document uploaded through one process is found by a search on the other without a restart
(each request compares the live index version with the one it holds)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TOKEN = "scale-out-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(home: Path, database_url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, WSIS_HOME=str(home), WSIS_DATABASE_URL=database_url,
               WSIS_EMBEDDING_MODEL="hash:256", WSIS_API_TOKEN=TOKEN, HF_HUB_OFFLINE="1",
               WSIS_MODELS_DIR=str(home / "models"), WSIS_DATA_DIR=str(home / "no-data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen, base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{base} did not come up in {timeout} s")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_share_index_and_store(tmp_path: Path, request, backend: str) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("database_url_postgresql")
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    home = tmp_path / "home"
    first, a = _start(home, url)
    try:
        _wait(first, a)  # the first process builds the index
        second, b = _start(home, url)
        try:
            _wait(second, b)
            before = httpx.get(b + "/health").json()["index"]
            text = ("Lighthouse keepers commit to broadband beacons on every remote island "
                    "by 2031, with solar-powered relays.")
            upload = httpx.post(a + "/v1/documents", headers={"Authorization": f"Bearer {TOKEN}"},
                                files={"file": ("islands.txt", text.encode(), "text/plain")},
                                data={"title": "Island beacons", "organization": "Keepers"},
                                timeout=60)
            assert upload.status_code == 201, upload.text
            hits = httpx.post(b + "/v1/search", json={"query": "lighthouse keepers beacons",
                                                      "k": 1, "mode": "lexical"},
                              timeout=60).json()["results"]
            assert hits and hits[0]["organization"] == "Keepers"
            after = httpx.get(b + "/health").json()["index"]
            assert after["version"] > before["version"]
            assert after["passage_count"] == before["passage_count"] + 1
            docs = httpx.get(b + "/v1/documents").json()
            assert "Island beacons" in str(docs)
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        first.terminate()
        first.wait(timeout=30)
