"""The HTTP API with FastAPI's TestClient, a fake embedder and zero-shot taggers.

One app over the default corpus serves the read-only tests; tests that change state get a
fresh app on their own home with a two-document corpus.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.documents import safe_filename
from nlp.config import PROJECT_ROOT, Settings
from nlp.embed import HashEmbedder
from nlp.workspace import Workspace

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CORPUS = PROJECT_ROOT / "corpus" / "wsis20"
CONTRACT_KEYS = ("action_lines", "sdgs", "sdg_targets", "gdc", "gdc_commitments")

SCHOOLS = (
    "We commit to connecting every school to the Internet by 2030, with affordable broadband, "
    "digital skills training for teachers and open educational resources for every pupil. "
    "Ministries of education will report progress each year."
)
WOMEN = (
    "Closing the gender digital divide is a priority: women and girls in rural areas must get "
    "affordable devices, safe online spaces and training in digital skills. We will measure "
    "their connectivity separately in national statistics."
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Zero-shot taggers for the fake embedder, built once for the whole session."""
    from nlp.training.trainers import ensure_models

    home = tmp_path_factory.mktemp("models-home")
    settings = Settings(home=home, models_dir=home / "models", data_dir=None,
                        embedding_model="hash:256")
    ensure_models(settings, HashEmbedder(256))
    return home / "models"


def make_settings(home: Path, models: Path, **overrides) -> Settings:
    values = {"home": home, "models_dir": models, "data_dir": None,
              "embedding_model": "hash:256", "api_token": TOKEN, "corpus_dir": CORPUS}
    values.update(overrides)
    return Settings(**values)


def small_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schools.txt").write_text(f"Schools online\n\n{SCHOOLS}\n", encoding="utf-8")
    (folder / "women.md").write_text(f"# Women online\n\n{WOMEN}\n", encoding="utf-8")
    (folder / "manifest.csv").write_text(
        "file,title,organization,kind,date\n"
        "schools.txt,Schools online,UNESCO,input,2025-02\n"
        "women.md,Women online,UN Women,outcome,2024-11-05\n", encoding="utf-8")
    return folder


def open_app(settings: Settings, **client_kw) -> tuple[TestClient, object]:
    app = create_app(settings, Workspace(settings, embedder=HashEmbedder(256)))
    return TestClient(app, **client_kw), app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[TestClient]:
    """The default corpus; tests using it must leave it as they found it."""
    home = tmp_path_factory.mktemp("api-home")
    test_client, _ = open_app(make_settings(home, models_dir))
    with test_client:
        yield test_client


@pytest.fixture()
def fresh(tmp_path: Path, models_dir: Path) -> Iterator[TestClient]:
    """A private app: own home, own copy of the models, a two-document corpus."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    settings = make_settings(tmp_path / "home", models, corpus_dir=small_corpus(tmp_path / "c"))
    test_client, _ = open_app(settings)
    with test_client:
        yield test_client


def first_doc(client: TestClient) -> dict:
    return client.get("/v1/documents").json()["documents"][0]


def pdf_bytes(text: str, encrypt: str | None = None) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=encrypt)
    y = 800
    for line in text.split(". "):
        pdf.drawString(40, y, line.strip().rstrip(".") + ".")
        y -= 16
    pdf.save()
    return buffer.getvalue()


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Digital schools")
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def upload(client: TestClient, name: str, data: bytes, headers: dict | None = AUTH,
           **fields: str):
    return client.post("/v1/documents", files={"file": (name, data)}, data=fields,
                       headers=headers or {})


# --------------------------------------------------------------------------- health, taxonomy


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


def tagged_passage(client: TestClient, query: str = "security of networks") -> tuple[dict, str]:
    """A search hit with at least one predicted tag, and that tag's key."""
    hits = client.post("/v1/search", json={"query": query, "k": 50}).json()["results"]
    for key in ("action_lines", "sdgs", "gdc_commitments", "gdc"):
        for hit in hits:
            if hit["tags"][key]:
                return hit, key
    raise AssertionError("no passage carries a predicted tag")


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


# --------------------------------------------------------------------------- tag


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


# --------------------------------------------------------------------------- documents (read)


