"""Sentence and clause spans, and their vectors from one forward pass: the raw material of
evidence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Clause boundaries inside a long sentence: punctuation that separates clauses, or a
# coordinating word after a comma ("..., and to protect children online").
_CLAUSE_BREAK = re.compile(r"[;:]\s+|,\s+(?:and\s+|or\s+|while\s+|including\s+)?|\s+(?:and|or)\s+(?=to\s)")
_WORD = re.compile(r"\w+")
CLAUSE_MIN_SENTENCE_WORDS = 18
CLAUSE_MIN_WORDS = 4


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Clauses of the sentence ``text[start:end]``: pieces between clause breaks, each of at
    least ``CLAUSE_MIN_WORDS`` words (shorter pieces join the next one). Empty for short
    sentences or when there is only one clause."""
    sentence = text[start:end]
    if len(_WORD.findall(sentence)) < CLAUSE_MIN_SENTENCE_WORDS:
        return []
    pieces: list[tuple[int, int]] = []
    begin = 0
    for match in _CLAUSE_BREAK.finditer(sentence):
        if len(_WORD.findall(sentence[begin:match.start()])) >= CLAUSE_MIN_WORDS:
            pieces.append((begin, match.start()))
            begin = match.end()
    if pieces and len(_WORD.findall(sentence[begin:])) < CLAUSE_MIN_WORDS:
        begin = pieces.pop()[0]  # a short tail joins the clause before it
    pieces.append((begin, len(sentence.rstrip(" .;:,"))))
    if len(pieces) < 2:
        return []
    return [(start + a, start + b) for a, b in pieces if b > a]


def evidence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of ``text`` and, for long sentences, their clauses: the spans whose scores
    point at the words behind a tag. Sorted by start, then longest first."""
    return _spans(text)[1]


def _spans(text: str) -> tuple[int, list[tuple[int, int]]]:
    """The number of sentences of ``text`` and its :func:`evidence_spans`."""
    sentences = sentence_spans(text)
    spans = []
    for a, b in sentences:
        spans.append((a, b))
        spans.extend(clause_spans(text, a, b))
    return len(sentences), sorted(set(spans), key=lambda s: (s[0], -s[1]))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (spaCy sentencizer via :mod:`nlp.chunk`); whole text if none."""
    from nlp.chunk import split_sentences

    spans = split_sentences(text)
    if not spans:
        stripped = text.strip()
        start = text.find(stripped) if stripped else 0
        spans = [(start, start + len(stripped))]
    return spans


SEGMENT_MIN_WORDS = 4

# A text's segments: ``(vectors (k, d), texts)`` of its sentences and clauses, each embedded
# on its own; the whole text is not among them.
Segments = tuple[np.ndarray, list[str]]


@dataclass(frozen=True)
class SegmentRows:
    """Segments that are rows of the matrix being scored (evidence scores every sentence and
    clause anyway, so pooling reads their rows instead of scoring them twice): row
    ``rows[m]`` is a segment of the text in row ``owner[m]``."""

    owner: np.ndarray  # int64
    rows: np.ndarray  # int64


def segment_keep(text: str, spans: Sequence[tuple[int, int]]) -> list[int]:
    """Which of a text's spans are segments: not the whole text, at least
    :data:`SEGMENT_MIN_WORDS` words."""
    return [k for k, (a, b) in enumerate(spans) if not whole_text(text, (a, b))
            and len(text[a:b].split()) >= SEGMENT_MIN_WORDS]


def whole_text(text: str, span: tuple[int, int]) -> bool:
    """True when ``span`` covers all of ``text`` but surrounding blanks."""
    return text[span[0] : span[1]].strip() == text.strip()


def encode_with_segments(
    embedder: Any, texts: Sequence[str], batch_size: int = 32,
    encode: Any = None, encode_spans: Any = None,
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]], list[Segments]]:
    """Embed texts and their sentences and clauses (:func:`evidence_spans`).

    * A text of several sentences is encoded once: each sentence's and clause's vector is the
      mean of its tokens in that pass (``embedder.encode_spans``), so a passage costs one
      encoder pass, not two. On the gold passages this scored as well as embedding each span
      on its own (Action Lines 0.625 vs 0.614, SDGs 0.741 vs 0.722 micro-F1, decision rule
      cross-fitted by document; GDC layers do not pool).
    * A one-sentence text has its clauses embedded each on its own: pooled inside the
      sentence's own pass a clause mostly repeats the sentence (in the *Tag my text* example
      C2 scored 0.09 with its clauses pooled in context, 0.24 with them embedded alone).
      Such texts are short, so the second pass is cheap. Embedders without ``encode_spans``
      (the hashing embedder of the tests) embed every span on its own.

    The same vectors serve the evidence (every span) and the scores (segments of at least
    ``SEGMENT_MIN_WORDS`` words, see :meth:`nlp.tagging.taggers.Tagger.score_vectors`).

    Args:
        encode: ``encode(texts) -> vectors`` to use instead of ``embedder.encode`` (a cache)
            for what is embedded on its own.
        encode_spans: the same for ``embedder.encode_spans`` (used only when the embedder has
            it).

    Returns:
        ``(text vectors (n, d), [(spans, span vectors), ...], [segments, ...])``.
    """
    split = [_spans(t) for t in texts]
    spans_per_text = [spans for _, spans in split]
    in_context = getattr(embedder, "encode_spans", None)
    if callable(in_context) and encode_spans is not None:
        in_context = encode_spans
    pooled = {i for i, (n_sentences, _) in enumerate(split)
              if n_sentences > 1 and callable(in_context)}
    alone = [i for i in range(len(texts)) if i not in pooled]
    batch: list[str] = [texts[i] for i in alone]  # texts first, then their spans
    where: dict[int, list[int]] = {}
    for own_row, i in enumerate(alone):
        text, rows = texts[i], []
        for a, b in spans_per_text[i]:
            if whole_text(text, (a, b)):
                rows.append(own_row)
            else:
                rows.append(len(batch))
                batch.append(text[a:b])
        where[i] = rows
    run = encode or (lambda items: embedder.encode(items, batch_size=batch_size))
    flat = np.asarray(run(batch), dtype=np.float32) if batch else None
    dim = flat.shape[1] if flat is not None else int(embedder.dimension)
    vectors = np.zeros((len(texts), dim), np.float32)
    span_vectors: list[tuple[list[tuple[int, int]], np.ndarray]] = [
        ([], np.zeros((0, dim), np.float32))] * len(texts)
    for own_row, i in enumerate(alone):
        assert flat is not None
        vectors[i] = flat[own_row]
        span_vectors[i] = (spans_per_text[i], flat[where[i]])
    if pooled:
        order = sorted(pooled)
        text_vecs, span_vecs = in_context([texts[i] for i in order],
                                          [spans_per_text[i] for i in order], batch_size)
        for r, i in enumerate(order):
            vectors[i] = text_vecs[r]
            span_vectors[i] = (spans_per_text[i], span_vecs[r])
    segments: list[Segments] = []
    for text, (spans, vecs) in zip(texts, span_vectors):
        keep = segment_keep(text, spans)
        segments.append((vecs[keep].astype(np.float32),
                         [text[spans[k][0] : spans[k][1]] for k in keep]))
    return vectors, span_vectors, segments
