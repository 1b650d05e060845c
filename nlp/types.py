"""Plain value types that flow through the pipeline: load -> chunk -> embed -> index -> search."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


def content_hash(text: str) -> str:
    """Stable short id for a text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class DocumentMeta:
    """What a reviewer filters on. ``date`` is kept as written (``2025``, ``2025-01``, ``2025-01-16``)."""

    title: str
    organization: str = ""
    kind: str = ""
    date: str = ""
    source: str = ""  # file name or URL the document came from

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """A source document's full text and metadata. ``id`` is the hash of the text."""

    id: str
    text: str
    meta: DocumentMeta

    @classmethod
    def from_text(cls, text: str, meta: DocumentMeta) -> Document:
        return cls(id=content_hash(text), text=text, meta=meta)


# What the index embeds and BM25 reads of a passage; recorded in the index manifest, so an
# index built from other text (raw Markdown before 0.x) is rebuilt rather than mixed.
PASSAGE_TEXT = "clean-markup-v1"


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences of one document; ``doc.text[start:end] == text``."""

    id: str
    doc_id: str
    index: int  # position of the passage in its document
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def clean_text(self) -> str:
        """``text`` without Markdown and HTML marks (:mod:`nlp.markup`): what is shown."""
        from nlp.markup import clean_text

        return clean_text(self.text)

    @property
    def embedding_text(self) -> str:
        """What the search embedder encodes for this passage (see :data:`PASSAGE_TEXT`)."""
        return self.clean_text

    @property
    def lexical_text(self) -> str:
        """What BM25 indexes for this passage."""
        return self.clean_text


@dataclass(frozen=True)
class Hit:
    """One search result: a passage, its document's metadata and a score (higher is better)."""

    passage: Passage
    meta: DocumentMeta
    score: float
    rank: int
    scores: dict[str, float] = field(default_factory=dict)  # per-retriever scores in hybrid mode
    # Near duplicates of the passage collapsed into this hit (nlp.dedup), with their documents.
    also_in: tuple[tuple[Passage, DocumentMeta], ...] = ()

    @property
    def also_in_documents(self) -> int:
        """Other documents that repeat this passage."""
        return len({p.doc_id for p, _ in self.also_in} - {self.passage.doc_id})

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "passage_id": self.passage.id,
            "doc_id": self.passage.doc_id,
            "start": self.passage.start,
            "end": self.passage.end,
            "text": self.passage.text,
            "clean_text": self.passage.clean_text,
            "title": self.meta.title,
            "organization": self.meta.organization,
            "kind": self.meta.kind,
            "date": self.meta.date,
            "source": self.meta.source,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "also_in": [{"passage_id": p.id, "doc_id": p.doc_id, "title": meta.title,
                         "organization": meta.organization} for p, meta in self.also_in],
            "also_in_documents": self.also_in_documents,
        }
