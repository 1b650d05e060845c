"""First start with several uvicorn workers on an empty home: one sets up, the others wait.

Without the start-up lock both workers would ingest the corpus and build the models at the
same time (duplicate inserts, colliding temporary model folders) and one would crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nlp.config import PROJECT_ROOT
from tests.servers import free_port


def test_two_workers_start_together_on_an_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "no-data").mkdir()
    port = free_port()
    env = {**os.environ, "WSIS_HOME": str(home), "WSIS_EMBEDDING_MODEL": "hash:256",
           "WSIS_MODELS_DIR": str(home / "models"), "WSIS_DATA_DIR": str(tmp_path / "no-data"),
           "WSIS_CORPUS_DIR": str(PROJECT_ROOT / "corpus" / "wsis20"), "HF_HUB_OFFLINE": "1"}
    env.pop("WSIS_API_TOKEN", None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--workers",
             "2", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 240
            # Both workers report ready once each has finished its lifespan.
            while log_path.read_text().count("Application startup complete") < 2:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
            done = 0
            while done < 10:  # requests land on either worker; each loads in the background
                health = httpx.get(f"{base}/health", timeout=10).json()
                assert health["index"]["document_count"] == 5
                assert time.monotonic() < deadline, health
                if health["loading"]:
                    done = 0
                    time.sleep(0.5)
                    continue
                assert health["taggers"]["available"] is True
                done += 1
            token = (home / "api-token").read_text().strip()
            response = httpx.post(f"{base}/v1/feedback", timeout=10,
                                  headers={"Authorization": f"Bearer {token}"},
                                  json={"text": "Schools online.", "label": "C4",
                                        "action": "add"})
            assert response.status_code == 201
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert text.count("generated an API token") == 1
    assert text.count("Built gdc tagger") == 1
