"""Result types of the taggers: scores, decisions and the evidence behind them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from nlp.errors import WsisError


class EmptyTextError(WsisError):
    """A text to tag is empty or whitespace only."""


# How a score appears in JSON: the ``wsis tag`` contract, passage tags of ``/v1/search`` and
# document summaries all round the same way and list labels in the same order.
SCORE_DECIMALS = 6


def json_score(value: float) -> float:
    """``value`` as written to JSON (rounded to :data:`SCORE_DECIMALS`)."""
    return round(float(value), SCORE_DECIMALS)


@lru_cache(maxsize=8192)
def _json_threshold(value: float) -> float:
    """:func:`json_score` of a decision threshold: a label's threshold is the same on every
    call, so its rounding is remembered (two roundings per label were a tenth of /v1/tag)."""
    return json_score(value)


def score_order(label: str, score: float) -> tuple[float, str]:
    """Sort key of every label list: score descending, ties by label id."""
    return (-float(score), label)


@dataclass(frozen=True)
class KeywordMatch:
    keyword: str
    start: int
    end: int


@dataclass(frozen=True)
class SentenceEvidence:
    """A sentence of the input that supports a tag; ``text[start:end] == sentence``."""

    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class ExampleEvidence:
    """A labelled training example close to the input (snippet only; full text in data dir)."""

    id: str
    label: str
    source: str
    snippet: str
    similarity: float


@dataclass(slots=True)
class LabelScore:
    """One label's score for one text, with evidence when it was requested.

    Read-only by convention, not frozen: one is built for every label of every scheme on
    every call (~360 a text), and a frozen dataclass's ``__init__`` cost eight times more."""

    label: str
    score: float
    predicted: bool
    threshold: float
    sentences: tuple[SentenceEvidence, ...] = ()
    examples: tuple[ExampleEvidence, ...] = ()
    keywords: tuple[KeywordMatch, ...] = ()
    # GDC sections and objectives: the predicted Action Lines on the same subject that this
    # label follows (GdcTagger); with evidence only
    follows: tuple[str, ...] = ()

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "score": json_score(self.score),
            "predicted": bool(self.predicted),
        }
        if evidence and self.follows:
            out["follows"] = list(self.follows)
        if evidence and not (self.sentences or self.examples or self.keywords):
            out["threshold"] = _json_threshold(self.threshold)
            out["sentences"], out["examples"], out["keywords"] = [], [], []
        elif evidence:
            # Field by field, not dataclasses.asdict (its deep copies were a sixth of a
            # /v1/tag call: every label of every scheme passes here).
            out["threshold"] = _json_threshold(self.threshold)
            out["sentences"] = [{"start": s.start, "end": s.end, "text": s.text,
                                 "score": s.score} for s in self.sentences]
            out["examples"] = [{"id": e.id, "label": e.label, "source": e.source,
                                "snippet": e.snippet, "similarity": e.similarity}
                               for e in self.examples]
            out["keywords"] = [{"keyword": k.keyword, "start": k.start, "end": k.end}
                               for k in self.keywords]
        return out


@dataclass(frozen=True)
class TextTags:
    """Every label of every requested scheme for one text, keyed like the ``wsis tag`` contract
    (``action_lines``, ``sdgs``, ``sdg_targets``, ``gdc``, ``gdc_sections``, ``gdc_commitments``,
    ``gdc_principles``).
    Each list holds every label of that key in :func:`score_order`."""

    text: str
    tags: dict[str, list[LabelScore]]
    consistency: dict[str, list[str]] = field(default_factory=dict)

    def predicted(self, key: str) -> list[str]:
        return [t.label for t in self.tags.get(key, []) if t.predicted]

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            key: [t.to_dict(evidence) for t in values] for key, values in self.tags.items()
        }
        if self.consistency:
            out["matrix_consistency"] = self.consistency
        return out

    def json_fields(self, evidence: bool = False) -> str:
        """:meth:`to_dict` as the inside of a compact JSON object (no braces), the same text
        ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` writes, built directly:
        most labels carry no evidence and are written from one template, which took a tenth
        of a /v1/tag call through dicts and the encoder."""
        parts = []
        for key, values in self.tags.items():
            rows = ",".join(_label_json(t, evidence) for t in values)
            parts.append(f"{_dumps(key)}:[{rows}]")
        if self.consistency:
            parts.append(f'"matrix_consistency":{_dumps(self.consistency)}')
        return ",".join(parts)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@lru_cache(maxsize=8192)
def _label_key(label: str) -> str:
    return _dumps(label)


def _label_json(t: LabelScore, evidence: bool) -> str:
    if evidence and (t.sentences or t.examples or t.keywords or t.follows):
        return _dumps(t.to_dict(evidence))
    score = json_score(t.score)
    threshold = _json_threshold(t.threshold) if evidence else 0.0
    if not (math.isfinite(score) and math.isfinite(threshold)):
        return _dumps(t.to_dict(evidence))  # raises, as json.dumps does
    head = (f'{{"label":{_label_key(t.label)},"score":{float.__repr__(score)},'
            f'"predicted":{"true" if t.predicted else "false"}')
    if not evidence:
        return head + "}"
    return (f'{head},"threshold":{float.__repr__(threshold)},'
            '"sentences":[],"examples":[],"keywords":[]}')


