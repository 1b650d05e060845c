"""The app as a whole: OpenAPI and the page, the JSON body cap, serving without taggers,
and what survives a restart."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.apphelp import (
    AUTH,
    SCHOOLS,
    first_doc,
    make_settings,
    open_app,
    small_corpus,
    upload,
)


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/health", "/v1/taxonomy", "/v1/search", "/v1/similar", "/v1/tag",
                 "/v1/documents", "/v1/documents/{doc_id}", "/v1/documents/{doc_id}/report.csv",
                 "/v1/documents/{doc_id}/report.json", "/v1/feedback", "/v1/feedback/export",
                 "/v1/models", "/v1/models/retrain", "/v1/jobs/{job_id}"):
        assert path in paths, path
    assert "multipart/form-data" in paths["/v1/documents"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_page_is_served_with_a_strict_content_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_json_bodies_are_capped(client: TestClient) -> None:
    settings = client.app.state.ctx.settings
    cap = max(1 << 20, settings.max_texts_per_request * settings.max_text_chars * 6)
    declared = client.post("/v1/search", content=b"{}", headers={
        "Content-Type": "application/json", "Content-Length": str(cap + 1)})
    assert declared.status_code == 413

    def stream() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(cap // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    streamed = client.post("/v1/search", content=stream(),
                           headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


# --------------------------------------------------------------------------- no taggers


def test_without_taggers_tag_endpoints_answer_503(tmp_path: Path, monkeypatch) -> None:
    import nlp.training.trainers

    def no_models(*args, **kwargs):
        raise RuntimeError("model directory is read-only")

    monkeypatch.setattr(nlp.training.trainers, "ensure_models", no_models)
    settings = make_settings(tmp_path / "home", tmp_path / "models",
                             corpus_dir=small_corpus(tmp_path / "c"))
    test_client, _ = open_app(settings)
    with test_client:
        health = test_client.get("/health").json()["taggers"]
        assert health["available"] is False and "read-only" in health["reason"]
        tagged = test_client.post("/v1/tag", json={"texts": [SCHOOLS]})
        assert tagged.status_code == 503
        assert "taggers not available" in tagged.json()["detail"]
        search = test_client.post("/v1/search", json={"query": "school"}).json()
        assert search["tags_available"] is False and search["results"]
        assert search["results"][0]["tags"] is None
        labelled = test_client.post("/v1/search", json={"query": "school",
                                                        "filters": {"label": "C1"}})
        assert labelled.status_code == 503
        doc = first_doc(test_client)
        detail = test_client.get(f"/v1/documents/{doc['id']}").json()
        assert detail["tags_available"] is False and detail["summary"] is None
        assert test_client.get(f"/v1/documents/{doc['id']}/report.csv").status_code == 503
        uploaded = upload(test_client, "u.txt", SCHOOLS.encode() + b" Uploaded.")
        assert uploaded.status_code == 201  # documents still go in, just untagged


# --------------------------------------------------------------------------- restart


def test_everything_survives_a_restart(tmp_path: Path, models_dir: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    settings = make_settings(tmp_path / "home", models, corpus_dir=small_corpus(tmp_path / "c"))
    first, _ = open_app(settings)
    with first:
        doc = upload(first, "kept.txt", b"Undersea cables carry most international traffic. "
                     b"Their repair ships are few.", title="Cables").json()["document"]
        passage_id = doc["passage_list"][0]["id"]
        first.post("/v1/feedback", headers=AUTH, json={"passage_id": passage_id, "label": "C2",
                                                       "action": "accept"})
        first.post("/v1/feedback", headers=AUTH, json={"text": "Cable repair.", "label": "9",
                                                       "action": "add"})
        health = first.get("/health").json()
        documents = first.get("/v1/documents").json()
    second, _ = open_app(settings)
    with second:
        assert second.get("/health").json()["index"] == health["index"]
        assert second.get("/v1/documents").json() == documents
        again = second.get(f"/v1/documents/{doc['id']}").json()
        assert again["passage_list"][0]["text"] == doc["passage_list"][0]["text"]
        hits = second.post("/v1/search", json={"query": "undersea cables repair ships",
                                               "mode": "lexical", "k": 1}).json()["results"]
        assert hits[0]["doc_id"] == doc["id"]
        feedback = second.get("/v1/feedback").json()
        assert feedback["count"] == 2
        assert [f["label"] for f in feedback["feedback"]] == ["C2", "9"]
        assert feedback["feedback"][0]["passage_id"] == passage_id


def test_a_job_cut_off_by_shutdown_is_marked_failed(tmp_path: Path, models_dir: Path) -> None:
    from nlp import jobs
    from nlp.store import Store

    settings = make_settings(tmp_path / "home", models_dir,
                             corpus_dir=small_corpus(tmp_path / "c"))
    store = Store(settings.db_url)
    job = jobs.create_job(store, "retrain")
    jobs.start_job(store, job.id)
    store.close()
    test_client, _ = open_app(settings)
    with test_client:
        seen = test_client.get(f"/v1/jobs/{job.id}").json()
        assert seen["status"] == "failed" and "interrupted" in seen["message"]


# --------------------------------------------------------------------------- background start


def test_a_restart_answers_health_while_loading_in_the_background(
        tmp_path: Path, models_dir: Path) -> None:
    """With background loading (the default), /health answers from the index manifest and
    lists what still loads; a tag request waits for the taggers instead of failing."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    settings = make_settings(tmp_path / "home", models, corpus_dir=small_corpus(tmp_path / "c"))
    first, _ = open_app(settings)
    with first:
        before = first.get("/health").json()
    background = settings.model_copy(update={"background_loading": True})
    second, _ = open_app(background)
    with second:
        health = second.get("/health").json()
        assert health["index"] == before["index"]
        assert set(health["loading"]) <= {"search", "taggers", "warm-up"}
        if "taggers" in health["loading"]:
            assert health["taggers"] == {"available": False, "reason": "taggers are loading",
                                         "models": {}}
        tagged = second.post("/v1/tag", json={"texts": [SCHOOLS]})
        assert tagged.status_code == 200 and tagged.json()["results"][0]["action_lines"]
        deadline = time.monotonic() + 120
        while second.get("/health").json()["loading"] and time.monotonic() < deadline:
            time.sleep(0.1)
        health = second.get("/health").json()
        assert health["loading"] == [] and health["taggers"]["available"] is True
        assert health["taggers"]["models"] == before["taggers"]["models"]


