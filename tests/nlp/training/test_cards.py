"""Evaluation figures go into the shipped models' manifests and cards; the models tag the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from nlp.tagging.suite import TaggerSuite
from nlp.training.cards import BASELINE, POOLED, card_section, evaluation_figures, record_evaluation
from nlp.training.reports import model_card


def _metrics(f1: float) -> dict[str, float]:
    return {"top1": f1 + 0.05, "top3": 0.9, "precision": f1 + 0.1, "recall": f1 - 0.1,
            "micro_f1": f1, "decision_accuracy": f1 + 0.02, "macro_f1": 0.1}


SCHEMES = {
    "sdgs": {
        "eval_set": "toy sentences",
        "systems": {"trained": _metrics(0.8), BASELINE: _metrics(0.6), "zero-shot": _metrics(0.5)},
        "held_out": {
            "kind": "leave-one-source-out",
            "mean": {"systems": {"trained": _metrics(0.64), BASELINE: _metrics(0.56)}},
            "sources": {"src-a": {"systems": {"trained": {"micro_f1": 0.7},
                                              BASELINE: {"micro_f1": 0.61}}},
                        "src-b": {"systems": {"trained": {"micro_f1": 0.37},
                                              BASELINE: {"micro_f1": 0.42}}}},
        },
    },
}
GOLD = {"available": True,
        "keys": {"sdgs": {"precision": 0.7, "recall": 0.6, "f1": 0.646},
                 "gdc": {"precision": 0.93, "recall": 0.48, "f1": 0.631}},
        "cross_fitted": {"sdgs": {"precision": 0.73, "recall": 0.71, "f1": 0.722}}}
RUN = {"started": "2026-12-02 05:38", "mode": "full", "cpu": "test", "cores": 2}


def test_figures_keep_the_trained_method_beside_the_baseline():
    figures = evaluation_figures(SCHEMES, GOLD, RUN)
    sdgs = figures["sdgs"]
    assert sdgs["in_source"]["trained"]["micro_f1"] == 0.8
    assert sdgs["in_source"][BASELINE]["micro_f1"] == 0.6
    assert "zero-shot" not in sdgs["in_source"]
    assert sdgs["per_source"]["src-b"] == {"trained": 0.37, BASELINE: 0.42}
    assert sdgs["gold"]["sdgs"] == {"rule": "cross-fitted", "precision": 0.73, "recall": 0.71,
                                    "f1": 0.722}
    assert figures["gdc"]["gold"]["gdc"]["rule"] == "shipped"  # only the gold set for GDC
    assert "in_source" not in figures["gdc"]
    assert "action-lines" not in figures  # nothing measured, nothing recorded


def test_pooled_figures_are_the_nested_rows_and_get_their_own_column():
    pooled = {**SCHEMES["sdgs"], "pooling": {"nested": _metrics(0.81)}}
    held = dict(pooled["held_out"])
    held["pooling"] = {"nested": {"mean": _metrics(0.65),
                                  "per_source": {"src-b": {"micro_f1": 0.43, "weight": "0.5"}}}}
    pooled["held_out"] = held
    figures = evaluation_figures({"sdgs": pooled}, GOLD, RUN)["sdgs"]
    assert figures["in_source"][POOLED]["micro_f1"] == 0.81
    assert figures["held_out"][POOLED]["micro_f1"] == 0.65
    assert figures["per_source"]["src-b"] == {"trained": 0.37, BASELINE: 0.42, POOLED: 0.43}
    assert POOLED not in figures["per_source"]["src-a"]  # not pooled: no figure made up
    card = "\n".join(card_section(figures))
    assert "| micro_f1 | 0.800 | 0.810 | 0.600 |" in card
    assert "| src-b | 0.370 | 0.430 | 0.420 |" in card
    assert "| src-a | 0.700 | nan | 0.610 |" in card
    # without pooling figures the card keeps its two columns
    plain = "\n".join(card_section(evaluation_figures(SCHEMES, GOLD, RUN)["sdgs"]))
    assert "pooled" not in plain and "| micro_f1 | 0.800 | 0.600 |" in plain


def test_recording_rewrites_manifest_and_card_but_not_the_tags(
        zero_shot_paths, hash_embedder, plain_taxonomy, tmp_path: Path):
    paths = {}
    for scheme, path in zero_shot_paths.items():
        paths[scheme] = tmp_path / scheme
        shutil.copytree(path, paths[scheme])
    texts = ["Broadband for every school and clinic, and digital skills for teachers.",
             "National child online protection strategies."]

    def tags() -> list:
        suite = TaggerSuite.load(paths, hash_embedder, plain_taxonomy)
        return [{k: [(t.label, t.score, t.predicted) for t in v] for k, v in r.tags.items()}
                for r in suite.tag(texts)]

    before = tags()
    written = record_evaluation(evaluation_figures(SCHEMES, GOLD, RUN),
                                {k: str(v) for k, v in paths.items()}, plain_taxonomy,
                                model_card)
    assert sorted(p.name for p in written) == ["gdc", "sdgs"]
    manifest = json.loads((paths["sdgs"] / "manifest.json").read_text())
    assert manifest["evaluation"]["held_out"]["trained"]["micro_f1"] == 0.64
    card = (paths["sdgs"] / "README.md").read_text()
    assert "## Evaluation" in card and "| src-b | 0.370 | 0.420 |" in card
    assert "evaluation" not in json.loads((paths["action-lines"] / "manifest.json").read_text())
    assert tags() == before
