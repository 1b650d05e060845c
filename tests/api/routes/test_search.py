"""``/v1/search`` and ``/v1/similar``."""

from __future__ import annotations

from itertools import pairwise

import pytest
from fastapi.testclient import TestClient

from tests.api.apphelp import CONTRACT_KEYS, SCHOOLS, first_doc, tagged_passage

# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_search_returns_passages_with_metadata_and_tags(client: TestClient, mode: str) -> None:
    response = client.post("/v1/search", json={"query": "connect every school to the internet",
                                                "k": 4, "mode": mode})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode and body["tags_available"] is True
    results = body["results"]
    assert 1 <= len(results) <= 4
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    assert all(a["score"] >= b["score"] for a, b in pairwise(results))
    top = results[0]
    for key in ("passage_id", "doc_id", "start", "end", "text", "title", "organization", "kind",
                "date", "source", "scores", "tags"):
        assert key in top
    assert top["end"] - top["start"] == len(top["text"])
    assert set(top["tags"]) >= set(CONTRACT_KEYS)
    if mode != "semantic":
        assert "school" in top["text"].lower()


def test_search_offsets_point_into_the_document(client: TestClient) -> None:
    hit = client.post("/v1/search", json={"query": "digital public infrastructure",
                                          "k": 1}).json()["results"][0]
    from nlp.store import Store

    store = Store(client.app.state.ctx.settings.db_url)
    try:
        text = store.get_document(hit["doc_id"]).text
    finally:
        store.close()
    assert text[hit["start"]:hit["end"]] == hit["text"]


def test_search_filters_by_metadata(client: TestClient) -> None:
    query = {"query": "internet governance", "k": 20, "mode": "hybrid"}
    by_org = client.post("/v1/search", json={**query, "filters": {"organization": "itu"}}).json()
    assert by_org["results"] and {r["organization"] for r in by_org["results"]} == {"ITU"}
    by_kind = client.post("/v1/search", json={**query, "filters": {"kind": ["outcome"]}}).json()
    assert by_kind["results"] and {r["kind"] for r in by_kind["results"]} == {"outcome"}
    dated = client.post("/v1/search", json={
        **query, "filters": {"date_from": "2025-01", "date_to": "2025-06-30"}}).json()
    assert dated["results"]
    assert all("2025-01" <= r["date"][:7] <= "2025-06" or r["date"] == "2025"
               for r in dated["results"])
    doc = first_doc(client)["id"]
    one = client.post("/v1/search", json={**query, "filters": {"document": [doc]}}).json()
    assert one["results"] and {r["doc_id"] for r in one["results"]} == {doc}


def test_search_filters_by_label(client: TestClient) -> None:
    hit, key = tagged_passage(client)
    label = hit["tags"][key][-1]["label"]
    body = client.post("/v1/search", json={"query": "security of networks", "k": 10,
                                           "filters": {"label": label}}).json()
    assert body["results"] and hit["passage_id"] in {r["passage_id"] for r in body["results"]}
    for result in body["results"]:
        assert label in {t["label"] for t in result["tags"][key]}
    both = client.post("/v1/search", json={"query": "security of networks", "k": 50,
                                           "filters": {"label": label,
                                                       "document": [hit["doc_id"]]}}).json()
    assert {r["doc_id"] for r in both["results"]} == {hit["doc_id"]}


@pytest.mark.parametrize("payload, fragment", [
    ({"query": "x", "filters": {"date_from": "last year"}}, "date_from"),
    ({"query": "x", "filters": {"label": "C99"}}, "C99"),
    ({"query": "x", "mode": "fuzzy"}, "mode"),
    ({"query": "x", "k": 0}, "k"),
    ({"query": "x", "k": 101}, "k"),
    ({"query": "   "}, "empty"),
    ({"query": ""}, "query"),
    ({"query": "x", "colour": "red"}, "colour"),
    ({"query": "x", "filters": {"country": "FR"}}, "country"),
])
def test_search_rejects_bad_input(client: TestClient, payload: dict, fragment: str) -> None:
    response = client.post("/v1/search", json=payload)
    assert response.status_code == 422
    assert fragment in response.text


def test_search_rejects_a_query_that_is_too_long(client: TestClient) -> None:
    limit = client.app.state.ctx.settings.max_query_chars
    response = client.post("/v1/search", json={"query": "a" * (limit + 1)})
    assert response.status_code == 422
    assert "limit" in response.json()["detail"]


# --------------------------------------------------------------------------- similar


def test_similar_to_a_passage_comes_from_other_documents(client: TestClient) -> None:
    hit = client.post("/v1/search", json={"query": "connect every school", "k": 1}).json()
    source = hit["results"][0]
    response = client.post("/v1/similar", json={"passage_id": source["passage_id"], "k": 3,
                                                "per_document": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"]["doc_id"] == source["doc_id"]
    groups = body["groups"]
    assert 1 <= len(groups) <= 3
    assert source["doc_id"] not in {g["doc_id"] for g in groups}
    assert len({g["doc_id"] for g in groups}) == len(groups)
    assert all(a["best_score"] >= b["best_score"] for a, b in pairwise(groups))
    for group in groups:
        assert 1 <= len(group["passages"]) <= 2
        assert {p["doc_id"] for p in group["passages"]} == {group["doc_id"]}
        assert group["passages"][0]["score"] == pytest.approx(group["best_score"], abs=1e-5)


def test_similar_to_free_text_searches_every_document(client: TestClient) -> None:
    body = client.post("/v1/similar", json={"text": SCHOOLS, "k": 5}).json()
    assert len(body["groups"]) == 5
    assert body["source"] == {"text": SCHOOLS}


@pytest.mark.parametrize("payload, code", [
    ({"passage_id": "0000000000000000-0000"}, 404),
    ({"passage_id": "a", "text": "b"}, 422),
    ({}, 422),
    ({"text": "x", "k": 0}, 422),
    ({"passage_id": "../../etc/passwd"}, 422),
])
def test_similar_rejects_bad_input(client: TestClient, payload: dict, code: int) -> None:
    assert client.post("/v1/similar", json=payload).status_code == code


def test_similar_rejects_text_that_is_too_long(client: TestClient) -> None:
    limit = client.app.state.ctx.settings.max_text_chars
    assert client.post("/v1/similar", json={"text": "b" * (limit + 1)}).status_code == 422
