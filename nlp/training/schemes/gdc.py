"""The Global Digital Compact trainer: no labelled passages, so prototypes from the taxonomy
and the adopted wording, calibrated per level by a self-test on that wording."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp import data as datasets
from nlp.embed_cache import EmbeddingCache
from nlp.errors import WsisError
from nlp.labelled import Example, _snippet
from nlp.tagging.scoring import ScoringLayer
from nlp.tagging.taggers import GdcTagger
from nlp.taxonomy import GDC, GDC_FOLLOW_UP, Taxonomy
from nlp.training.fit import (
    LayerFit,
    ZeroShotCalibration,
    build_prototypes,
    fit_layer,
    zero_shot_calibration,
)
from nlp.training.schemes.common import AL_FILES, TrainResult, manifest_base, zero_shot_layer

GDC_LAYERS = (("gdc", "objective"), ("gdc_sections", "section"),
              ("gdc_commitments", "commitment"), ("gdc_principles", "principle"))


def gdc_layer_labels(taxonomy: Taxonomy, level: str) -> list[Any]:
    """The labels a GDC layer scores. The ``gdc`` key is the Compact's five objectives: the
    follow-up and review part (``GDC-FU``) is a group of the taxonomy, not an objective, so a
    passage on implementing the Compact is tagged at section and commitment level only."""
    labels = taxonomy.level(GDC, level)
    if level == "objective":
        labels = [lab for lab in labels if lab.id != GDC_FOLLOW_UP]
    return labels


def gdc_official_texts(data_dir: Path | None) -> dict[str, str]:
    """The Compact's adopted wording per item id (``gdc-text``), empty without the file."""
    if data_dir is None:
        return {}
    try:
        return {p.id: p.text for p in datasets.read_gdc_text(data_dir) if p.id}
    except (WsisError, FileNotFoundError):
        return {}


def _gdc_self_test(
    cache: EmbeddingCache, taxonomy: Taxonomy, level: str, official: dict[str, str],
    keywords: dict[str, list[str]], background: np.ndarray | None,
) -> LayerFit | None:
    """Calibrate one GDC level without labelled text: every commitment's (or principle's)
    adopted wording is scored against prototypes built WITHOUT that wording (titles,
    summaries, keywords), and must find its own item (or the section / objective above it)."""
    labels = gdc_layer_labels(taxonomy, level)
    ids = [lab.id for lab in labels]
    items = taxonomy.level(GDC, "principle" if level == "principle" else "commitment")
    rows = [(official[item.id], item) for item in items if item.id in official]
    if len(rows) < 10 or not ids:
        return None

    def target(item: Any) -> str:
        label_id = item.id
        while label_id and taxonomy.get(GDC, label_id).level != level:
            label_id = taxonomy.get(GDC, label_id).parent or ""
        return label_id

    column = {label_id: j for j, label_id in enumerate(ids)}
    y = np.zeros((len(rows), len(ids)), bool)
    for i, (_, item) in enumerate(rows):
        if target(item) in column:
            y[i, column[target(item)]] = True
    protos = build_prototypes(cache, taxonomy, GDC, labels)
    texts = [text for text, _ in rows]
    return fit_layer(ids, cache.encode(texts), y, protos, texts, ("prototype", "keyword"),
                     background=background, keywords={i: keywords.get(i, []) for i in ids})


def train_gdc(
    cache: EmbeddingCache, taxonomy: Taxonomy, data_dir: Path | None,
    feedback: Sequence[Example] = (), zero_shot: ZeroShotCalibration | None = None,
) -> TrainResult:
    """GDC has no labelled passages: prototypes from the taxonomy (titles, summaries, keywords)
    and the Compact's adopted wording, calibrated per level by a self-test on that wording
    (see :func:`_gdc_self_test`), or by the rule transferred from Action Lines without it."""
    zs = zero_shot or zero_shot_calibration(cache, taxonomy, data_dir)
    embedding = {"name": cache.embedder.name, "dimension": cache.embedder.dimension}
    official = gdc_official_texts(data_dir)
    keywords: dict[str, list[str]] = {}
    for lab in taxonomy.labels[GDC]:
        keywords[lab.id] = list(lab.keywords)
    for lab in gdc_layer_labels(taxonomy, "objective"):
        keywords[lab.id] = sorted({k for s in taxonomy.children(GDC, lab.id) for k in s.keywords})
    layers: dict[str, ScoringLayer] = {}
    fits: dict[str, LayerFit] = {}
    for key, level in GDC_LAYERS:
        labels = gdc_layer_labels(taxonomy, level)
        ids = {lab.id for lab in labels}
        extra: dict[str, list[str]] = {i: [official[i]] for i in ids if i in official}
        for ex in feedback:
            if ex.positive and ex.label in ids:
                extra.setdefault(ex.label, []).append(ex.text)
        protos = (build_prototypes(cache, taxonomy, GDC, labels, extra) if labels
                  else np.zeros((0, cache.embedder.dimension), np.float32))
        fit = _gdc_self_test(cache, taxonomy, level, official, keywords, zs.background)
        if fit is None:
            layers[key] = zero_shot_layer([lab.id for lab in labels], protos, zs, keywords)
            continue
        layer = fit.layer
        # Serve with the full prototypes (the adopted wording included); the calibration
        # above measured the harder case without it.
        layer.prototypes = protos
        layer.threshold_source = [s + "; GDC self-test on the adopted text"
                                  for s in layer.threshold_source]
        layers[key], fits[key] = layer, fit
    commitments = taxonomy.level(GDC, "commitment")
    bank_vectors = cache.encode([c.texts[0] if c.texts else c.title for c in commitments])
    meta = [{"id": f"gdc.yaml:{c.id}", "label": c.id, "source": "gdc-taxonomy",
             "snippet": _snippet(c.texts[0] if c.texts else c.title)} for c in commitments]
    files = (AL_FILES + ("gdc-text/gdc-paragraphs.jsonl",)
             if datasets.data_available(data_dir) else ())
    manifest = manifest_base(taxonomy, GDC, cache.embedder, data_dir, files,
                             "zero-shot, self-tested on the adopted text" if fits else "zero-shot")
    manifest["zero_shot_calibration"] = (
        "per level: the Compact's adopted wording of each item scored against prototypes "
        "without it" if fits else zs.basis)
    manifest["parents"] = {lab.id: lab.parent for lab in taxonomy.labels[GDC] if lab.parent}
    manifest["action_line_links"] = {section: list(lines) for section, lines
                                     in taxonomy.gdc_section_links().items()}
    tagger = GdcTagger(layers, embedding, manifest, bank_vectors.astype(np.float16), meta,
                       keywords)
    return TrainResult(tagger, None, fits, manifest)
