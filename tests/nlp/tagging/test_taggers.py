"""Tagger behaviour: scores, label sets, hierarchy, evidence, persistence, manifest checks."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp.embed import HashEmbedder
from nlp.errors import ManifestMismatchError, ModelNotFoundError
from nlp.tagging.evidence import encode_with_segments
from nlp.tagging.keywords import KeywordMatcher
from nlp.tagging.scoring import ScoringLayer, pool_scores
from nlp.tagging.suite import TaggerSuite, tag_document
from nlp.tagging.taggers import Tagger
from nlp.tagging.types import EmptyTextError
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
        # the Compact's five objectives; follow-up and review (GDC-FU) is not one of them
        "gdc": set(plain_taxonomy.ids("gdc", "objective")) - {"GDC-FU"},
        "gdc_sections": set(plain_taxonomy.ids("gdc", "section")),
        "gdc_commitments": set(plain_taxonomy.ids("gdc", "commitment")),
        "gdc_principles": set(plain_taxonomy.ids("gdc", "principle")),
    }
    assert len(expected["gdc"]) == 5 and "GDC-FU.1" in expected["gdc_sections"]
    assert len(expected["gdc_commitments"]) == 125 and len(expected["gdc_principles"]) == 13
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
        if label.parent and label.parent != "GDC-FU":  # follow-up is no objective (no `gdc` tag)
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
                assert k.start < k.end
                assert KeywordMatcher({"x": [k.keyword]}).find(TEXT[k.start : k.end])
    assert checked > 0  # the top label of every key carries evidence


def test_explain_does_not_change_scores(zero_shot_suite):
    plain = zero_shot_suite.tag([TEXT])[0].to_dict()
    explained = zero_shot_suite.tag([TEXT], explain=True)[0].to_dict()
    assert plain == explained


def test_keyword_matcher_is_whole_word_case_insensitive_and_folds_plurals():
    matcher = KeywordMatcher({"C5": ["cybersecurity", "spam"], "C2": ["IXP", "last mile"],
                              "C3": ["access"]})
    text = "The Last Mile and the IXP; spamming and cybersecurity. ixps, access"
    hits = matcher.find(text)
    assert [(k.keyword, text[k.start:k.end]) for k in hits["C2"]] == [
        ("last mile", "Last Mile"), ("IXP", "IXP"), ("IXP", "ixps")]
    assert [k.keyword for k in hits["C5"]] == ["cybersecurity"]  # "spamming" is not "spam"
    assert [text[k.start:k.end] for k in hits["C3"]] == ["access"]


def test_explicit_action_line_references_are_predicted(zero_shot_suite):
    from nlp.tagging.keywords import action_line_references

    text = "Under Action Line C5 and AL C7 e-health we act; see also (C2). C40 cities differ."
    assert [r[0] for r in action_line_references(text)] == ["C5", "C7.e-health", "C2"]
    tags = {t.label: t for t in zero_shot_suite.tag([text], explain=True)[0].tags["action_lines"]}
    for label in ("C5", "C7.e-health", "C2", "C7"):
        assert tags[label].predicted and tags[label].score >= tags[label].threshold
    assert any(k.keyword == "Action Line C5" for k in tags["C5"].keywords)


def test_gdc_sections_follow_the_action_lines_on_their_subject(zero_shot_suite):
    text = "Under Action Line C9 the media inform the public."
    linked = zero_shot_suite.tag([text], explain=True)[0]
    lines = {t.label: t for t in linked.tags["action_lines"]}
    sections = {t.label: t for t in linked.tags["gdc_sections"]}
    assert lines["C9"].predicted  # named by code
    assert sections["GDC-3.4"].predicted and sections["GDC-3.4"].score >= lines["C9"].score
    assert "GDC-3" in linked.predicted("gdc")  # the objective follows its section
    # the evidence names the line they follow; labels that follow nothing name none
    objective = next(t for t in linked.tags["gdc"] if t.label == "GDC-3")
    assert sections["GDC-3.4"].follows == objective.follows == ("C9",)
    assert sections["GDC-3.4"].to_dict(evidence=True)["follows"] == ["C9"]
    assert "follows" not in sections["GDC-3.4"].to_dict()  # evidence only
    assert not sections["GDC-4.1"].follows and not sections["GDC-1.1"].follows
    fields = json.loads("{" + linked.json_fields(evidence=True) + "}")
    assert fields == json.loads(json.dumps(linked.to_dict(evidence=True)))
    assert next(t for t in fields["gdc_sections"] if t["label"] == "GDC-3.4")["follows"] == ["C9"]
    # the GDC tagger alone has no Action Lines to follow: its own scores only
    gdc = copy.deepcopy(zero_shot_suite.taggers["gdc"])
    alone = TaggerSuite({"gdc": gdc}, zero_shot_suite.embedder).tag([text], explain=True)[0]
    own = {t.label: t for t in alone.tags["gdc_sections"]}
    assert own["GDC-3.4"].score < sections["GDC-3.4"].score and not own["GDC-3.4"].predicted
    assert not own["GDC-3.4"].follows
    # sections without a link, and the commitments, are the same either way
    assert own["GDC-4.1"].score == sections["GDC-4.1"].score
    assert [(t.label, t.score) for t in alone.tags["gdc_commitments"]] == [
        (t.label, t.score) for t in linked.tags["gdc_commitments"]]


@pytest.mark.parametrize("explain", [False, True])
def test_the_linked_action_lines_are_scored_once_per_call(zero_shot_suite, monkeypatch,
                                                          explain):
    lines, gdc = zero_shot_suite.taggers["action-lines"], zero_shot_suite.taggers["gdc"]
    texts = [TEXT, "Under Action Line C2 we connect schools."]
    calls = []
    score = lines.score_vectors
    monkeypatch.setattr(lines, "score_vectors",
                        lambda *a, **k: calls.append(len(a[0])) or score(*a, **k))
    tagged = zero_shot_suite.tag(texts, explain=explain)
    assert len(calls) == 1  # the GDC tagger read the Action Lines' scores of that pass
    # ... and decides as if it had scored them itself
    vectors, _, segments = encode_with_segments(zero_shot_suite.embedder, texts)
    labels, scores, predicted = gdc.score_vectors(vectors, texts, segments)["gdc_sections"]
    for i, result in enumerate(tagged):
        got = {t.label: (t.score, t.predicted) for t in result.tags["gdc_sections"]}
        assert got == {lab: (pytest.approx(float(scores[i, j])), bool(predicted[i, j]))
                       for j, lab in enumerate(labels)}
    assert len(calls) == 2  # the direct call above scored them on its own


def test_empty_text_is_rejected(zero_shot_suite):
    with pytest.raises(EmptyTextError):
        zero_shot_suite.tag(["fine", "  \n"])


def test_save_load_gives_identical_scores(zero_shot_paths, hash_embedder, tmp_path):
    for scheme, path in zero_shot_paths.items():
        tagger = Tagger.load(path, hash_embedder)
        copy = tagger.save(tmp_path / scheme / "copy")
        again = Tagger.load(copy, hash_embedder)
        texts = [TEXT, "another short text about schools"]
        vectors = hash_embedder.encode(texts)
        for key, (labels, scores, pred) in tagger.score_vectors(vectors, texts).items():
            labels2, scores2, pred2 = again.score_vectors(vectors, texts)[key]
            assert labels == labels2
            np.testing.assert_array_equal(scores, scores2)
            np.testing.assert_array_equal(pred, pred2)
        assert not list((tmp_path / scheme).glob("*.tmp"))


def test_manifest_mismatch_names_both_models(zero_shot_paths):
    with pytest.raises(ManifestMismatchError) as info:
        Tagger.load(zero_shot_paths["action-lines"], HashEmbedder(128))
    assert "hash:256" in str(info.value) and "hash:128" in str(info.value)


def test_loading_with_the_wrong_class_or_no_model(zero_shot_paths, tmp_path):
    from nlp.tagging.taggers import SdgTagger

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


def test_scoring_layer_mix_math():
    protos = np.eye(3, 4, dtype=np.float32)
    layer = ScoringLayer(["a", "b", "c"], protos, mix={"prototype": 2.0, "head": 0.5},
                         mix_bias=0.1, proto_center=np.array([0.1, 0.1, 0.1], np.float32),
                         proto_spread=np.array([0.5, 0.5, 0.5], np.float32),
                         weights=np.zeros((3, 4), np.float32), bias=np.array([1.0, 0, -1.0]))
    x = np.array([[1.0, 0, 0, 0]], np.float32)
    z = 2.0 * (np.array([1.0, 0, 0]) - 0.1) / 0.5 + 0.5 * np.array([1.0, 0, -1.0]) + 0.1
    np.testing.assert_allclose(layer.proba(x)[0], 1 / (1 + np.exp(-z)), rtol=1e-6)


def test_knn_vote_weights_the_nearest_examples():
    from nlp.tagging.scoring import KNN_FLOOR, knn_vote

    bank = np.eye(3, dtype=np.float32)
    labels = np.array([[1, 0], [1, 0], [0, 1]], bool)
    votes = np.exp(knn_vote(np.array([[0.0, 0.0, 1.0]], np.float32), bank, labels, k=1))
    np.testing.assert_allclose(votes - KNN_FLOOR, [[0.0, 1.0]], atol=1e-6)


def test_target_requires_its_goal():
    from nlp.tagging.taggers import SdgTagger

    mix = {"prototype": 10.0}
    goals = ScoringLayer(["1", "2"], np.eye(2, 4, dtype=np.float32), mix, -5.0,
                         thresholds=np.array([0.5, 0.5]), threshold_source=["t", "t"])
    targets = ScoringLayer(["1.1", "2.1"], np.eye(2, 4, k=1, dtype=np.float32), mix, -5.0,
                           thresholds=np.array([0.1, 0.1]), threshold_source=["t", "t"])
    tagger = SdgTagger({"sdgs": goals, "sdg_targets": targets}, {"name": "x", "dimension": 4})
    x = np.array([[0.0, 1.0, 0.0, 0.0]], np.float32)  # goal 2 strong, target 1.1 strong
    out = tagger.score_vectors(x, ["text"])
    assert out["sdgs"][2].tolist() == [[False, True]]
    assert out["sdg_targets"][1][0, 0] > 0.5  # 1.1 scores high ...
    assert out["sdg_targets"][2].tolist() == [[False, False]]  # ... but goal 1 is not predicted


def test_suite_survives_a_removed_model_dir(zero_shot_paths, hash_embedder, tmp_path):
    copy = tmp_path / "gdc"
    shutil.copytree(zero_shot_paths["gdc"], copy)
    (copy / "weights.npz").unlink()
    with pytest.raises(FileNotFoundError):
        Tagger.load(copy, hash_embedder)


# --------------------------------------------------------------------------------------------
# The shipped models with the real encoder (slower; a handful of checks a reviewer would make)

CORPUS = Path(__file__).resolve().parents[3] / "corpus" / "wsis20"


@pytest.fixture(scope="module")
def shipped_suite(real_embedder):
    from nlp.tagging.registry import find_model
    from nlp.taxonomy import load_taxonomy

    models = Path(__file__).resolve().parents[3] / "models"
    paths = {s: find_model(models, s, real_embedder) for s in ("action-lines", "sdgs", "gdc")}
    if any(p is None for p in paths.values()):
        pytest.skip("shipped models for all-MiniLM-L6-v2 are missing (run `wsis train all`)")
    taxonomy = load_taxonomy(models.parent / "corpus" / "taxonomy", None)
    return TaggerSuite.load(paths, real_embedder, taxonomy)


def _passages(prefix: str) -> list[str]:
    from nlp.chunk import Chunker
    from nlp.types import Document, DocumentMeta

    path = next(CORPUS.glob(f"{prefix}_*.txt"))
    doc = Document.from_text(path.read_text(), DocumentMeta(title=path.name))
    return [p.text for p in Chunker().chunk(doc)]


def _passage(prefix: str, needle: str) -> str:
    return next(p for p in _passages(prefix) if needle in p)


@pytest.mark.model
def test_manrs_routing_security_is_c5(shipped_suite):
    passages = _passages("003")
    at = next(i for i, p in enumerate(passages) if "MANRS" in p)
    results = shipped_suite.tag(passages[at : at + 2], explain=True)
    # C5 is the strongest Action Line of the MANRS passage ...
    assert results[0].tags["action_lines"][0].label == "C5"
    # ... and is tagged on the MANRS discussion (the passage or the one that follows it)
    assert any("C5" in r.predicted("action_lines") for r in results)
    c5 = next(t for t in results[0].tags["action_lines"] if t.label == "C5")
    assert any("MANRS" in s.text or "security" in s.text.lower() for s in c5.sentences)


@pytest.mark.model
def test_giga_school_connectivity(shipped_suite):
    result = shipped_suite.tag([_passage("002", "Giga initiative by ITU and UNICEF")])[0]
    assert {"C2", "C7.e-learning"} & set(result.predicted("action_lines"))
    assert {"4", "9"} & set(result.predicted("sdgs"))
    assert "GDC-1" in result.predicted("gdc")
    top_commitments = [t.label for t in result.tags["gdc_commitments"][:3]]
    assert "GDC-1.1.d" in top_commitments


@pytest.mark.model
def test_shipped_models_are_calibrated_not_half(shipped_suite):
    layer = shipped_suite.taggers["action-lines"].layers["action_lines"]
    assert layer.weights is not None
    assert not np.allclose(layer.thresholds, 0.5)
    assert len(set(np.round(layer.thresholds, 6))) > 1  # per-label, not one global cut


def test_json_fields_write_what_json_dumps_writes(zero_shot_suite) -> None:
    import json

    texts = [("We commit to connect every school and hospital to the Internet, to train "
             "teachers in digital skills, and to protect children online (Action Line C5)."),
             'Cybersécurité: « confiance » and "trust" in e-government services.']
    for explain in (False, True):
        for tags in zero_shot_suite.tag(texts, explain=explain):
            want = json.dumps(tags.to_dict(evidence=explain), ensure_ascii=False,
                              allow_nan=False, separators=(",", ":"))
            assert "{" + tags.json_fields(evidence=explain) + "}" == want
            if explain:  # evidence rows go through the general path, the rest the template
                rows = [t for values in tags.tags.values() for t in values]
                assert any(t.sentences or t.keywords for t in rows)
                assert any(not (t.sentences or t.examples or t.keywords) for t in rows)


def test_pool_scores_mixes_each_text_with_its_best_segment():
    proba = np.array([[0.2, 0.9], [0.5, 0.1], [0.3, 0.3]])
    segments = np.array([[0.8, 0.1], [0.4, 0.6], [0.1, 0.2]])
    owner = np.array([0, 0, 1])  # text 2 has no segments
    pooled = pool_scores(proba, segments, owner, 0.75)
    # text 0: label 0 best segment 0.8 -> 0.25 * 0.2 + 0.75 * 0.8; label 1 no segment beats
    # the text, so it keeps 0.9
    np.testing.assert_allclose(pooled[0], [0.65, 0.9])
    np.testing.assert_allclose(pooled[1], [0.5, 0.25 * 0.1 + 0.75 * 0.2])
    np.testing.assert_allclose(pooled[2], proba[2])
    np.testing.assert_allclose(pool_scores(proba, segments, owner, 0.0), proba)
    assert proba[0, 0] == 0.2  # the input is not changed
    # the layer's weight is saved and read back; older layers pool at 0.5
    layer = ScoringLayer(["a", "b"], np.eye(2, 4, dtype=np.float32), pool=True, pool_weight=0.75)
    assert layer.config()["decision"]["pool_weight"] == 0.75
    config = layer.config()
    del config["decision"]["pool_weight"]
    arrays = np.load(_save_arrays(layer))
    assert ScoringLayer.from_saved(config, arrays, "x").pool_weight == 0.5


def test_a_score_map_changes_what_scores_mean_never_a_decision():
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(3, 8)).astype(np.float32)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    layer = ScoringLayer(["a", "b", "c"], prototypes, mix={"prototype": 2.0}, mix_bias=-1.0,
                         thresholds=np.array([0.3, 0.5, 1.0]), floor=0.2, cap=2,
                         threshold_source=["test"] * 3)
    before = layer.proba(vectors)
    decided = layer.decide(before)
    assert decided.any() and not decided.all()
    layer.remap(0.3, 1.5)
    after = layer.proba(vectors)
    assert not np.allclose(after, before)
    # the same order of labels in every text, so the cap keeps the same ones
    np.testing.assert_array_equal(np.argsort(after, axis=1), np.argsort(before, axis=1))
    np.testing.assert_array_equal(layer.decide(after), decided)
    assert layer.thresholds[2] == 1.0  # never predicted stays never predicted
    # saved and read back with its map; layers saved before maps read as the identity
    arrays = np.load(_save_arrays(layer))
    loaded = ScoringLayer.from_saved(layer.config(), arrays, "x")
    assert loaded.score_map == layer.score_map
    np.testing.assert_allclose(loaded.proba(vectors), after)
    # the floor comes back exactly, however small (a rounded floor moved decisions)
    tiny = ScoringLayer(["a", "b", "c"], prototypes, floor=1.6269107542441772e-06,
                        thresholds=np.array([0.3, 0.5, 1.0]), threshold_source=["test"] * 3)
    assert ScoringLayer.from_saved(tiny.config(), arrays, "x").floor == tiny.floor
    config = layer.config()
    del config["score_map"]
    assert ScoringLayer.from_saved(config, arrays, "x").score_map == (1.0, 0.0)
    # back to the stacker's own scores: the thresholds and floor it started from
    layer.remap(1.0, 0.0)
    np.testing.assert_allclose(layer.proba(vectors), before)
    np.testing.assert_allclose(layer.thresholds, [0.3, 0.5, 1.0])
    assert layer.floor == pytest.approx(0.2)
    with pytest.raises(ValueError, match="slope -1.0 must be positive"):
        layer.remap(-1.0, 0.0)


def _save_arrays(layer: ScoringLayer):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **layer.arrays("x"))
    buffer.seek(0)
    return buffer
