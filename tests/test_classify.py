"""Tagger behaviour: scores, label sets, hierarchy, evidence, persistence, manifest checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest_tagging import (  # noqa: F401
    plain_taxonomy,
    zero_shot_paths,
    zero_shot_suite,
)

from nlp.classify import (
    EmptyTextError,
    KeywordMatcher,
    ScoringLayer,
    Tagger,
    TaggerSuite,
    tag_document,
)
from nlp.embed import HashEmbedder
from nlp.errors import ManifestMismatchError, ModelNotFoundError
from nlp.types import Passage

TEXT = (
    "Governments should expand broadband connectivity to every school and hospital. "
    "Routing security and cybersecurity incident response build confidence in ICTs.\n\n"
    "Telemedicine and e-health records help rural clinics. Open data portals improve "
    "access to public information."
)


def test_every_label_present_scores_in_unit_interval_sorted(zero_shot_suite, plain_taxonomy):
    result = zero_shot_suite.tag([TEXT])[0]
    expected = {
        "action_lines": set(plain_taxonomy.ids("action-lines")),
        "sdgs": set(plain_taxonomy.ids("sdgs", "goal")),
        "sdg_targets": set(plain_taxonomy.ids("sdgs", "target")),
        "gdc": set(plain_taxonomy.ids("gdc", "objective")),
        "gdc_sections": set(plain_taxonomy.ids("gdc", "section")),
        "gdc_commitments": set(plain_taxonomy.ids("gdc", "commitment")),
    }
    for key, labels in expected.items():
        tags = result.tags[key]
        assert {t.label for t in tags} == labels
        scores = [t.score for t in tags]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        for t in tags:
            assert t.predicted == (t.score >= t.threshold) or key in {"action_lines", "gdc",
                                                                         "gdc_sections"}


def test_c7_is_the_best_of_its_sublines(zero_shot_suite):
    tags = {t.label: t for t in zero_shot_suite.tag([TEXT])[0].tags["action_lines"]}
    best = max(t.score for label, t in tags.items() if label.startswith("C7."))
    assert tags["C7"].score == pytest.approx(best)
    assert tags["C7"].predicted == any(t.predicted for lab, t in tags.items()
                                       if lab.startswith("C7."))


def test_gdc_parents_score_at_least_their_children(zero_shot_suite, plain_taxonomy):
    result = zero_shot_suite.tag([TEXT])[0]
    score = {t.label: t for key in ("gdc", "gdc_sections", "gdc_commitments")
             for t in result.tags[key]}
    for label in plain_taxonomy.labels["gdc"]:
        if label.parent:
            assert score[label.parent].score >= score[label.id].score - 1e-9
            if score[label.id].predicted:
                assert score[label.parent].predicted


def test_evidence_spans_round_trip(zero_shot_suite):
    result = zero_shot_suite.tag([TEXT], explain=True)[0]
    checked = 0
    for tags in result.tags.values():
        for t in tags:
            for s in t.sentences:
                assert TEXT[s.start : s.end] == s.text
                assert 0.0 <= s.score <= 1.0
                checked += 1
            for k in t.keywords:
                assert TEXT[k.start : k.end].lower() == k.keyword.lower()
    assert checked > 0  # the top label of every key carries evidence


def test_explain_does_not_change_scores(zero_shot_suite):
    plain = zero_shot_suite.tag([TEXT])[0].to_dict()
    explained = zero_shot_suite.tag([TEXT], explain=True)[0].to_dict()
    assert plain == explained


def test_keyword_matcher_is_whole_word_and_case_insensitive():
    matcher = KeywordMatcher({"C5": ["cybersecurity", "CERT"], "C2": ["IXP", "last mile"]})
    text = "The Last Mile and the IXP; CERTs and cybersecurity. ixps"
    hits = matcher.find(text)
    assert [(k.keyword, text[k.start:k.end]) for k in hits["C2"]] == [
        ("last mile", "Last Mile"), ("IXP", "IXP")]
    assert [k.keyword for k in hits["C5"]] == ["cybersecurity"]  # "CERTs" is not "CERT"


def test_empty_text_is_rejected(zero_shot_suite):
    with pytest.raises(EmptyTextError):
        zero_shot_suite.tag(["fine", "  \n"])


def test_save_load_gives_identical_scores(zero_shot_paths, hash_embedder, tmp_path):
    for scheme, path in zero_shot_paths.items():
        tagger = Tagger.load(path, hash_embedder)
        copy = tagger.save(tmp_path / scheme / "copy")
        again = Tagger.load(copy, hash_embedder)
        vectors = hash_embedder.encode([TEXT, "another short text about schools"])
        for key, (labels, scores, pred) in tagger.score_vectors(vectors).items():
            labels2, scores2, pred2 = again.score_vectors(vectors)[key]
            assert labels == labels2
            np.testing.assert_array_equal(scores, scores2)
            np.testing.assert_array_equal(pred, pred2)
        assert not list((tmp_path / scheme).glob("*.tmp"))


def test_manifest_mismatch_names_both_models(zero_shot_paths):
    with pytest.raises(ManifestMismatchError) as info:
        Tagger.load(zero_shot_paths["action-lines"], HashEmbedder(128))
    assert "hash:256" in str(info.value) and "hash:128" in str(info.value)


def test_loading_with_the_wrong_class_or_no_model(zero_shot_paths, tmp_path):
    from nlp.classify import SdgTagger

    with pytest.raises(ManifestMismatchError):
        SdgTagger.load(zero_shot_paths["gdc"])
    with pytest.raises(ModelNotFoundError):
        Tagger.load(tmp_path / "nothing")


def test_manifest_records_what_the_issue_asks(zero_shot_paths):
    manifest = json.loads((zero_shot_paths["sdgs"] / "manifest.json").read_text())
    for key in ("taxonomy_version", "embedding", "training_data", "layers", "created"):
        assert key in manifest
    assert manifest["embedding"] == {"name": "hash:256", "dimension": 256}
    assert (zero_shot_paths["sdgs"] / "README.md").read_text().startswith("# sdgs tagger")
    with np.load(zero_shot_paths["sdgs"] / "weights.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_tag_document_summary(zero_shot_suite):
    text = TEXT + "\n\nA second paragraph about digital skills training for teachers."
    passages = [
        Passage(id=f"d-{i}", doc_id="d", index=i, start=a, end=b, text=text[a:b])
        for i, (a, b) in enumerate([(0, 160), (160, len(TEXT)), (len(TEXT) + 2, len(text))])
    ]
    doc = tag_document(passages, zero_shot_suite)
    assert len(doc.passages) == 3
    summary = doc.summary["action_lines"]
    assert {s.label for s in summary} == {t.label for t in doc.passages[0][1].tags["action_lines"]}
    for s in summary:
        assert 0.0 <= s.share <= 1.0
        assert len(s.top_passages) == 3
        assert s.top_passages[0][1] >= s.top_passages[-1][1]
    as_json = json.dumps(doc.to_dict())
    assert "summary" in as_json


def test_one_encoder_call_per_batch(zero_shot_paths, plain_taxonomy):
    class Counting(HashEmbedder):
        calls = 0

        def encode(self, texts, batch_size=32, show_progress=False):
            Counting.calls += 1
            return super().encode(texts, batch_size, show_progress)

    embedder = Counting(256)
    suite = TaggerSuite.load(zero_shot_paths, embedder, plain_taxonomy)
    suite.tag([TEXT, "short text", "another"])
    assert Counting.calls == 1
    suite.tag([TEXT, "short text"], explain=True)
    assert Counting.calls == 2


def test_scoring_layer_blend_and_calibration_math():
    protos = np.eye(3, 4, dtype=np.float32)
    layer = ScoringLayer(["a", "b", "c"], protos, proto_scale=4.0, proto_shift=-2.0,
                         weights=np.zeros((3, 4), np.float32), bias=np.array([1.0, 0, -1.0]),
                         blend=0.5, calib_a=2.0, calib_b=0.1)
    x = np.array([[1.0, 0, 0, 0]], np.float32)
    z = 0.5 * (4.0 * np.array([1.0, 0, 0]) - 2.0) + 0.5 * np.array([1.0, 0, -1.0])
    np.testing.assert_allclose(layer.proba(x)[0], 1 / (1 + np.exp(-(2.0 * z + 0.1))), rtol=1e-6)


def test_target_requires_its_goal():
    from nlp.classify import SdgTagger

    goals = ScoringLayer(["1", "2"], np.eye(2, 4, dtype=np.float32), 10.0, -5.0,
                         thresholds=np.array([0.5, 0.5]), threshold_source=["t", "t"])
    targets = ScoringLayer(["1.1", "2.1"], np.eye(2, 4, k=1, dtype=np.float32), 10.0, -5.0,
                           thresholds=np.array([0.1, 0.1]), threshold_source=["t", "t"])
    tagger = SdgTagger({"sdgs": goals, "sdg_targets": targets}, {"name": "x", "dimension": 4})
    x = np.array([[0.0, 1.0, 0.0, 0.0]], np.float32)  # goal 2 strong, target 1.1 strong
    out = tagger.score_vectors(x)
    assert out["sdgs"][2].tolist() == [[False, True]]
    assert out["sdg_targets"][1][0, 0] > 0.5  # 1.1 scores high ...
    assert out["sdg_targets"][2].tolist() == [[False, False]]  # ... but goal 1 is not predicted


def test_suite_survives_a_removed_model_dir(zero_shot_paths, hash_embedder, tmp_path):
    copy = tmp_path / "gdc"
    shutil.copytree(zero_shot_paths["gdc"], copy)
    (copy / "weights.npz").unlink()
    with pytest.raises(FileNotFoundError):
        Tagger.load(copy, hash_embedder)
