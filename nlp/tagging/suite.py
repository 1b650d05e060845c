"""Several taggers over one embedding pass, and whole-document summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tagging.evidence import encode_with_sentences
from nlp.tagging.taggers import Tagger
from nlp.tagging.types import EmptyTextError, LabelScore, TextTags


class TaggerSuite:
    """The three taggers sharing one embedder: each text is embedded once for all schemes."""

    def __init__(self, taggers: dict[str, Tagger], embedder: Any, taxonomy: Any | None = None):
        self.taggers = taggers
        self.embedder = embedder
        self.taxonomy = taxonomy
        self.paths: dict[str, Path] = {}
        for tagger in taggers.values():
            tagger.check_embedder(embedder)

    @classmethod
    def load(cls, paths: dict[str, Path], embedder: Any, taxonomy: Any | None = None) -> TaggerSuite:
        suite = cls({scheme: Tagger.load(p, embedder) for scheme, p in paths.items()}, embedder,
                    taxonomy)
        suite.paths = {scheme: Path(p).resolve() for scheme, p in paths.items()}
        return suite

    def tag(
        self, texts: Sequence[str], explain: bool = False, batch_size: int = 32
    ) -> list[TextTags]:
        """Tag texts with every scheme.

        Args:
            texts: non-empty strings.
            explain: add evidence (sentences with offsets, nearest examples, keywords); this
                embeds the sentences of multi-sentence texts too.

        Raises:
            EmptyTextError: a text is empty or whitespace only.
        """
        for i, text in enumerate(texts):
            if not text or not text.strip():
                raise EmptyTextError(f"Text {i} is empty or whitespace only")
        if explain:
            vectors, sentence_vectors = encode_with_sentences(self.embedder, texts, batch_size)
        else:
            vectors, sentence_vectors = self.embedder.encode(list(texts), batch_size=batch_size), None
        merged: list[dict[str, list[LabelScore]]] = [{} for _ in texts]
        for tagger in self.taggers.values():
            for i, result in enumerate(tagger.build(texts, vectors, sentence_vectors)):
                merged[i].update(result.tags)
        out = []
        for text, tags in zip(texts, merged):
            consistency: dict[str, list[str]] = {}
            if self.taxonomy is not None and "action_lines" in tags and "sdgs" in tags:
                als = [t.label for t in tags["action_lines"] if t.predicted]
                goals = [t.label for t in tags["sdgs"] if t.predicted]
                consistency = self.taxonomy.matrix_consistency(als, goals)
            out.append(TextTags(text, tags, consistency))
        return out


# --------------------------------------------------------------------------------------------
# Whole documents


@dataclass(frozen=True)
class LabelSummary:
    label: str
    share: float  # share of passages where the label is predicted
    mean_score: float
    top_passages: tuple[tuple[str, float], ...]  # (passage id, score), strongest first


@dataclass(frozen=True)
class DocumentTags:
    """Per-passage tags and, per key, a summary of every label over the document."""

    passages: list[tuple[Any, TextTags]]
    summary: dict[str, list[LabelSummary]]

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        return {
            "passages": [
                {"passage_id": getattr(p, "id", str(i)), "start": getattr(p, "start", None),
                 "end": getattr(p, "end", None), **tags.to_dict(evidence)}
                for i, (p, tags) in enumerate(self.passages)
            ],
            "summary": {
                key: [asdict(s) for s in values] for key, values in self.summary.items()
            },
        }


def summarise(passages: Sequence[Any], tagged: Sequence[TextTags], top_k: int = 3) -> DocumentTags:
    """Document-level summary: per label, share of passages predicted and strongest passages."""
    summary: dict[str, list[LabelSummary]] = {}
    if tagged:
        for key in tagged[0].tags:
            per_label: dict[str, list[tuple[str, float, bool]]] = {}
            for passage, tags in zip(passages, tagged):
                pid = getattr(passage, "id", str(passage))
                for t in tags.tags[key]:
                    per_label.setdefault(t.label, []).append((pid, t.score, t.predicted))
            rows = []
            for label, items in per_label.items():
                share = sum(p for *_, p in items) / len(items)
                best = sorted(items, key=lambda x: -x[1])[:top_k]
                rows.append(LabelSummary(label, share, float(np.mean([s for _, s, _ in items])),
                                         tuple((pid, float(s)) for pid, s, _ in best)))
            rows.sort(key=lambda s: (-s.share, -s.mean_score))
            summary[key] = rows
    return DocumentTags(list(zip(passages, tagged)), summary)


def tag_document(
    passages: Sequence[Any], suite: TaggerSuite, explain: bool = True, batch_size: int = 32
) -> DocumentTags:
    """Tag every passage of a document (objects with ``.text`` and ``.id``) and summarise.

    Empty passages are skipped.
    """
    kept = [p for p in passages if getattr(p, "text", "").strip()]
    tagged = suite.tag([p.text for p in kept], explain=explain, batch_size=batch_size)
    return summarise(kept, tagged)
