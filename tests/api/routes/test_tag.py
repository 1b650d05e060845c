"""``/v1/tag``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.apphelp import CONTRACT_KEYS, SCHOOLS, WOMEN, tagged_passage


def test_tag_follows_the_cli_contract_with_evidence(client: TestClient) -> None:
    response = client.post("/v1/tag", json={"texts": [SCHOOLS, WOMEN], "ids": ["s", "w"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["models"]) == {"action-lines", "sdgs", "gdc"}
    results = body["results"]
    assert [r["id"] for r in results] == ["s", "w"]
    for result in results:
        for key in CONTRACT_KEYS:
            assert key in result
            scores = [t["score"] for t in result[key]]
            assert scores == sorted(scores, reverse=True)
            for entry in result[key]:
                assert {"label", "score", "predicted", "threshold", "sentences"} <= set(entry)
                assert entry["predicted"] == (entry["score"] >= entry["threshold"]) or \
                    key in ("sdg_targets", "gdc", "gdc_sections")  # hierarchy rules
        labels = [t["label"] for t in result["action_lines"]]
        assert len(labels) == len(set(labels)) >= 11


def test_tag_agrees_with_passage_tags_and_explains_them(client: TestClient) -> None:
    passage, _ = tagged_passage(client)
    result = client.post("/v1/tag", json={"texts": [passage["text"]]}).json()["results"][0]
    for key in CONTRACT_KEYS:
        predicted = [t for t in result[key] if t["predicted"]]
        shown = passage["tags"][key]
        assert len(shown) == min(20, len(predicted))
        assert {t["label"] for t in shown} <= {t["label"] for t in predicted}
        for mine, theirs in zip(shown, predicted):
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-3)
        for entry in predicted:
            assert entry["sentences"], entry["label"]
            for sentence in entry["sentences"]:
                assert passage["text"][sentence["start"]:sentence["end"]] == sentence["text"]


def test_tag_without_explain_has_no_evidence(client: TestClient) -> None:
    body = client.post("/v1/tag", json={"texts": SCHOOLS, "explain": False}).json()
    entry = body["results"][0]["action_lines"][0]
    assert set(entry) == {"label", "score", "predicted"}
    assert body["results"][0]["id"] == "0"


@pytest.mark.parametrize("payload", [
    {"texts": []},
    {"texts": ["  "]},
    {"texts": ["a", "b"], "ids": ["only-one"]},
    {"text": "singular key"},
])
def test_tag_rejects_bad_input(client: TestClient, payload: dict) -> None:
    assert client.post("/v1/tag", json=payload).status_code == 422


def test_tag_rejects_too_long_or_too_many_texts(client: TestClient) -> None:
    settings = client.app.state.ctx.settings
    long = client.post("/v1/tag", json={"texts": ["x" * (settings.max_text_chars + 1)]})
    assert long.status_code == 422 and "limit" in long.json()["detail"]
    many = client.post("/v1/tag", json={"texts": ["x"] * (settings.max_texts_per_request + 1)})
    assert many.status_code == 422 and "at most" in many.json()["detail"]
