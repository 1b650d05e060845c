"""``/health`` and ``/v1/taxonomy``."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_reports_index_and_models(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["index"]["version"] >= 1
    assert body["index"]["passage_count"] > 50
    assert body["index"]["document_count"] == 5
    assert body["index"]["embedding_model"] == "hash:256"
    assert body["taggers"]["available"] is True
    assert set(body["taggers"]["models"]) == {"action-lines", "sdgs", "gdc"}
    assert body["taggers"]["models"]["sdgs"]["version"].startswith("v1")


def test_taxonomy_lists_every_scheme(client: TestClient) -> None:
    body = client.get("/v1/taxonomy").json()
    assert set(body["schemes"]) == {"action-lines", "sdgs", "gdc"}
    action_lines = {lab["id"] for lab in body["schemes"]["action-lines"]["labels"]}
    assert {"C1", "C7", "C7.e-learning", "C11"} <= action_lines
    goals = [lab for lab in body["schemes"]["sdgs"]["labels"] if lab["level"] == "goal"]
    assert len(goals) == 17
    assert any(lab["id"].startswith("GDC-") for lab in body["schemes"]["gdc"]["labels"])
