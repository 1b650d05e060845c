"""Several taggers over one embedding pass, and whole-document summaries."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nlp.tagging.evidence import encode_with_segments
from nlp.tagging.table import KeyScores, LabelSummary, label_titles, summarise_scores
from nlp.tagging.taggers import Scores, Tagger, scoring_order
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
            tagger.link(taggers)  # the GDC tagger follows some Action Lines (GdcTagger)

    @classmethod
    def load(cls, paths: dict[str, Path], embedder: Any, taxonomy: Any | None = None,
             snippets: Callable[[str], str] | None = None) -> TaggerSuite:
        """Load the saved taggers at ``paths``; ``snippets`` looks up third-party example
        texts for evidence (see :class:`~nlp.tagging.taggers.Tagger`)."""
        suite = cls({scheme: Tagger.load(p, embedder, snippets) for scheme, p in paths.items()},
                    embedder, taxonomy)
        suite.paths = {scheme: Path(p).resolve() for scheme, p in paths.items()}
        return suite

    def tag(
        self, texts: Sequence[str], explain: bool = False, batch_size: int = 32
    ) -> list[TextTags]:
        """Tag texts with every scheme.

        Args:
            texts: non-empty strings.
            explain: add evidence (sentences and clauses with offsets, nearest examples,
                keywords). Sentences and clauses are embedded either way: pooled layers
                score them too.

        Raises:
            EmptyTextError: a text is empty or whitespace only.
        """
        for i, text in enumerate(texts):
            if not text or not text.strip():
                raise EmptyTextError(f"Text {i} is empty or whitespace only")
        vectors, span_vectors, segments = encode_with_segments(self.embedder, texts, batch_size)
        sentence_vectors = span_vectors if explain else None
        merged: list[dict[str, list[LabelScore]]] = [{} for _ in texts]
        shared: dict[str, Any] = {}  # raw scores: the GDC tagger reads the Action Lines'
        for tagger in scoring_order(self.taggers.values()):
            for i, result in enumerate(tagger.build(texts, vectors, sentence_vectors,
                                                    segments=segments, shared=shared)):
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


class PassageLike(Protocol):
    """What :func:`tag_document` reads from a passage (:class:`nlp.types.Passage` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class DocumentTags:
    """Per-passage tags and, per key, a summary of every label over the document."""

    passages: list[tuple[PassageLike, TextTags]]
    summary: dict[str, list[LabelSummary]]

    def to_dict(self, evidence: bool = False) -> dict[str, Any]:
        return {
            "passages": [
                {"passage_id": p.id, "start": getattr(p, "start", None),
                 "end": getattr(p, "end", None), **tags.to_dict(evidence)}
                for p, tags in self.passages
            ],
            "summary": {
                key: [s.to_dict() for s in values] for key, values in self.summary.items()
            },
        }


def key_matrix(tagged: Sequence[TextTags], key: str) -> Scores:
    """One output key of tagged texts as ``(labels sorted by id, scores (n, L) float32,
    predicted (n, L))``."""
    labels = sorted(t.label for t in tagged[0].tags[key]) if tagged else []
    column = {label: j for j, label in enumerate(labels)}
    scores = np.zeros((len(tagged), len(labels)), dtype=np.float32)
    predicted = np.zeros(scores.shape, dtype=bool)
    for i, tags in enumerate(tagged):
        for t in tags.tags[key]:
            scores[i, column[t.label]] = t.score
            predicted[i, column[t.label]] = t.predicted
    return labels, scores, predicted


def summarise(passages: Sequence[PassageLike], tagged: Sequence[TextTags], top_k: int = 3,
              titles: Mapping[str, str] | None = None) -> DocumentTags:
    """Document-level summary of every label of every key (:func:`summarise_scores` with
    ``every_label``): share of passages predicted, mean score, strongest passages."""
    summary: dict[str, list[LabelSummary]] = {}
    ids = [p.id for p in passages]
    if tagged:
        for key in tagged[0].tags:
            labels, scores, predicted = key_matrix(tagged, key)
            summary[key] = summarise_scores(KeyScores.of(labels, scores, predicted), ids,
                                            titles, top_k, every_label=True)
    return DocumentTags(list(zip(passages, tagged)), summary)


def tag_document(
    passages: Sequence[PassageLike], suite: TaggerSuite, explain: bool = True,
    batch_size: int = 32
) -> DocumentTags:
    """Tag every passage of a document and summarise it.

    Empty passages are skipped.
    """
    kept = [p for p in passages if p.text.strip()]
    tagged = suite.tag([p.text for p in kept], explain=explain, batch_size=batch_size)
    titles = label_titles(suite.taxonomy) if suite.taxonomy is not None else None
    return summarise(kept, tagged, titles=titles)
