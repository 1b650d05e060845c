"""The API with the real bundled embedding model (zero-shot taggers built from the taxonomy):
generous floors on what a reviewer would notice at once if it broke."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nlp.config import PROJECT_ROOT, Settings
from nlp.workspace import Workspace

pytestmark = pytest.mark.model

SCHOOLS = ("We commit to connecting every school to the Internet by 2030, and to training "
           "teachers in the digital skills they need to use it in the classroom.")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[TestClient]:
    home: Path = tmp_path_factory.mktemp("real-home")
    settings = Settings(home=home, models_dir=home / "models", data_dir=None,
                        corpus_dir=PROJECT_ROOT / "corpus" / "wsis20",
                        api_token="real-model-token-0123456789")
    with TestClient(create_app(settings, Workspace(settings, embedder=real_embedder))) as test:
        yield test


def test_semantic_search_and_similar_make_sense(client: TestClient) -> None:
    hits = client.post("/v1/search", json={"query": "connect every school to the internet",
                                           "mode": "semantic", "k": 3}).json()["results"]
    assert "school" in hits[0]["text"].lower()
    similar = client.post("/v1/similar", json={"passage_id": hits[0]["passage_id"],
                                               "k": 3}).json()["groups"]
    assert similar and hits[0]["doc_id"] not in {g["doc_id"] for g in similar}
    assert similar[0]["best_score"] > 0.3


def test_tagging_a_schools_commitment(client: TestClient) -> None:
    result = client.post("/v1/tag", json={"texts": [SCHOOLS]}).json()["results"][0]
    top_goals = [t["label"] for t in result["sdgs"][:3]]
    assert "4" in top_goals, top_goals
    top_lines = [t["label"] for t in result["action_lines"][:4]]
    assert {"C7.e-learning", "C4", "C7", "C2"} & set(top_lines), top_lines
    predicted = [t for key in ("action_lines", "sdgs") for t in result[key] if t["predicted"]]
    assert predicted and all(t["sentences"] for t in predicted)
