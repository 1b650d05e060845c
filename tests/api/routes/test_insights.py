"""``/v1/insights``: the corpus views over the five founding documents (fake embedder,
zero-shot taggers), checked against the per-document reports and the taxonomy; the exports
against the JSON views."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from tests.api.apphelp import SCHOOLS, upload


@pytest.fixture(scope="module")
def reports(client: TestClient) -> dict[str, dict]:
    """Each document's tag report (summary and passages with tags), by id."""
    docs = client.get("/v1/documents").json()["documents"]
    return {d["id"]: client.get(f"/v1/documents/{d['id']}").json() for d in docs}


def _tagged(report: dict, key: str, label: str) -> list[str]:
    return [p["id"] for p in report["passage_list"]
            if label in {t["label"] for t in (p["tags"] or {}).get(key, [])}]


def test_matrix_counts_equal_the_document_reports(client: TestClient, reports) -> None:
    body = client.get("/v1/insights/matrix", params={"key": "action_lines"}).json()
    labels = [lab["id"] for lab in body["labels"]]
    assert {r["id"] for r in body["rows"]} == set(reports)
    assert any(any(r["counts"]) for r in body["rows"])
    for row in body["rows"]:
        report = reports[row["id"]]
        assert row["passages"] == report["passages"]
        for j, label in enumerate(labels):
            assert row["counts"][j] == len(_tagged(report, "action_lines", label))
            assert row["shares"][j] == round(row["counts"][j] / row["passages"], 4)


def test_matrix_groups_and_filters(client: TestClient, reports) -> None:
    grouped = client.get("/v1/insights/matrix",
                         params={"key": "sdgs", "group_by": "organization"}).json()
    itu = next(r for r in grouped["rows"] if r["id"] == "ITU")
    assert itu["documents"] == 1
    filtered = client.get("/v1/insights/matrix", params={"kind": "outcome"}).json()
    assert {r["kind"] for r in filtered["rows"]} == {"outcome"} and len(filtered["rows"]) == 2
    dated = client.get("/v1/insights/matrix", params={"date_from": "2025-02"}).json()
    assert {r["organization"] for r in dated["rows"]} == {"IEC", "ITU"}  # ITU: "2025"
    old = client.get("/v1/insights/matrix", params={"date_to": "2024"}).json()
    assert [r["organization"] for r in old["rows"]] == ["ITU-T WTSA"]
    assert client.get("/v1/insights/matrix", params={"date_from": "June"}).status_code == 422
    assert client.get("/v1/insights/matrix", params={"key": "colours"}).status_code == 422


def test_cell_lists_exactly_the_tagged_passages(client: TestClient, reports) -> None:
    body = client.get("/v1/insights/matrix", params={"key": "action_lines"}).json()
    row = max(body["rows"], key=lambda r: max(r["counts"]))
    j = max(range(len(row["counts"])), key=lambda i: row["counts"][i])
    label = body["labels"][j]["id"]
    cell = client.get("/v1/insights/matrix/cell", params={
        "key": "action_lines", "label": label, "row": row["id"]}).json()
    assert cell["total"] == row["counts"][j]
    assert sorted(p["passage_id"] for p in cell["passages"]) == sorted(
        _tagged(reports[row["id"]], "action_lines", label))
    scores = [p["score"] for p in cell["passages"]]
    assert scores == sorted(scores, reverse=True)
    bad = client.get("/v1/insights/matrix/cell", params={"label": "C99", "row": row["id"]})
    assert bad.status_code == 422 and "C99" in bad.json()["detail"]


def test_gaps_agree_with_the_matrix(client: TestClient) -> None:
    matrix = client.get("/v1/insights/matrix", params={"key": "gdc_commitments"}).json()
    addressed = {lab["id"]: lab["rows"] for lab in matrix["labels"]}
    body = client.get("/v1/insights/gaps", params={"key": "gdc_commitments"}).json()
    assert body["documents"] == 5
    assert {g["label"] for g in body["gaps"]} == {k for k, n in addressed.items() if n <= 1}
    assert all(g["addressed"] == addressed[g["label"]] for g in body["gaps"])
    by_org = client.get("/v1/insights/gaps", params={"key": "action_lines",
                                                     "by": "organization"}).json()
    assert all(g["addressed"] <= 1 for g in by_org["gaps"])


def test_themes_span_documents(client: TestClient) -> None:
    body = client.get("/v1/insights/themes", params={"similarity": 0.3}).json()
    assert body["passages"] == sum(
        d["passages"] for d in client.get("/v1/documents").json()["documents"])
    assert body["themes"], body
    for theme in body["themes"]:
        assert len(theme["documents"]) >= 2 and theme["size"] == sum(
            d["passages"] for d in theme["documents"])
        assert theme["label"] and len(theme["passages"]) == min(theme["size"], 20)
    assert client.get("/v1/insights/themes", params={"similarity": 0}).status_code == 422


def test_compare_profiles_equal_matrix_shares(client: TestClient) -> None:
    matrix = client.get("/v1/insights/matrix", params={"key": "sdgs"}).json()
    a, b = matrix["rows"][0], matrix["rows"][2]
    body = client.get("/v1/insights/compare", params={"a": a["id"], "b": b["id"],
                                                      "key": "sdgs"}).json()
    labels = [lab["id"] for lab in matrix["labels"]]
    for entry in body["profile"]:
        j = labels.index(entry["label"])
        assert (entry["share_a"], entry["share_b"]) == (a["shares"][j], b["shares"][j])
    assert body["pairs"] and all(p["a"]["doc_id"] == a["id"] and p["b"]["doc_id"] == b["id"]
                                 for p in body["pairs"])
    same = client.get("/v1/insights/compare", params={"a": a["id"], "b": a["id"]})
    assert same.status_code == 422