def test_a_restart_answers_health_without_importing_sqlalchemy(tmp_path: Path,
                                                             models_dir: Path) -> None:
    """SQLAlchemy (~0.4 s to import) stays out of a restart until a request needs the store:
    the feedback count and the interrupted-jobs check read SQLite with sqlite3."""
    import subprocess
    import sys

    from nlp.config import PROJECT_ROOT

    settings = make_settings(tmp_path / "home", models_dir,
                             corpus_dir=small_corpus(tmp_path / "c"))
    first, _ = open_app(settings)
    with first:
        doc = first_doc(first)
        passage_id = first.get(f"/v1/documents/{doc['id']}").json()["passage_list"][0]["id"]
        assert first.post("/v1/feedback", headers=AUTH, json={
            "passage_id": passage_id, "label": "C2", "action": "accept"}).status_code == 201
    code = (
        "import sys\n"
        "from tests.api.apphelp import make_settings, open_app\n"
        f"settings = make_settings({str(settings.home)!r}, {str(models_dir)!r}, "
        f"corpus_dir={str(settings.corpus_dir)!r})\n"
        "client, _ = open_app(settings)\n"
        "with client:\n"
        "    health = client.get('/health').json()\n"
        "    assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n"
        "    assert health['feedback_count'] == 1, health\n"
        "    assert client.get('/v1/feedback').json()['count'] == 1\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
