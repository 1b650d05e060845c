"""Integration tests with the real bundled all-MiniLM-L6-v2 (loaded once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.workspace import Workspace

pytestmark = pytest.mark.model


def test_bundled_model_embeds_offline(real_embedder) -> None:
    vectors = real_embedder.encode(["school connectivity", "connecting schools to the Internet",
                                    "fisheries subsidies"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert real_embedder.name == "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def real_workspace(tmp_path_factory, real_embedder) -> Workspace:
    from nlp.config import Settings

    settings = Settings(home=tmp_path_factory.mktemp("real"))
    ws = Workspace(settings, embedder=real_embedder)
    ws.ensure_ready()
    return ws


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_giga_passage_is_in_the_top_three(real_workspace: Workspace, mode: str) -> None:
    hits = real_workspace.search("connect every school to the internet", k=3, mode=mode)
    giga = [h for h in hits if "Giga" in h.passage.text and h.meta.organization == "ITU"]
    assert giga, [h.passage.text[:80] for h in hits]


def test_routing_security_finds_manrs(real_workspace: Workspace) -> None:
    hits = real_workspace.search("mutually agreed norms for routing security", k=5, mode="hybrid")
    assert any("MANRS" in h.passage.text for h in hits)
