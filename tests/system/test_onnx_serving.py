"""Serving on the default settings (the ONNX backend) never loads torch: start the real server
with the shipped models and the ONNX export, answer searches and tags, then inspect the
process's mappings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

from nlp.config import PROJECT_ROOT
from tests.servers import ServerProcess

pytestmark = pytest.mark.model


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_onnx_server_answers_without_torch(tmp_path: Path, export_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSIS_EMBEDDING_BACKEND", raising=False)
    home = tmp_path / "home"
    shutil.copytree(export_dir, home / "onnx" / "all-MiniLM-L6-v2")  # exported before
    server = ServerProcess(home, WSIS_EMBEDDING_MODEL="all-MiniLM-L6-v2",
                           WSIS_MODELS_DIR=str(PROJECT_ROOT / "models"),
                           WSIS_API_TOKEN="onnx-serving-token-0123456789")
    shipped = sorted(p.name for p in (PROJECT_ROOT / "models").glob("*/*"))
    try:
        server.start(timeout=300)
        health = httpx.get(server.base + "/health").json()
        assert health["taggers"]["available"], health
        assert health["index"]["embedding_model"] == "all-MiniLM-L6-v2"
        hits = httpx.post(server.base + "/v1/search", timeout=60, json={
            "query": "connect every school to the internet", "k": 3}).json()["results"]
        assert any("Giga" in h["text"] for h in hits)
        tags = httpx.post(server.base + "/v1/tag", timeout=60, json={
            "texts": ["We will connect every school to the Internet by 2030."]}).json()
        assert "4" in [t["label"] for t in tags["results"][0]["sdgs"] if t["predicted"]]
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        assert "libtorch" not in maps
    finally:
        server.stop()
    assert sorted(p.name for p in (PROJECT_ROOT / "models").glob("*/*")) == shipped
