"""Fuzz every API operation from its OpenAPI schema (schemathesis), plus hand-made bad files:
no input may produce a 5xx, and the server keeps answering afterwards."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from nlp.config import PROJECT_ROOT, Settings
from nlp.embed import HashEmbedder
from nlp.workspace import Workspace

TOKEN = "fuzz-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from nlp.training.trainers import ensure_models

    home = tmp_path_factory.mktemp("fuzz")
    config = Settings(home=home, models_dir=home / "models", data_dir=None,
                      embedding_model="hash:256", api_token=TOKEN,
                      corpus_dir=PROJECT_ROOT / "corpus" / "wsis20")
    ensure_models(config, HashEmbedder(256))
    app = create_app(config, Workspace(config, embedder=HashEmbedder(256)))
    with TestClient(app):  # runs the lifespan: index and taggers ready
        yield app


def test_no_server_errors(fuzz_app) -> None:
    """Every operation but retraining (a heavy background job) gets 25 generated requests,
    valid and invalid, with the write token so the handlers behind the auth check run too."""
    from hypothesis import given

    api = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    tested = []
    calls: list[int] = []
    for result in api.get_all_operations():
        operation = result.ok()
        if "retrain" in operation.path:
            continue
        tested.append(f"{operation.method.upper()} {operation.path}")

        @given(operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.headers = {**(case.headers or {}), **AUTH}
            response = case.call()
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {response.text[:300]}")

        run()
    assert len(tested) >= 12, tested
    assert len(calls) >= 10 * len(tested)  # hypothesis really generated requests
    assert any(code < 300 for code in calls) and any(400 <= code < 500 for code in calls)
    assert not failures, "\n".join(failures[:10])


BAD_FILES = {
    "truncated.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R",
    "nul.txt": b"\x00" * 2048,
    "image.docx": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "zip.docx": None,  # filled below: a zip without word/document.xml
    "latin1.html": "<html><body><p>Caf\xe9 \xe0 la carte</p></body></html>".encode("latin-1"),
    "deep.html": b"<div>" * 5000 + b"text" + b"</div>" * 5000,
    "script.html": b"<html><script>alert(1)</script></html>",
    "../../etc/passwd.txt": b"root:x:0:0",
    "huge-line.md": b"word " * 200_000,
}


def _zip_without_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/zip")
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_hand_made_bad_files(fuzz_app, name: str) -> None:
    data = BAD_FILES[name] if BAD_FILES[name] is not None else _zip_without_docx()
    with TestClient(fuzz_app) as client:
        response = client.post("/v1/documents", headers=AUTH, files={"file": (name, data)})
        assert response.status_code in {200, 201, 413, 415, 422}, response.text
        if response.status_code >= 400:
            assert response.json().get("detail")
        assert client.get("/health").status_code == 200
        if name.startswith("../"):
            assert not Path("/etc/passwd.txt").exists()
