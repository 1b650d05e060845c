"""Evaluation: metrics by hand, splits that never leak, the fast path equals fit_layer, reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nlp.config import get_settings
from nlp.tagging.scoring import COMPONENTS, pool_scores
from nlp.training.decision import _scorer, decision_accuracy, strongest_wrong
from nlp.training.evaluation import logits as ev_logits
from nlp.training.evaluation import run as ev_run
from nlp.training.evaluation import systems as ev_systems
from nlp.training.evaluation.config import POOL_RULES, EvalConfig
from nlp.training.evaluation.logits import FitCache, split_logits
from nlp.training.evaluation.metrics import classification_metrics
from nlp.training.evaluation.splits import SchemeData, held_out_source_splits, in_source_splits
from nlp.training.evaluation.systems import score_splits
from nlp.training.fit import fit_layer
from nlp.training.reports import ablation_rows, render_markdown
from tests.datahelp import needs_data

# --------------------------------------------------------------------------------------------
# Metrics


def test_decision_precision_recall_figures_equal_hand_computed_values():
    labels = ["a", "b", "c", "d"]
    y = np.array([[1, 0, 0, 0], [0, 1, 1, 0]], bool)
    proba = np.array([[0.8, 0.6, 0.3, 0.1], [0.2, 0.7, 0.4, 0.5]])
    pred = np.array([[1, 1, 0, 0], [0, 1, 0, 1]], bool)
    # text 0: gold a predicted (right); strongest other label b predicted (wrong)      -> 1/2
    # text 1: gold b predicted, c missed; strongest others d (predicted, wrong), a (not) -> 2/4
    assert decision_accuracy(proba, y, pred) == pytest.approx(3 / 6)
    m = classification_metrics(labels, y, proba, pred)
    # tp = 2 (a in text 0, b in text 1); 4 predicted; 3 gold
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(2 * 2 / (4 + 3))
    # per label F1: a 1, b 2/3 (predicted twice, right once), c 0; d has no gold -> not averaged
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["top1"] == 1.0 and m["top3"] == 1.0  # first gold labels a and b are ranked first
    assert m["decision_accuracy"] == pytest.approx(0.5)
    assert m["mean_labels_predicted"] == 2.0 and m["mean_gold_labels"] == 1.5
    assert m["per_label"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                   "support": 1}
    # the first gold label decides top-1: make c (second gold label of text 1) the primary
    m = classification_metrics(labels, y, proba, pred, primary=np.array([0, 2]))
    assert m["top1"] == 0.5 and m["top3"] == 1.0


def loop_decision_accuracy(proba: np.ndarray, y: np.ndarray, pred: np.ndarray) -> float:
    """The definition, one text at a time: its gold labels, and as many of its highest-scored
    non-gold labels (ties to the lower label index)."""
    correct = total = 0
    for i in range(len(y)):
        gold = np.flatnonzero(y[i])
        if len(gold) == 0:
            continue
        wrong = np.flatnonzero(~y[i])
        others = wrong[np.argsort(-proba[i, wrong], kind="stable")[: len(gold)]]
        correct += int(pred[i, gold].sum()) + int((~pred[i, others]).sum())
        total += len(gold) + len(others)
    return correct / total if total else 0.0


def test_vectorised_decision_accuracy_equals_the_loop():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, labels = int(rng.integers(1, 40)), int(rng.integers(2, 18))
        y = rng.random((n, labels)) < rng.random() * 0.8
        proba = rng.random((n, labels)).round(int(rng.integers(1, 4)))  # many ties
        pred = rng.random((n, labels)) < 0.3
        expected = loop_decision_accuracy(proba, y, pred)
        assert decision_accuracy(proba, y, pred) == expected
        # the ranking computed once, as the decision search scores many rules of one (proba, y)
        wrong = strongest_wrong(proba, y)
        assert decision_accuracy(proba, y, pred, wrong) == expected
        cached = _scorer("decision_accuracy", proba, y)
        assert cached(pred) == expected
        assert cached(~pred) == loop_decision_accuracy(proba, y, ~pred)


# --------------------------------------------------------------------------------------------
# Synthetic data: 4 labels, 4 sources


WORDS = {"a": "water river sanitation", "b": "school teacher pupils", "c": "clinic health doctor",
         "d": "energy solar power"}


def _synthetic(n_per_source: int = 40, seed: int = 0, segments: bool = False) -> SchemeData:
    rng = np.random.default_rng(seed)
    labels = list(WORDS)
    centers = np.eye(len(labels), 16) * 3
    texts, sources, rows, vectors = [], [], [], []
    for s in range(4):
        for i in range(n_per_source):
            j = int(rng.integers(len(labels)))
            words = WORDS[labels[j]].split() + ["the", "of", f"s{s}", f"n{i % 7}"]
            texts.append(" ".join(rng.choice(words, 6)))
            sources.append(f"src{s}")
            rows.append(j)
            vectors.append(centers[j] + rng.normal(0, 1.2, 16))
    vectors = np.array(vectors, np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    y = np.zeros((len(rows), len(labels)), bool)
    y[np.arange(len(rows)), rows] = True
    protos = (centers / 3).astype(np.float32)
    data = SchemeData(
        scheme="toy", labels=labels, texts=texts, sources=np.array(sources), vectors=vectors,
        y=y, primary=np.array(rows), calibrate=np.ones(len(rows), bool), prototypes=protos,
        keywords={lab: WORDS[lab].split()[:1] for lab in labels}, objective="decision_accuracy")
    if segments:
        # every other text has two segments: its first and last three words, each a noisy
        # copy of the text's vector; the others have none
        owner = np.repeat(np.arange(0, len(texts), 2), 2)
        seg_vectors = vectors[owner] + rng.normal(0, 0.5, (len(owner), 16)).astype(np.float32)
        seg_vectors /= np.linalg.norm(seg_vectors, axis=1, keepdims=True)
        data.segment_owner, data.segment_vectors = owner, seg_vectors.astype(np.float32)
        data.segment_texts = [" ".join(texts[i].split()[:3] if k % 2 == 0
                                       else texts[i].split()[3:]) for k, i in enumerate(owner)]
    return data


def test_held_out_source_splits_never_train_on_the_held_out_source():
    data = _synthetic()
    splits = held_out_source_splits(data.sources, data.calibrate, ["src0", "src1", "src2", "src3"])
    assert [s.name for s in splits] == ["src0", "src1", "src2", "src3"]
    for split in splits:
        assert set(data.sources[split.test]) == {split.name}
        assert split.name not in set(data.sources[split.train])
        assert len(split.inner) == 3  # the other three sources, each held out once
        for fit_rows, scored in split.inner:
            (inner_source,) = set(data.sources[scored])
            assert set(scored) <= set(split.train)
            assert not {split.name, inner_source} & set(data.sources[fit_rows])


def test_loso_models_never_score_texts_of_a_source_they_trained_on(monkeypatch):
    data = _synthetic(n_per_source=25)
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    original = ev_logits._supervised_logits

    def recording(vectors, y, texts, fit_rows, score_rows, final, components, extra=None):
        calls.append((fit_rows, score_rows))
        return original(vectors, y, texts, fit_rows, score_rows, final, components, extra)

    monkeypatch.setattr(ev_logits, "_supervised_logits", recording)
    splits = held_out_source_splits(data.sources, data.calibrate, ["src0", "src1", "src2"])
    split_logits(data, splits)
    # outer models (3) + inner models "all but S and T", shared between splits S and T
    assert len(calls) == 3 + len({frozenset({s.name, str(data.sources[r[0]])})
                                  for s in splits for _, r in s.inner})
    for fit_rows, score_rows in calls:
        assert not set(data.sources[fit_rows]) & set(data.sources[score_rows])


def test_a_source_that_never_calibrates_is_not_an_inner_fold():
    data = _synthetic()
    data.calibrate[data.sources == "src3"] = False  # e.g. texts the prototypes were built from
    (split,) = held_out_source_splits(data.sources, data.calibrate, ["src0"])
    assert sorted(str(data.sources[r[0]]) for _, r in split.inner) == ["src1", "src2"]
    assert not split.calibrate[data.sources[split.train] == "src3"].any()


def test_in_source_splits_are_nested():
    data = _synthetic()
    data.sources[:60] = "eval"
    splits = in_source_splits(data.sources, data.primary, data.calibrate, "eval", 3)
    scored = np.concatenate([s.test for s in splits])
    assert sorted(scored) == list(range(60))
    for split in splits:
        assert not set(split.test) & set(split.train)
        assert len(split.inner) == 2
        for fit_rows, rows in split.inner:
            assert set(rows) <= set(range(60)) and not set(rows) & set(split.test)
            assert not set(fit_rows) & (set(rows) | set(split.test))
        # only the evaluation source's training rows calibrate
        assert (split.calibrate == (split.train < 60)).all()


@pytest.mark.parametrize("silent_source", [None, "src3"])
def test_the_fast_path_scores_like_fit_layer(silent_source):
    """Stacking shared component logits gives the same test scores and decisions as fitting
    the layer with ``fit_layer(groups=sources)`` on the same training part."""
    data = _synthetic()
    if silent_source:
        data.calibrate[data.sources == silent_source] = False
    (split,) = held_out_source_splits(data.sources, data.calibrate, ["src0"])
    proba, pred, mix = score_splits(data, [split])[0].stacks["trained"]
    train, test = split.train, split.test
    fit = fit_layer(data.labels, data.vectors[train], data.y[train], data.prototypes,
                    [data.texts[i] for i in train], COMPONENTS,
                    calibrate=data.calibrate[train], keywords=data.keywords,
                    groups=list(data.sources[train]), objective="decision_accuracy")
    texts = [data.texts[i] for i in test]
    expected = fit.layer.proba(data.vectors[test], texts)
    assert mix == {k: round(v, 3) for k, v in fit.layer.mix.items()}
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_array_equal(pred, fit.layer.decide(expected))


def test_fit_cache_reuses_fits_and_misses_when_the_labels_change(tmp_path: Path):
    data = _synthetic(n_per_source=20)
    splits = held_out_source_splits(data.sources, data.calibrate, ["src0", "src1"])
    first = FitCache(tmp_path, "toy")
    fresh = score_splits(data, splits, cache=first)
    assert first.computed > 0 and first.loaded == 0
    again = FitCache(tmp_path, "toy")
    cached = score_splits(data, splits, cache=again)
    assert again.computed == 0 and again.loaded == first.computed
    for a, b in zip(fresh, cached):
        for name in a.stacks:
            np.testing.assert_array_equal(a.stacks[name][0], b.stacks[name][0])
    data.y[5] = ~data.y[5]  # a relabelled training text invalidates every fit that saw it
    changed = FitCache(tmp_path, "toy")
    split_logits(data, splits, cache=changed)
    assert changed.computed > 0


def test_ablation_has_one_row_per_component_and_the_report_has_every_table():
    data = _synthetic(n_per_source=30)
    data.sources[:40] = "eval"
    config = EvalConfig(folds=3)
    systems, mixes, pooling = ev_systems._in_source(data, "eval", config, None)
    assert pooling is None  # no segments, nothing to pool
    result = {"scheme": "sdgs", "labels": data.labels, "eval_set": "toy", "selection": "nested",
              "systems": systems, "mix_per_fold": mixes,
              "held_out": ev_systems._held_out(data, ["src1", "src2"], config, None)
              | {"kind": "leave-one-source-out", "selection": "inner LOSO"}}
    rows = ablation_rows(result)
    assert [name for name, _ in rows[1:]] == [f"without {c}" for c in COMPONENTS]
    markdown = render_markdown({"sdgs": result}, gold={"available": False,
                                                       "reason": "gold set not found"})
    for heading in ("## Summary", "## 1. In-source k-fold", "## 2. Held-out sources",
                    "## 3. Gold set", "## 4. Ablation on held-out sources"):
        assert heading in markdown
    assert "gold set not found" in markdown
    for c in COMPONENTS:
        assert markdown.count(f"| without {c} |") == 1
    assert "| src1 |" in markdown and "| src2 |" in markdown
    # every held-out source is compared with the plain embedding + logistic baseline
    held = result["held_out"]["sources"]
    for source in ("src1", "src2"):
        gain = (held[source]["systems"]["trained"]["micro_f1"]
                - held[source]["systems"]["embedding-lr-baseline"]["micro_f1"])
        row = next(line for line in markdown.splitlines()
                   if line.startswith(f"| {source} |") and "/" in line)
        assert row.endswith(f"| {gain:+.3f} |")


def test_pooled_scores_are_the_shipped_layers_pooling_of_the_same_model():
    """The evaluation's pooled test scores equal a layer fitted on the same training part
    scoring the test texts and their segments and pooling them (pool_scores)."""
    data = _synthetic(segments=True)
    (split,) = held_out_source_splits(data.sources, data.calibrate, ["src0"])
    (scored,) = score_splits(data, [split])
    assert scored.pooled is not None
    train, test = split.train, split.test
    fit = fit_layer(data.labels, data.vectors[train], data.y[train], data.prototypes,
                    [data.texts[i] for i in train], COMPONENTS,
                    calibrate=data.calibrate[train], keywords=data.keywords,
                    groups=list(data.sources[train]), objective="decision_accuracy")
    mine = np.flatnonzero(np.isin(data.segment_owner, test))
    seg = fit.layer.proba(data.segment_vectors[mine], [data.segment_texts[m] for m in mine])
    owner = np.searchsorted(test, data.segment_owner[mine])
    whole = fit.layer.proba(data.vectors[test], [data.texts[i] for i in test])
    for weight in (0.0, 0.5, 1.0):
        np.testing.assert_allclose(scored.pooled.proba(weight),
                                   pool_scores(whole, seg, owner, weight), atol=1e-6)
    # pooling only ever raises a score, and weight 0 is the text whole
    np.testing.assert_allclose(scored.pooled.proba(0.0), scored.stacks["trained"][0])
    assert (scored.pooled.proba(1.0) >= scored.pooled.proba(0.5) - 1e-12).all()
    # the union rule keeps the text's decisions and adds each segment's own
    proba, union = scored.pooled.rule("union")
    np.testing.assert_allclose(proba, scored.pooled.proba(0.5))
    text_pred = scored.pooled.decide(proba)
    seg_pred = scored.pooled.decide(seg)
    assert (union >= text_pred).all()
    for m, i in enumerate(owner):
        assert (union[i] >= seg_pred[m]).all()
    expected = text_pred.copy()
    for m, i in enumerate(owner):
        expected[i] |= seg_pred[m]
    np.testing.assert_array_equal(union, expected)


def test_pooling_tables_choose_each_weight_without_the_scored_part():
    data = _synthetic(n_per_source=30, segments=True)
    data.sources[:40] = "eval"
    config = EvalConfig(folds=3)
    systems, mixes, pooling = ev_systems._in_source(data, "eval", config, None)
    assert pooling is not None
    assert list(pooling["by_weight"]) == list(POOL_RULES)
    # weight 0 is the trained system's whole-text row
    for key in ("micro_f1", "top1", "decision_accuracy"):
        assert pooling["by_weight"]["0.0"][key] == pytest.approx(systems["trained"][key])
    assert len(pooling["nested"]["chosen"]) == 3
    held = ev_systems._held_out(data, ["src1", "src2", "src3"], config, None)
    table = held["pooling"]
    for source, row in table["nested"]["per_source"].items():
        # the weight of each source is the best mean over the OTHER sources
        others = [s for s in ("src1", "src2", "src3") if s != source]
        best = max(POOL_RULES, key=lambda w: np.mean(
            [table["per_source"][s][w]["decision_accuracy"] for s in others]))
        assert row["weight"] == best
        assert row["micro_f1"] == table["per_source"][source][best]["micro_f1"]
    # one held-out source: nothing else to choose a rule on, so no nested row
    single = ev_systems._held_out(data, ["src1"], config, None)["pooling"]
    assert single["nested"] is None and set(single["per_source"]) == {"src1"}
    result = {"scheme": "sdgs", "labels": data.labels, "eval_set": "toy", "selection": "nested",
              "systems": systems, "mix_per_fold": mixes, "pooling": pooling,
              "held_out": held | {"kind": "leave-one-source-out", "selection": "inner LOSO"}}
    markdown = render_markdown({"sdgs": result}, pool_weights={"sdgs": 0.5})
    assert "## 5. Pooling sentences and clauses" in markdown
    assert markdown.count("pooled, weight 0.5 — shipped") == 2
    assert "| src3 |" in markdown.split("## 5.")[1]


def test_a_source_inside_the_prototypes_is_reported_but_not_averaged():
    data = _synthetic(n_per_source=25)
    data.sources = np.where(data.sources == "src3", "sdg-targets", data.sources)
    held = ev_systems._held_out(data, ["src0", "src1", "sdg-targets"], EvalConfig(), None)
    row = held["sources"]["sdg-targets"]
    assert not row["in_mean"] and "prototype" in row["note"]
    assert "prototype" not in row["mix"]
    assert held["mean"]["systems"]["trained"]["sources"] == 2
    expected = np.mean([held["sources"][s]["systems"]["trained"]["micro_f1"]
                        for s in ("src0", "src1")])
    assert held["mean"]["systems"]["trained"]["micro_f1"] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Gold set


def test_gold_scores_the_shipped_taggers_and_cross_fits_a_rule_tuned_on_it(
        tmp_path: Path, zero_shot_paths, hash_embedder):
    import shutil

    from nlp.config import Settings
    from nlp.training.reports import _gold_section

    models = tmp_path / "models"
    for scheme, path in zero_shot_paths.items():
        shutil.copytree(path, models / scheme / "v1")
    settings = Settings(home=tmp_path / "home", models_dir=models, data_dir=tmp_path / "none",
                        embedding_model="hash:256")
    keys = ["action_lines", "sdgs", "gdc", "gdc_commitments", "gdc_principles"]
    gold = ev_run.evaluate_gold(settings, hash_embedder, keys)
    assert gold["available"] and gold["n_passages"] >= 100
    assert set(gold["keys"]) | set(gold["not_produced"]) == set(keys)
    for m in gold["keys"].values():
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and not m["rule_fitted_on_gold"]
    assert "cross_fitted" not in gold
    assert "In-sample warning" not in "\n".join(_gold_section(gold))
    def fit_rule_on_gold(scheme: str, key: str) -> dict:
        manifest = models / scheme / "v1" / "manifest.json"
        meta = json.loads(manifest.read_text())
        meta["decision_rule"] = {key: {"floor": 0.01, "gold_passages": 107}}
        manifest.write_text(json.dumps(meta))
        return ev_run.evaluate_gold(settings, hash_embedder, keys)

    # a decision rule fitted on the gold passages makes those figures in-sample
    gold = fit_rule_on_gold("action-lines", "action_lines")
    assert gold["keys"]["action_lines"]["rule_fitted_on_gold"]
    # GDC sections (and so objectives) follow some Action Lines: in-sample with them
    assert gold["keys"]["gdc"]["rule_fitted_on_gold"]
    assert set(gold["cross_fitted"]) == {"action_lines", "gdc"}
    section = "\n".join(_gold_section(gold))
    assert "In-sample warning" in section and "| cross-fitted |" in section
    # GDC objectives follow from the commitments' decisions: a rule fitted on commitments
    # makes the objective figures in-sample too, and they are cross-fitted with it
    gold = fit_rule_on_gold("gdc", "gdc_commitments")
    assert gold["keys"]["gdc"]["rule_fitted_on_gold"]
    assert set(gold["cross_fitted"]) == {"action_lines", "gdc", "gdc_commitments"}
    assert not gold["keys"]["gdc_principles"]["rule_fitted_on_gold"]  # a rule of its own


def test_a_fine_tuned_encoder_is_flagged_for_the_schemes_it_saw(tmp_path: Path):
    from nlp.training.reports import _encoder_line

    (tmp_path / "manifest.json").write_text(json.dumps(
        {"name": "body-v1", "texts_per_scheme": {"al": 991}, "n_texts": 991}))
    trained = ev_run.encoder_training(str(tmp_path))
    assert trained == {"name": "body-v1", "schemes": ["action-lines"], "n_texts": 991}
    assert "Action Lines figures are optimistic" in _encoder_line(trained)[0]
    assert ev_run.encoder_training("all-MiniLM-L6-v2") is None


def test_gold_set_missing_taggers_is_reported_not_raised(tmp_path: Path, hash_embedder):
    from nlp.config import Settings

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models",
                        data_dir=tmp_path / "none", embedding_model="hash:256")
    gold = ev_run.evaluate_gold(settings, hash_embedder, ["sdgs"])
    assert gold["available"] is False and "no shipped taggers" in gold["reason"]


# --------------------------------------------------------------------------------------------
# The CLI smoke run on the real data sets (hash embedder)


@pytest.fixture
def app() -> typer.Typer:
    from nlp.cli import app

    return app


@needs_data
def test_smoke_run_writes_every_report(app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data_dir = get_settings().data_dir
    monkeypatch.setenv("WSIS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WSIS_MODELS_DIR", str(tmp_path / "models"))  # no shipped taggers
    monkeypatch.setenv("WSIS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WSIS_EMBEDDING_MODEL", "hash:256")
    get_settings.cache_clear()
    try:
        out = tmp_path / "reports"
        result = CliRunner().invoke(app, ["evaluate", "all", "--smoke", "--jobs", "2", "--json",
                                          "--report-dir", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(summary["reports"]) == {"json", "md", "png-action-lines", "png-sdgs"}
    for path in summary["reports"].values():
        assert Path(path).is_file() and Path(path).parent == out
    assert summary["run"]["mode"] == "smoke"
    assert summary["gold"]["available"] is False
    markdown = (out / "tagger-eval.md").read_text()
    for text in ("Wall time:", "Machine:", "Embedding model: `hash:256`", "## 1. In-source",
                 "## 2. Held-out sources", "## 3. Gold set", "## 4. Ablation",
                 "leave-one-source-out", "wsis-prizes-2021", "qu-sdg-sentences"):
        assert text in markdown
    report = json.loads((out / "tagger-eval.json").read_text())
    for scheme in ("action-lines", "sdgs"):
        held = report["schemes"][scheme]["held_out"]
        assert list(held["mean"]["ablation"]) == list(COMPONENTS)
        for figures in held["sources"].values():
            assert {"precision", "recall", "micro_f1", "decision_accuracy"} <= set(
                figures["systems"]["trained"])
    assert len(report["schemes"]["sdgs"]["held_out"]["sources"]) == 2
    # Action Lines hold out the Prizes projects and the Compact's paragraphs (policy prose)
    assert set(report["schemes"]["action-lines"]["held_out"]["sources"]) == {
        "wsis-prizes-2021", "gdc-text"}