def test_document_list_and_detail(client: TestClient) -> None:
    documents = client.get("/v1/documents").json()["documents"]
    assert len(documents) == 5
    assert {d["organization"] for d in documents} >= {"ITU", "IEC", "RIPE NCC"}
    doc = documents[0]
    detail = client.get(f"/v1/documents/{doc['id']}").json()
    assert detail["title"] == doc["title"]
    assert detail["passages"] == doc["passages"] == len(detail["passage_list"])
    assert detail["tags_available"] is True
    assert set(detail["summary"]) >= set(CONTRACT_KEYS)
    for entry in detail["summary"]["action_lines"]:
        assert entry["passages"] >= 1 and 0 < entry["share"] <= 1
        assert entry["title"]
        assert 1 <= len(entry["top_passages"]) <= 3
        passage_ids = {p["id"] for p in detail["passage_list"]}
        assert {t["passage_id"] for t in entry["top_passages"]} <= passage_ids
    assert [p["index"] for p in detail["passage_list"]] == list(range(doc["passages"]))
    assert all(p["tags"] is not None for p in detail["passage_list"])
    short = client.get(f"/v1/documents/{doc['id']}", params={"passages": False}).json()
    assert short["passage_list"] == [] and short["summary"] == detail["summary"]


@pytest.mark.parametrize("path, code", [
    ("/v1/documents/0123456789abcdef", 404),
    ("/v1/documents/not-an-id", 422),
    ("/v1/documents/..%2F..%2Fetc%2Fpasswd", 404),
    ("/v1/documents/0123456789abcdef/report.csv", 404),
    ("/v1/documents/0123456789abcdef/report.json", 404),
])
def test_document_lookups_fail_cleanly(client: TestClient, path: str, code: int) -> None:
    assert client.get(path).status_code == code


def test_document_reports(client: TestClient) -> None:
    doc = first_doc(client)
    response = client.get(f"/v1/documents/{doc['id']}/report.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == doc["passages"]
    assert set(CONTRACT_KEYS) <= set(rows[0])
    assert {r["doc_id"] for r in rows} == {doc["id"]}
    report = client.get(f"/v1/documents/{doc['id']}/report.json")
    assert report.status_code == 200
    body = json.loads(report.content)
    assert body["id"] == doc["id"] and len(body["passage_list"]) == doc["passages"]
    assert "action_lines" in body["summary"]


# --------------------------------------------------------------------------- uploads


def test_upload_reads_indexes_and_tags_each_format(fresh: TestClient) -> None:
    before = fresh.get("/health").json()["index"]
    files = {
        "schools.pdf": pdf_bytes(SCHOOLS),
        "schools.docx": docx_bytes(SCHOOLS + " The plan covers rural districts first."),
        "page.html": (f"<!doctype html><html><head><title>Broadband page</title></head><body>"
                      f"<nav>Home | About</nav><p>{SCHOOLS} Broadband plans differ.</p>"
                      f"</body></html>").encode(),
        "notes.md": f"# Notes\n\n{WOMEN} Libraries help too.".encode(),
        "plain.txt": f"{SCHOOLS} Teachers need support.".encode(),
    }
    for name, data in files.items():
        response = upload(fresh, name, data, organization="Test Org", kind="input",
                          date="2025-03")
        assert response.status_code == 201, (name, response.text)
        body = response.json()
        assert body["created"] is True
        doc = body["document"]
        assert doc["source"] == name and doc["organization"] == "Test Org"
        assert doc["passages"] >= 1 and doc["tags_available"] is True
        assert doc["summary"] is not None
    after = fresh.get("/health").json()["index"]
    assert after["document_count"] == before["document_count"] + len(files)
    assert after["version"] > before["version"]
    hits = fresh.post("/v1/search", json={"query": "libraries help too", "mode": "lexical",
                                          "k": 1}).json()["results"]
    assert hits[0]["source"] == "notes.md"


def test_upload_of_known_text_is_not_duplicated(fresh: TestClient) -> None:
    first = upload(fresh, "again.txt", SCHOOLS.encode() + b" Again.", title="Again")
    second = upload(fresh, "again-copy.txt", SCHOOLS.encode() + b" Again.", title="Again")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["document"]["id"] == first.json()["document"]["id"]


@pytest.mark.parametrize("name, data, code, fragment", [
    ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415, "unsupported"),
    ("program.exe", b"MZ\x90\x00" + bytes(200), 415, "unsupported"),
    ("fake.pdf", b"Just some text pretending to be a PDF.", 415, "does not match"),
    ("archive.docx", b"PK\x03\x04" + bytes(100), 415, "does not match"),
    ("empty.txt", b"", 422, "empty"),
    ("blank.txt", b" \n\n \t", 422, "empty"),
    ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, 422, "PDF"),
])
def test_upload_refuses_bad_files(fresh: TestClient, name: str, data: bytes, code: int,
                                  fragment: str) -> None:
    before = fresh.get("/v1/documents").json()["documents"]
    response = upload(fresh, name, data)
    assert response.status_code == code, response.text
    assert fragment.lower() in response.json()["detail"].lower()
    assert fresh.get("/v1/documents").json()["documents"] == before


