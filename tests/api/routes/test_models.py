"""``/v1/models``, ``/v1/models/retrain`` and ``/v1/jobs``."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests.api.apphelp import AUTH, SCHOOLS, WOMEN


def wait_for_job(client: TestClient, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_retrain_uses_feedback_and_makes_new_models_live(fresh: TestClient) -> None:
    before = fresh.get("/v1/models").json()
    assert before["available"] is True and before["feedback_count"] == 0
    old_version = before["models"]["action-lines"]["version"]
    for text, label in ((SCHOOLS, "C7.e-learning"), (WOMEN, "C4")):
        fresh.post("/v1/feedback", headers=AUTH,
                   json={"text": text, "label": label, "action": "add"})
    started = fresh.post("/v1/models/retrain", headers=AUTH, json={"evaluate": False})
    assert started.status_code == 202
    assert started.json()["params"] == {"feedback_count": 2, "evaluate": False}
    job = wait_for_job(fresh, started.json()["id"])
    assert job["status"] == "succeeded", job["message"]
    assert job["result"]["feedback_examples"] == 2
    after = fresh.get("/v1/models").json()
    assert after["models"]["action-lines"]["version"] != old_version
    assert after["models"]["action-lines"]["n_feedback_examples"] == 2
    settings = fresh.app.state.ctx.settings  # the new models live in the service's home
    version = after["models"]["action-lines"]["version"]
    assert (settings.runtime_models_dir / "action-lines" / version / "manifest.json").is_file()
    assert not (settings.models_dir / "action-lines" / version).exists()
    assert after["jobs"][0]["id"] == job["id"]
    assert fresh.post("/v1/tag", json={"texts": [SCHOOLS]}).status_code == 200


def test_only_one_retrain_runs_at_a_time(fresh: TestClient) -> None:
    retrainer = fresh.app.state.ctx.retrainer
    release = threading.Event()

    def slow_train(*args, **kwargs):
        release.wait(30)
        raise RuntimeError("training data unreadable")

    retrainer._train = slow_train
    first = fresh.post("/v1/models/retrain", headers=AUTH)
    assert first.status_code == 202
    second = fresh.post("/v1/models/retrain", headers=AUTH, json={"evaluate": True})
    assert second.status_code == 409 and first.json()["id"] in second.json()["detail"]
    assert fresh.post("/v1/models/retrain", headers=AUTH,
                      json={"evaluate": "sometimes"}).status_code == 422
    release.set()
    job = wait_for_job(fresh, first.json()["id"])
    assert job["status"] == "failed" and "training data unreadable" in job["message"]
    assert fresh.get("/v1/models").json()["available"] is True  # old models still serve


def test_models_saved_by_another_process_are_picked_up(fresh: TestClient, monkeypatch) -> None:
    import api.tagging
    from api.jobs import retrain_with_feedback

    ctx = fresh.app.state.ctx
    before = fresh.get("/v1/models").json()["models"]["gdc"]["version"]
    # As if `wsis train` ran in another process while the server was up.
    result = retrain_with_feedback(ctx.settings, ctx.workspace.embedder, ctx.workspace.store,
                                   "elsewhere")
    monkeypatch.setattr(api.tagging, "RELOAD_CHECK_SECONDS", 0.0)
    after = fresh.get("/v1/models").json()["models"]["gdc"]["version"]
    assert after == result["version"] != before


@pytest.mark.parametrize("job_id, code", [("0" * 32, 404), ("not-a-job", 422)])
def test_unknown_jobs(client: TestClient, job_id: str, code: int) -> None:
    assert client.get(f"/v1/jobs/{job_id}").status_code == code
