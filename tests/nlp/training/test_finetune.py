"""Supervised-contrastive fine-tuning: batching and loss (fast), a tiny real run (model)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from nlp.training.finetune import read_manifest
from nlp.training.supcon import epoch_batches, merge_duplicates, scheme_of, training_data_sha256

_TOPICS = {
    "al:health": [
        "Telemedicine clinic for rural patients", "Electronic health records for hospitals",
        "Mobile app reminds mothers of vaccinations", "Remote diagnosis of malaria by phone",
        "Hospital patient data shared between doctors", "Online consultations with nurses",
        "Health workers report disease outbreaks by SMS", "Digital prescriptions for pharmacies",
    ],
    "al:learning": [
        "Online courses for secondary school pupils", "Teachers trained to use tablets in class",
        "Digital library of textbooks for students", "E-learning platform for university lectures",
        "Coding lessons for girls after school", "Virtual classroom for remote learners",
        "Open educational resources for teachers", "Exam preparation videos for students",
    ],
    "al:farming": [
        "Farmers receive crop prices by text message", "Weather alerts for smallholder farmers",
        "Soil sensors guide irrigation of fields", "Livestock tracking with ear tags",
        "Market platform connects farmers and buyers", "Advice on plant diseases for growers",
        "Drone images of maize fields", "Cooperative of coffee growers sells online",
    ],
}


def _data() -> tuple[list[str], list[list[str]]]:
    texts, labels = [], []
    for label, items in _TOPICS.items():
        texts += items
        labels += [[label]] * len(items)
    return texts, labels


def test_scheme_of_and_bad_labels() -> None:
    assert scheme_of("sdg:4") == "sdg"
    with pytest.raises(ValueError, match="'C4'"):
        scheme_of("C4")
    with pytest.raises(ValueError, match="no label"):
        merge_duplicates(["a"], [[]])


def test_duplicates_merge_and_hash_is_order_free() -> None:
    texts, labels = merge_duplicates(["a", "b", "a"], [["al:C1"], ["sdg:2"], ["sdg:3"]])
    assert texts == ["a", "b"] and labels == [{"al:C1", "sdg:3"}, {"sdg:2"}]
    assert training_data_sha256(["x", "y"], [["al:C1"], ["al:C2"]]) == training_data_sha256(
        ["y", "x"], [["al:C2"], ["al:C1"]])


def test_batches_are_balanced_and_every_anchor_has_a_positive() -> None:
    sets = [frozenset({"al:A"})] * 50 + [frozenset({"al:B"})] * 6 + [frozenset({"sdg:1"})] * 9
    batches = epoch_batches(sets, batch_size=8, per_label_cap=10, group_size=4,
                            rng=random.Random(0))
    drawn = [i for b in batches for i in b]
    assert len(drawn) == len(set(drawn)) == 10 + 6 + 9  # capped, and nothing drawn twice
    for batch in batches:
        assert len(batch) <= 8
        for i in batch:
            assert any(sets[i] & sets[j] for j in batch if j != i)


@pytest.mark.model
def test_finetune_pulls_same_label_texts_together(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from nlp.embed import bundled_model_path
    from nlp.training.finetune import finetune_encoder

    texts, labels = _data()
    steps = []
    kwargs = {"epochs": 1, "batch_size": 12, "max_seq_length": 32, "lr": 5e-5,
              "temperature": 0.1, "per_label_cap": 8, "seed": 0}
    result = finetune_encoder(texts, labels, bundled_model_path(), tmp_path / "enc",
                              progress=steps.append, **kwargs)
    out = result.out_dir
    manifest = read_manifest(out)
    assert manifest["kind"] == "encoder" and manifest["format_version"] == 1
    assert manifest["base_model"] == "all-MiniLM-L6-v2"
    for key, value in kwargs.items():
        assert manifest[key] == value
    assert manifest["loss"] == "supcon" and manifest["texts_per_scheme"] == {"al": 24}
    assert len(manifest["training_data_sha256"]) == 64
    assert (out / "README.md").exists() and (out / "model.safetensors").exists()
    assert steps and steps[-1].epoch == 1 and steps[-1].step == steps[-1].steps
    assert not list(tmp_path.glob(".enc*"))  # no temp or old directory left behind

    y = np.array([lab[0] for lab in labels])
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    other = y[:, None] != y[None, :]

    def margin(model_dir: Path) -> float:
        model = SentenceTransformer(str(model_dir), device="cpu").float()
        emb = model.encode(texts, normalize_embeddings=True)
        sims = emb @ emb.T
        return float(sims[same].mean() - sims[other].mean())

    assert margin(out) > margin(bundled_model_path()) + 0.02

    # Same seed, same data -> the same weights, bit for bit.
    again = finetune_encoder(texts, labels, bundled_model_path(), tmp_path / "enc2", **kwargs)
    from safetensors.numpy import load_file

    first, second = load_file(out / "model.safetensors"), load_file(
        again.out_dir / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert str(first[next(iter(first))].dtype) == "float16"
    assert json.loads((again.out_dir / "manifest.json").read_text())["training_data_sha256"] == \
        manifest["training_data_sha256"]

    # Weight-space average with the base: halfway weights, a margin between the two bodies.
    from nlp.training.finetune import interpolate_encoder

    mixed = interpolate_encoder(bundled_model_path(), out, 0.5, tmp_path / "mix")
    assert mixed["interpolation"]["alpha"] == 0.5 and mixed["name"] == "mix"
    assert mixed["training_data_sha256"] == manifest["training_data_sha256"]
    base_w = load_file(bundled_model_path() / "model.safetensors")
    mix_w = load_file(tmp_path / "mix" / "model.safetensors")
    key = next(k for k in first if first[k].ndim == 2)
    expected = (base_w[key].astype(np.float32) + first[key].astype(np.float32)) / 2
    assert np.allclose(mix_w[key].astype(np.float32), expected, atol=2e-3)
    assert not np.allclose(mix_w[key], first[key])
    assert margin(bundled_model_path()) < margin(tmp_path / "mix") < margin(out)
    assert "WiSE-FT" in (tmp_path / "mix" / "README.md").read_text()


def test_interpolation_rejects_alpha_outside_unit_interval(tmp_path: Path) -> None:
    from nlp.training.finetune import interpolate_encoder

    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            interpolate_encoder(tmp_path, tmp_path, alpha, tmp_path / "out")
    assert not (tmp_path / "out").exists()


_POLICY = [
    "Member States shall cooperate to close the digital divide between and within countries.",
    "We recognize the importance of multistakeholder cooperation in Internet governance.",
    "Governments should adopt national strategies for the information society.",
    "The United Nations system will support capacity development in developing countries.",
    "We reaffirm the commitments of the Geneva Declaration of Principles.",
    "Standards should be open, interoperable and developed through inclusive processes.",
]


@pytest.mark.model
def test_anchor_texts_stay_near_the_base_embeddings(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from nlp.embed import bundled_model_path
    from nlp.training.finetune import finetune_encoder

    texts, labels = _data()
    kwargs = {"epochs": 2, "batch_size": 12, "max_seq_length": 32, "lr": 1e-4,
              "temperature": 0.1, "per_label_cap": 8, "seed": 0}
    with pytest.raises(ValueError, match="anchor"):
        finetune_encoder(texts, labels, bundled_model_path(), tmp_path / "bad",
                         anchor_weight=1.0, **kwargs)

    def drift(model_dir: Path) -> float:
        base = SentenceTransformer(str(bundled_model_path()), device="cpu")
        tuned = SentenceTransformer(str(model_dir), device="cpu").float()
        a = base.encode(_POLICY, normalize_embeddings=True)
        b = tuned.encode(_POLICY, normalize_embeddings=True)
        return float(np.mean(1 - (a * b).sum(axis=1)))

    free = finetune_encoder(texts, labels, bundled_model_path(), tmp_path / "free", **kwargs)
    held = finetune_encoder(texts, labels, bundled_model_path(), tmp_path / "held",
                            anchor_texts=_POLICY, anchor_weight=20.0, anchor_batch=4, **kwargs)
    assert drift(held.out_dir) < 0.5 * drift(free.out_dir)
    recipe = held.manifest["recipe"]
    assert recipe["anchor_weight"] == 20.0 and recipe["anchor_texts"] == len(_POLICY)
    assert "anchor_weight" not in free.manifest["recipe"]