def test_upload_refuses_a_zip_bomb(tmp_path: Path, models_dir: Path) -> None:
    import zipfile

    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             max_upload_mb=0.5)
    buffer = io.BytesIO(docx_bytes(SCHOOLS))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("word/media/padding.bin", "w") as entry:
        for _ in range(24):  # 24 MB of zeros squeeze into ~24 kB
            entry.write(bytes(2**20))
    assert len(buffer.getvalue()) < 0.5 * 2**20
    test_client, _ = open_app(settings)
    with test_client:
        response = upload(test_client, "bomb.docx", buffer.getvalue())
        assert response.status_code == 422
        assert "expands to" in response.json()["detail"]
        assert upload(test_client, "fine.docx", docx_bytes(SCHOOLS)).status_code == 201


def test_upload_refuses_an_encrypted_pdf(fresh: TestClient) -> None:
    response = upload(fresh, "locked.pdf", pdf_bytes(SCHOOLS, encrypt="secret"))
    assert response.status_code == 422
    assert "encrypted" in response.json()["detail"]


def test_upload_validates_form_fields(fresh: TestClient) -> None:
    bad_date = upload(fresh, "a.txt", SCHOOLS.encode(), date="next spring")
    assert bad_date.status_code == 422 and "date" in bad_date.json()["detail"]
    long_title = upload(fresh, "a.txt", SCHOOLS.encode(), title="t" * 501)
    assert long_title.status_code == 422
    no_file = fresh.post("/v1/documents", data={"title": "nothing"}, headers=AUTH)
    assert no_file.status_code == 422 and "'file'" in no_file.json()["detail"]


def test_upload_names_never_become_paths(fresh: TestClient) -> None:
    response = upload(fresh, "../../../../etc/cron.d/evil.txt", WOMEN.encode() + b" Unique.")
    assert response.status_code == 201
    assert response.json()["document"]["source"] == "evil.txt"
    assert safe_filename("C:\\Users\\x\\report.docx") == "report.docx"
    assert safe_filename("..") == "upload"
    assert safe_filename("a\x00b\nc.txt") == "abc.txt"
    assert safe_filename(None) == "upload"


def test_upload_size_limit(tmp_path: Path, models_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             max_upload_mb=0.01)
    test_client, _ = open_app(settings)
    with test_client:
        big = b"word " * 4000  # 20 kB > 10.24 kB
        response = upload(test_client, "big.txt", big)
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
        small = upload(test_client, "small.txt", SCHOOLS.encode())
        assert small.status_code == 201

        # A declared Content-Length far above the limit is refused before the body is read.
        declared = test_client.post("/v1/documents", content=b"x",
                                    headers={**AUTH, "Content-Type": "multipart/form-data; "
                                             "boundary=b", "Content-Length": str(50 * 2**20)})
        assert declared.status_code == 413

        # A chunked body (no Content-Length) is cut off once it passes the limit.
        boundary = "wsisboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode()

        def chunks() -> Iterator[bytes]:
            yield head
            for _ in range(400):
                yield b"word " * 1000
            yield f"\r\n--{boundary}--\r\n".encode()

        chunked = test_client.post(
            "/v1/documents", content=chunks(),
            headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert chunked.status_code == 413
        assert len(test_client.get("/v1/documents").json()["documents"]) == 3


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


def test_failed_indexing_leaves_nothing_behind(fresh: TestClient, monkeypatch) -> None:
    workspace = fresh.app.state.ctx.workspace
    before = workspace.store.count_documents()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(workspace, "update_index", broken)
    failing = TestClient(fresh.app, raise_server_exceptions=False)
    response = failing.post("/v1/documents", files={"file": ("x.txt", WOMEN.encode() + b" New.")},
                            headers=AUTH)
    assert response.status_code == 500
    assert workspace.store.count_documents() == before
    assert "disk full" not in response.text


# --------------------------------------------------------------------------- auth


WRITES = [
    ("post", "/v1/documents", {"files": {"file": ("a.txt", b"Some text here.")}}),
    ("delete", "/v1/documents/0123456789abcdef", {}),
    ("post", "/v1/feedback", {"json": {"text": "t", "label": "C1", "action": "accept"}}),
    ("post", "/v1/models/retrain", {}),
]


@pytest.mark.parametrize("method, path, kwargs", WRITES)
def test_writes_need_the_token(client: TestClient, method: str, path: str, kwargs: dict) -> None:
    missing = getattr(client, method)(path, **kwargs)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer nope-nope-nope"},
                                    **kwargs)
    assert wrong.status_code == 403
    basic = getattr(client, method)(path, headers={"Authorization": "Basic dXNlcjpwYXNz"},
                                    **kwargs)
    assert basic.status_code == 401