def test_crosswalk_counts_equal_the_matrix(client: TestClient) -> None:
    taxonomy = client.get("/v1/taxonomy").json()["schemes"]["action-lines"]["labels"]
    walk = client.get("/v1/insights/crosswalk", params={"action_line": "C2"}).json()
    assert walk["action_line"]["id"] == "C2"
    assert walk["targets"], walk
    matrix = client.get("/v1/insights/matrix", params={"key": "sdg_targets"}).json()
    totals = {lab["id"]: lab["passages"] for lab in matrix["labels"]}
    assert all(t["passages"] == totals.get(t["id"], 0) for t in walk["targets"])
    goals = {t["goal"] for t in walk["targets"]}
    assert all(set(c["via_goals"]) <= goals and c["via_goals"] for c in walk["commitments"])
    assert next(lab for lab in taxonomy if lab["id"] == "C2")
    assert client.get("/v1/insights/crosswalk",
                      params={"action_line": "C42"}).status_code == 422


def test_xlsx_has_a_sheet_per_view_with_the_json_numbers(client: TestClient) -> None:
    from openpyxl import load_workbook

    params = {"key": "action_lines", "similarity": 0.3}
    response = client.get("/v1/insights/export.xlsx", params=params)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["Matrix", "Gaps", "Themes", "Compare", "Cross-walk"]
    sheets = {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}

    matrix = client.get("/v1/insights/matrix", params={"key": "action_lines"}).json()
    header, *rows = sheets["Matrix"]
    assert list(header[7:]) == [lab["id"] for lab in matrix["labels"]]
    assert [list(r[7:]) for r in rows] == [r["shares"] for r in matrix["rows"]]
    assert [(r[0], r[6]) for r in rows] == [(r["id"], r["passages"]) for r in matrix["rows"]]

    gaps = client.get("/v1/insights/gaps", params={"key": "action_lines"}).json()["gaps"]
    assert [(r[0], r[2], r[3]) for r in sheets["Gaps"][1:]] == [
        (g["label"], g["addressed"], g["passages"]) for g in gaps]

    themes = client.get("/v1/insights/themes", params={"similarity": 0.3,
                                                       "limit": 1000}).json()["themes"]
    assert [(r[0], r[2], r[3], r[5]) for r in sheets["Themes"][1:]] == [
        (t["id"], t["size"], len(t["documents"]), t["cohesion"]) for t in themes]

    pairs = sheets["Compare"][1:]
    assert len(pairs) == 10  # five documents, every pair once
    a, _, b, _, similarity, closest, _, _ = pairs[0]
    one = client.get("/v1/insights/compare", params={"a": a, "b": b, "pairs": 1}).json()
    assert (similarity, closest) == (one["profile_similarity"], one["pairs"][0]["similarity"])

    walk = client.get("/v1/insights/crosswalk", params={"action_line": "C2"}).json()
    c2 = {(r[2], r[4]) for r in sheets["Cross-walk"][1:] if r[0] == "C2"}
    expected = {(n["id"], n["passages"]) for n in
                [walk["action_line"], *walk["goals"], *walk["targets"], *walk["commitments"],
                 *walk["sections"]]}
    assert c2 == expected
    assert [n["id"] for n in walk["sections"]] == ["GDC-1.1"]  # C2's own GDC section


def test_csv_views_and_jsonl_tags(client: TestClient, reports) -> None:
    response = client.get("/v1/insights/export.csv", params={"view": "gaps", "key": "sdgs"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    gaps = client.get("/v1/insights/gaps", params={"key": "sdgs"}).json()["gaps"]
    assert [r[0] for r in rows[1:]] == [g["label"] for g in gaps]
    lines = client.get("/v1/insights/tags.jsonl").text.splitlines()
    assert len(lines) == sum(r["passages"] for r in reports.values())
    first = json.loads(lines[0])
    passage = next(p for p in reports[first["doc_id"]]["passage_list"]
                   if p["id"] == first["passage_id"])
    assert first["tags"] == passage["tags"] and first["text"] == passage["text"]


def test_exports_neutralise_formulas(fresh: TestClient) -> None:
    created = upload(fresh, "evil.txt", SCHOOLS.encode(), title="=HYPERLINK(\"http://x\")",
                     organization="@SUM(A1)")
    assert created.status_code == 201
    text = fresh.get("/v1/insights/export.csv", params={"view": "matrix"}).text
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text
    assert not any(cell.startswith(("=", "@")) for row in csv.reader(io.StringIO(text))
                   for cell in row)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(fresh.get("/v1/insights/export.xlsx").content))
    values = [c.value for row in book["Matrix"].iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\")" in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_insights_page_is_served(client: TestClient) -> None:
    page = client.get("/insights")
    assert page.status_code == 200 and "insights.js" in page.text
    schema = client.get("/openapi.json").json()["paths"]
    assert {"/v1/insights/matrix", "/v1/insights/gaps", "/v1/insights/themes",
            "/v1/insights/compare", "/v1/insights/crosswalk", "/v1/insights/export.xlsx",
            "/v1/insights/export.csv", "/v1/insights/tags.jsonl"} <= set(schema)
