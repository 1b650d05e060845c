"""``/v1/feedback``: recording, listing, export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from tests.api.apphelp import AUTH, WOMEN, first_doc


def test_feedback_on_passages_and_texts_and_export(fresh: TestClient) -> None:
    doc = first_doc(fresh)
    passage = fresh.get(f"/v1/documents/{doc['id']}").json()["passage_list"][0]
    accepted = fresh.post("/v1/feedback", headers=AUTH, json={
        "passage_id": passage["id"], "label": "C7.e-learning", "action": "accept",
        "score": 0.61, "note": "clearly about schools", "author": "reviewer-1"})
    assert accepted.status_code == 201, accepted.text
    record = accepted.json()
    assert record["doc_id"] == doc["id"] and record["text"] == passage["text"]
    assert record["scheme"] == "action-lines" and record["score"] == pytest.approx(0.61)
    rejected = fresh.post("/v1/feedback", headers=AUTH, json={
        "text": WOMEN, "label": "5", "scheme": "sdgs", "action": "reject"})
    added = fresh.post("/v1/feedback", headers=AUTH, json={
        "text": "=HYPERLINK(\"http://x\")", "label": "GDC-1", "action": "add"})
    assert rejected.status_code == 201 and added.status_code == 201
    assert added.json()["scheme"] == "gdc"

    listed = fresh.get("/v1/feedback").json()
    assert listed["count"] == 3
    assert [f["action"] for f in listed["feedback"]] == ["accept", "reject", "add"]
    only = fresh.get("/v1/feedback", params={"passage_id": passage["id"]}).json()["feedback"]
    assert [f["id"] for f in only] == [record["id"]]

    as_csv = fresh.get("/v1/feedback/export", params={"format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["label"] for r in rows] == ["C7.e-learning", "5", "GDC-1"]
    assert rows[0]["note"] == "clearly about schools"
    as_jsonl = fresh.get("/v1/feedback/export", params={"format": "jsonl"})
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert [line["action"] for line in lines] == ["accept", "reject", "add"]
    assert fresh.get("/v1/feedback/export", params={"format": "xml"}).status_code == 422


@pytest.mark.parametrize("payload, code", [
    ({"text": "t", "label": "C99", "action": "accept"}, 422),
    ({"text": "t", "label": "C1", "scheme": "sdgs", "action": "accept"}, 422),
    ({"text": "t", "label": "C1", "action": "love"}, 422),
    ({"text": "t", "passage_id": "x-0001", "label": "C1", "action": "accept"}, 422),
    ({"label": "C1", "action": "accept"}, 422),
    ({"text": "  ", "label": "C1", "action": "accept"}, 422),
    ({"text": "t", "label": "C1", "action": "accept", "score": 1.5}, 422),
    ({"passage_id": "0123456789abcdef-0000", "label": "C1", "action": "accept"}, 404),
])
def test_feedback_rejects_bad_input(client: TestClient, payload: dict, code: int) -> None:
    response = client.post("/v1/feedback", json=payload, headers=AUTH)
    assert response.status_code == code, response.text


def test_feedback_rejects_text_that_is_too_long(client: TestClient) -> None:
    limit = client.app.state.ctx.settings.max_text_chars
    response = client.post("/v1/feedback", headers=AUTH, json={
        "text": "z" * (limit + 1), "label": "C1", "action": "add"})
    assert response.status_code == 422