def test_reads_can_be_closed(tmp_path: Path, models_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             read_requires_token=True)
    test_client, _ = open_app(settings)
    with test_client:
        for method, path, kwargs in [("get", "/health", {}), ("get", "/v1/documents", {}),
                                     ("post", "/v1/search", {"json": {"query": "school"}}),
                                     ("post", "/v1/tag", {"json": {"texts": ["school"]}}),
                                     ("get", "/v1/feedback/export", {})]:
            assert getattr(test_client, method)(path, **kwargs).status_code == 401, path
            assert getattr(test_client, method)(path, headers=AUTH, **kwargs).status_code == 200
        assert test_client.get("/").status_code == 200  # the page itself asks for the token


def test_token_is_generated_once_with_private_permissions(tmp_path: Path,
                                                          models_dir: Path, capsys) -> None:
    home = tmp_path / "home"
    settings = make_settings(home, models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             api_token=None)
    test_client, _ = open_app(settings)
    with test_client:
        token_file = home / "api-token"
        assert token_file.is_file()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert str(token_file) in capsys.readouterr().err
        headers = {"Authorization": f"Bearer {token}"}
        ok = test_client.post("/v1/feedback", json={"text": "t", "label": "C1",
                                                    "action": "add"}, headers=headers)
        assert ok.status_code == 201
    again, _ = open_app(settings)
    with again:
        assert token_file.read_text().strip() == token


def test_an_empty_token_setting_means_generate_one(tmp_path: Path) -> None:
    from api.security import load_or_create_token

    settings = Settings(home=tmp_path, api_token="")
    token = load_or_create_token(settings)
    assert token.generated and token.origin == str(tmp_path / "api-token")
    again = load_or_create_token(settings)
    assert again.value == token.value and not again.generated
    custom = Settings(home=tmp_path, api_token_file=tmp_path / "secrets" / "token")
    assert load_or_create_token(custom).origin == str(tmp_path / "secrets" / "token")


def test_a_short_configured_token_is_refused(tmp_path: Path, models_dir: Path) -> None:
    from api.security import TokenError

    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             api_token="short")
    test_client, _ = open_app(settings)
    with pytest.raises(TokenError, match="at least 16"), test_client:
        pass


# --------------------------------------------------------------------------- delete


def test_delete_removes_a_document_everywhere(fresh: TestClient) -> None:
    created = upload(fresh, "gone.txt", b"Satellite constellations bring broadband to islands. "
                     b"Spectrum must be shared fairly.").json()["document"]
    response = fresh.delete(f"/v1/documents/{created['id']}", headers=AUTH)
    assert response.status_code == 200 and response.json()["deleted"] == created["id"]
    assert fresh.get(f"/v1/documents/{created['id']}").status_code == 404
    assert fresh.delete(f"/v1/documents/{created['id']}", headers=AUTH).status_code == 404
    hits = fresh.post("/v1/search", json={"query": "satellite constellations islands",
                                          "mode": "lexical"}).json()["results"]
    assert created["id"] not in {h["doc_id"] for h in hits}


# --------------------------------------------------------------------------- feedback


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


# --------------------------------------------------------------------------- models and jobs


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


def test_csv_report_cells_cannot_run_as_formulas() -> None:
    from nlp.reports import report_csv

    detail = {"id": "0123456789abcdef", "title": "=HYPERLINK(\"http://evil\")", "passage_list": [
        {"id": "p-0", "index": 0, "start": 0, "end": 9, "text": "+SUM(A1:A9)",
         "tags": {"action_lines": [{"label": "C1", "score": 0.5}]}},
        {"id": "p-1", "index": 1, "start": 10, "end": 20, "text": "- a bullet stays as it is",
         "tags": None},
        {"id": "p-2", "index": 2, "start": 21, "end": 30, "text": "-2+3", "tags": None},
    ]}
    rows = list(csv.DictReader(io.StringIO(report_csv(detail, ["action_lines"]))))
    assert rows[0]["title"].startswith("'=") and rows[0]["text"] == "'+SUM(A1:A9)"
    assert rows[0]["action_lines"] == "C1 (0.50)"
    assert rows[1]["text"] == "- a bullet stays as it is"
    assert rows[2]["text"] == "'-2+3"
