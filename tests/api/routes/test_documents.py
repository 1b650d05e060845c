"""``/v1/documents``: listing, detail and reports, uploads, deletion."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.documents import safe_filename
from tests.api.apphelp import (
    AUTH,
    CONTRACT_KEYS,
    SCHOOLS,
    WOMEN,
    first_doc,
    make_settings,
    open_app,
    small_corpus,
    upload,
)

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
