"""A small synthetic corpus with planted structure for the insight views: four documents of
three organisations, two themes shared across documents, and hand-set tag decisions."""

from __future__ import annotations

import numpy as np

from nlp.index import VectorIndex
from nlp.insights.corpus import CorpusView
from nlp.tagging.table import KeyScores, PassageTagTable
from nlp.types import DocumentMeta, Passage

DIM = 64
DOCS = {
    "a000000000000001": DocumentMeta("Alpha input", "Org X", "input", "2025-01"),
    "b000000000000002": DocumentMeta("Beta outcome", "Org X", "outcome", "2024-10-05"),
    "c000000000000003": DocumentMeta("Gamma input", "Org Y", "input", "2025-06"),
    "d000000000000004": DocumentMeta("Delta note", "Org Z", "input", ""),
}
SCHOOLS = "Connect every school to broadband internet and train teachers in digital skills."
ROUTING = "Routing security with RPKI protects the global internet from hijacks."
# (doc, text, theme) per passage; theme None = unrelated filler.
PASSAGES = [
    ("a000000000000001", SCHOOLS, "schools"), ("a000000000000001", ROUTING, "routing"),
    ("a000000000000001", "Alpha filler about budgets.", None),
    ("b000000000000002", SCHOOLS + " Schools first.", "schools"),
    ("b000000000000002", "Beta filler on procedure.", None),
    ("c000000000000003", "Schools need broadband internet; teachers need digital skills.",
     "schools"),
    ("c000000000000003", ROUTING + " RPKI now.", "routing"),
    ("c000000000000003", "Gamma filler about weather.", None),
    ("d000000000000004", "Delta filler about lunch.", None),
    ("d000000000000004", "Delta filler about chairs.", None),
]
# Predicted labels per passage row, per key.
TAGS = {
    "action_lines": {0: ["C4", "C2"], 1: ["C5"], 3: ["C4"], 5: ["C4", "C7.e-learning"],
                     6: ["C5"], 8: ["C11"]},
    "sdgs": {0: ["4"], 3: ["4"], 5: ["4"], 1: ["9"], 6: ["9"]},
    "sdg_targets": {0: ["4.4"], 3: ["4.4"], 1: ["9.c"]},
    "gdc": {1: ["GDC-3"], 0: ["GDC-1"], 3: ["GDC-1"]},
    "gdc_sections": {1: ["GDC-3.3"], 0: ["GDC-1.2"], 3: ["GDC-1.2"]},
    "gdc_commitments": {},
}


def _vectors(rng: np.random.Generator) -> np.ndarray:
    centres = {name: rng.standard_normal(DIM) for name in ("schools", "routing")}
    out = []
    for _, _, theme in PASSAGES:
        base = centres[theme] if theme else rng.standard_normal(DIM) * 3
        out.append(base + rng.standard_normal(DIM) * 0.1)
    vectors = np.asarray(out, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_view(taxonomy, seed: int = 0) -> CorpusView:
    index = VectorIndex("synthetic", DIM)
    passages, counters = [], {}
    for doc_id, text, _ in PASSAGES:
        i = counters[doc_id] = counters.get(doc_id, -1) + 1
        passages.append(Passage(f"{doc_id}-{i:04d}", doc_id, i, i * 1000, i * 1000 + len(text),
                                text))
    index.add(dict(DOCS), passages, _vectors(np.random.default_rng(seed)))
    label_sets = {
        "action_lines": taxonomy.ids("action-lines"),
        "sdgs": taxonomy.ids("sdgs", "goal"), "sdg_targets": taxonomy.ids("sdgs", "target"),
        "gdc": taxonomy.ids("gdc", "objective"),
        "gdc_sections": taxonomy.ids("gdc", "section"),
        "gdc_commitments": taxonomy.ids("gdc", "commitment"),
    }
    keys = {}
    for key, labels in label_sets.items():
        predicted = np.zeros((len(passages), len(labels)), dtype=bool)
        scores = np.full(predicted.shape, 0.1, dtype=np.float32)
        for row, wanted in TAGS[key].items():
            for label in wanted:
                predicted[row, labels.index(label)] = True
                scores[row, labels.index(label)] = 0.5 + row / 100
        keys[key] = KeyScores.of(labels, scores, predicted)
    return CorpusView(index, PassageTagTable((1, len(passages), "synthetic"), keys), taxonomy)
