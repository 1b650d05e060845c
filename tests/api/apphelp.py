"""What the API tests share besides fixtures: the test token, two sample texts, apps over a
settings object, and a few request helpers (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
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


def make_settings(home: Path, models: Path, **overrides) -> Settings:
    # Everything loads before the app serves (tests/api/test_app.py covers the background
    # start), so each route test sees the taggers as they are.
    values = {"home": home, "models_dir": models, "data_dir": None,
              "embedding_model": "hash:256", "api_token": TOKEN, "corpus_dir": CORPUS,
              "background_loading": False}
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


def first_doc(client: TestClient) -> dict:
    return client.get("/v1/documents").json()["documents"][0]


def upload(client: TestClient, name: str, data: bytes, headers: dict | None = AUTH,
           **fields: str):
    return client.post("/v1/documents", files={"file": (name, data)}, data=fields,
                       headers=headers or {})


def tagged_passage(client: TestClient, query: str = "security of networks") -> tuple[dict, str]:
    """A search hit with at least one predicted tag, and that tag's key."""
    hits = client.post("/v1/search", json={"query": query, "k": 50}).json()["results"]
    for key in ("action_lines", "sdgs", "gdc_commitments", "gdc"):
        for hit in hits:
            if hit["tags"][key]:
                return hit, key
    raise AssertionError("no passage carries a predicted tag")
