"""Calibration, fitting, feedback, caching and first-run model building."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from nlp.config import Settings
from nlp.embed import HashEmbedder
from nlp.embed_cache import EmbeddingCache
from nlp.labelled import Example, FeedbackError, read_feedback
from nlp.tagging.registry import find_model
from nlp.training.fit import best_f1_threshold, calibrate_thresholds, fit_layer
from nlp.training.trainers import ensure_models
from tests.datahelp import data_dir, needs_data


def test_best_threshold_maximises_f1_on_a_toy_set():
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 0], bool)
    threshold, f1 = best_f1_threshold(scores, y)
    # top-4 gives P=3/4, R=1 -> F1 = 6/7, the best cut; the threshold sits between 0.3 and 0.2
    assert f1 == pytest.approx(6 / 7)
    assert threshold == pytest.approx(0.25)
    predicted = scores >= threshold
    assert predicted.tolist() == [True, True, True, True, False]


def test_stacker_drops_components_that_point_the_wrong_way():
    from nlp.training.fit import fit_stacker

    rng = np.random.default_rng(3)
    y = rng.random((300, 4)) < 0.25
    good = np.where(y, 2.0, -2.0) + rng.normal(0, 1, y.shape)
    bad = np.where(y, -1.0, 1.0) + rng.normal(0, 1, y.shape)  # informative, wrong sign
    mix, _ = fit_stacker({"good": good, "bad": bad}, y)
    assert set(mix) == {"good"} and mix["good"] > 0


def test_thresholds_are_per_label_and_fall_back_for_rare_labels():
    rng = np.random.default_rng(0)
    n = 400
    y = np.zeros((n, 3), bool)
    y[:150, 0] = True
    y[150:300, 1] = True
    y[300:303, 2] = True  # only 3 positives
    proba = np.clip(rng.normal(0.2, 0.1, (n, 3)), 0, 1)
    proba[:150, 0] += 0.5  # label 0 separates high
    proba[150:300, 1] += 0.15  # label 1 separates lower
    thresholds, sources, scheme = calibrate_thresholds(np.clip(proba, 0, 1), y)
    assert thresholds[0] != pytest.approx(0.5) and thresholds[1] != pytest.approx(0.5)
    assert thresholds[0] > thresholds[1]
    assert thresholds[2] == pytest.approx(scheme)
    assert sources[0].startswith("held-out F1") and sources[2].startswith("scheme")


def _clusters(rng, n_per=40, labels=4, dim=16):
    centers = np.eye(labels, dim) * 3
    x = np.vstack([centers[j] + rng.normal(0, 1, (n_per, dim)) for j in range(labels)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.zeros((len(x), labels), bool)
    for j in range(labels):
        y[j * n_per : (j + 1) * n_per, j] = True
    protos = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    return x.astype(np.float32), y, protos.astype(np.float32)


def test_fit_layer_calibrates_on_out_of_fold_scores():
    rng = np.random.default_rng(1)
    x, y, protos = _clusters(rng)
    texts = [f"text of label {'abcd'[j]} number {i}" for i, j in enumerate(y.argmax(1))]
    fit = fit_layer(["a", "b", "c", "d"], x, y, protos, texts)
    layer = fit.layer
    assert set(fit.oof_components) == {"prototype", "head", "knn", "lexical"}  # no keywords given
    assert layer.mix and all(w > 0 for w in layer.mix.values())
    assert all(s.startswith("held-out F1") for s in layer.threshold_source)
    assert not np.allclose(layer.thresholds, 0.5)
    # the thresholds were chosen on the out-of-fold scores, not on in-sample ones
    for j in range(4):
        own, _ = best_f1_threshold(fit.oof_proba[:, j], y[:, j])
        expected = (40 * own + 10 * fit.scheme_threshold) / 50 + fit.decision.shift
        assert layer.thresholds[j] == pytest.approx(np.clip(expected, 0.02, 0.98))
    accuracy = (layer.proba(x, texts).argmax(1) == y.argmax(1)).mean()
    assert accuracy > 0.9


def test_read_feedback_csv_and_jsonl(tmp_path: Path):
    csv_path = tmp_path / "fb.csv"
    csv_path.write_text("text,scheme,label,positive\nSchool Wi-Fi,action_lines,C2,true\n"
                        "Clinic records,sdgs,3,0\n")
    rows = read_feedback(csv_path)
    assert rows[0] == ("action-lines", Example("feedback:1", "School Wi-Fi", "C2", "feedback"))
    assert rows[1][1].positive is False
    jsonl = tmp_path / "fb.jsonl"
    jsonl.write_text(json.dumps({"text": "t", "scheme": "gdc", "label": "GDC-1.1.d"}) + "\n")
    assert read_feedback(jsonl)[0][0] == "gdc"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "t", "scheme": "nope", "label": "x"}) + "\n")
    with pytest.raises(FeedbackError, match="nope"):
        read_feedback(bad)


def test_embedding_cache_encodes_each_text_once(tmp_path: Path):
    class Counting(HashEmbedder):
        seen: ClassVar[list[str]] = []

        def encode(self, texts, batch_size=32, show_progress=False):
            Counting.seen += list(texts)
            return super().encode(texts, batch_size, show_progress)

    embedder = Counting(64)
    first = EmbeddingCache(tmp_path, embedder).encode(["a b", "c d", "a b"])
    again = EmbeddingCache(tmp_path, embedder).encode(["c d", "e f"])
    assert Counting.seen == ["a b", "c d", "e f"]
    np.testing.assert_array_equal(first[1], again[0])
    assert list((tmp_path).glob("*/vectors.npy"))


def test_ensure_models_builds_zero_shot_once(tmp_path: Path, hash_embedder):
    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models",
                        data_dir=tmp_path / "no-data", embedding_model="hash:256")
    messages: list[str] = []
    paths = ensure_models(settings, hash_embedder, progress=messages.append)
    assert set(paths) == {"action-lines", "sdgs", "gdc"}
    assert any("zero-shot" in m for m in messages)
    for scheme, path in paths.items():
        manifest = json.loads((path / "manifest.json").read_text())
        assert manifest["training_mode"] == "zero-shot"
        assert path.parent.name == scheme
    messages.clear()
    assert ensure_models(settings, hash_embedder, progress=messages.append) == paths
    assert messages == []
    # a different embedder does not reuse models built for another one
    assert find_model(settings.models_dir, "gdc", HashEmbedder(64)) is None


@needs_data
def test_trained_action_lines_with_feedback(tmp_path: Path, hash_embedder):
    from nlp.tagging.taggers import Tagger
    from nlp.taxonomy import load_taxonomy
    from nlp.training.trainers import train_scheme

    taxonomy = load_taxonomy(Path(__file__).parents[3] / "corpus" / "taxonomy", data_dir())
    feedback = [Example("feedback:1", "Satellite backhaul for island schools", "C2", "feedback")]
    result = train_scheme("action-lines", hash_embedder, taxonomy, data_dir(), tmp_path / "c",
                          feedback, out_dir=tmp_path / "m" / "action-lines" / "v1")
    layer = result.tagger.layers["action_lines"]
    assert layer.mix and set(layer.mix) <= {"prototype", "keyword", "head", "knn", "lexical"}
    assert all("held-out" in s for s in layer.threshold_source)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["training_sources"]["feedback"] == 1
    assert "wsis-stocktaking/wsis-projects-data.csv" in manifest["training_data"]
    # the Compact's paragraphs train with the Action Lines labelled for them in the repository
    assert manifest["training_sources"]["gdc-text"] > 100
    assert set(manifest["training_labels"]) == {"corpus/labels/gdc-action-lines.jsonl"}
    assert "Labels written for this project" in (result.path / "README.md").read_text()
    assert any(m["source"] == "feedback" for m in result.tagger.bank_meta)
    loaded = Tagger.load(result.path, hash_embedder)
    texts = ["Cybersecurity awareness for small firms"]
    vec = hash_embedder.encode(texts)
    np.testing.assert_array_equal(loaded.layers["action_lines"].proba(vec, texts),
                                  layer.proba(vec, texts))


def test_ensure_models_rebuilds_gdc_when_the_taxonomy_grows(tmp_path: Path, hash_embedder):
    import shutil

    import yaml

    from nlp.tagging.taggers import Tagger

    taxonomy_dir = tmp_path / "taxonomy"
    shutil.copytree(Path(__file__).parents[3] / "corpus" / "taxonomy", taxonomy_dir)
    for f in taxonomy_dir.iterdir():
        f.chmod(0o644)
    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models",
                        taxonomy_dir=taxonomy_dir, data_dir=tmp_path / "no-data",
                        embedding_model="hash:256")
    first = ensure_models(settings, hash_embedder, progress=lambda m: None)
    raw = yaml.safe_load((taxonomy_dir / "gdc.yaml").read_text())
    assert "GDC-1.2.z" not in Tagger.load(first["gdc"], hash_embedder).layers[
        "gdc_commitments"].labels
    raw["objectives"][0]["sections"][1]["commitments"].append({
        "id": "GDC-1.2.z", "summary": "Basic digital skills for all by 2030.",
        "keywords": ["digital skills"], "sdgs": [4]})
    (taxonomy_dir / "gdc.yaml").write_text(yaml.safe_dump(raw))
    messages: list[str] = []
    second = ensure_models(settings, hash_embedder, progress=messages.append)
    assert second == first
    assert any("gdc taxonomy changed" in m for m in messages)
    tagger = Tagger.load(second["gdc"], hash_embedder)
    assert "GDC-1.2.z" in tagger.layers["gdc_commitments"].labels


def test_decision_rule_floor_threshold_and_cap():
    from nlp.tagging.scoring import ScoringLayer

    proba = np.array([[0.30, 0.20, 0.05], [0.9, 0.8, 0.7], [0.1, 0.05, 0.01]])
    thresholds = np.array([0.5, 0.5, 0.5])
    pred = ScoringLayer.apply_decision(proba, thresholds, floor=0.25, cap=2)
    # row 0: the top label clears the floor though not its threshold; row 1: capped at two;
    # row 2: nothing clears the floor
    assert pred.tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    assert ScoringLayer.apply_decision(proba, thresholds).sum() == 3


def test_decision_accuracy_counts_gold_and_strongest_wrong_labels():
    from nlp.training.decision import decision_accuracy

    y = np.array([[True, False, False], [True, True, False]])
    proba = np.array([[0.9, 0.6, 0.1], [0.2, 0.8, 0.5]])
    pred = np.array([[True, True, False], [False, True, False]])
    # row 0: gold 0 predicted (right), strongest wrong label 1 predicted (wrong);
    # row 1: gold 0 missed, gold 1 found; only one wrong label (2), not predicted (right)
    assert decision_accuracy(proba, y, pred) == pytest.approx(3 / 5)


def test_fit_decision_lowers_strict_thresholds_for_multi_label_text():
    from nlp.training.decision import fit_decision

    rng = np.random.default_rng(0)
    y = rng.random((300, 6)) < 0.3
    y[np.arange(300), rng.integers(0, 6, 300)] = True
    proba = np.clip(np.where(y, 0.45, 0.1) + rng.normal(0, 0.05, y.shape), 0, 1)
    decision = fit_decision(proba, y, np.full(6, 0.7), "micro_f1")
    assert decision.shift < 0 or decision.floor > 0
    assert decision.score > 0.9


def test_source_folds_hold_out_each_big_source_whole():
    from nlp.training.fit import source_folds

    groups = ["a"] * 30 + ["b"] * 25 + ["tiny"] * 5
    folds = source_folds(groups)
    assert len(folds) == 2
    for train, test in folds:
        held = {groups[i] for i in test}
        assert len(held) == 1 and held.isdisjoint({groups[i] for i in train})
        assert "tiny" not in held
