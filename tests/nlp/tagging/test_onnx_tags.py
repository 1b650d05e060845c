"""The torch-free serving path gives the same tags as torch with the shipped models."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.config import get_settings
from nlp.tagging.registry import find_model
from nlp.tagging.suite import TaggerSuite
from nlp.taxonomy import load_taxonomy

pytestmark = pytest.mark.model
SCHEMES = ("action-lines", "sdgs", "gdc")
TEXTS = [
    ("We recognize the Giga initiative by ITU and UNICEF to connect every school to the "
    "Internet by 2030."),
    ("Network operators should implement MANRS to improve routing security and prevent "
    "route leaks and hijacks."),
    "Digital public infrastructure must come with safeguards that protect human rights.",
    "Telemedicine platforms let rural clinics consult specialists in the capital.",
    "Farmers receive weather forecasts and market prices by SMS.",
    ("Closing the gender digital divide requires affordable devices and digital skills "
    "training for women and girls."),
]


def test_onnx_and_torch_give_identical_tags(real_embedder, onnx_embedder) -> None:
    settings = get_settings()
    models_dir = settings.models_dir
    paths = {s: find_model(models_dir, s, real_embedder) for s in SCHEMES}
    if any(p is None for p in paths.values()):
        pytest.skip("shipped models for all-MiniLM-L6-v2 are missing (run `wsis train all`)")
    assert onnx_embedder.name == real_embedder.name
    taxonomy = load_taxonomy(settings.taxonomy_dir, settings.data_dir)
    torch_tags = TaggerSuite.load(paths, real_embedder, taxonomy).tag(TEXTS)
    onnx_tags = TaggerSuite.load(paths, onnx_embedder, taxonomy).tag(TEXTS)
    for a, b in zip(torch_tags, onnx_tags, strict=True):
        assert a.tags.keys() == b.tags.keys()
        for key in a.tags:
            assert a.predicted(key) == b.predicted(key), key
            sa = {t.label: t.score for t in a.tags[key]}
            sb = {t.label: t.score for t in b.tags[key]}
            assert sa.keys() == sb.keys()
            np.testing.assert_allclose([sa[k] for k in sa], [sb[k] for k in sa], atol=1e-3)
