"""Sentence and clause spans, and their vectors from one forward pass: the raw material of
evidence."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    spans = []
    for a, b in sentence_spans(text):
        spans.append((a, b))
        spans.extend(clause_spans(text, a, b))
    return sorted(set(spans), key=lambda s: (s[0], -s[1]))


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


def _whole(text: str, span: tuple[int, int]) -> bool:
    return text[span[0] : span[1]].strip() == text.strip()


def encode_with_segments(
    embedder: Any, texts: Sequence[str], batch_size: int = 32,
    encode: Any = None,
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]], list[Segments]]:
    """Embed texts and, each on its own, their sentences and clauses (:func:`evidence_spans`),
    in one encoder call.

    A clause embedded alone says what it is about; pooled from the whole text's tokens it
    mostly repeats the text (a commitment to connect schools read "e-science" in context,
    "infrastructure" alone). The same vectors serve the evidence (every span) and the
    scores (segments of at least ``SEGMENT_MIN_WORDS`` words, see
    :meth:`nlp.tagging.taggers.Tagger.score_vectors`).

    Args:
        encode: ``encode(texts) -> vectors`` to use instead of ``embedder.encode`` (a cache).

    Returns:
        ``(text vectors (n, d), [(spans, span vectors), ...], [segments, ...])``.
    """
    spans_per_text = [evidence_spans(t) for t in texts]
    batch: list[str] = list(texts)
    where: list[list[int]] = []
    for i, (text, spans) in enumerate(zip(texts, spans_per_text)):
        rows = []
        for a, b in spans:
            if _whole(text, (a, b)):
                rows.append(i)
            else:
                rows.append(len(batch))
                batch.append(text[a:b])
        where.append(rows)
    run = encode or (lambda items: embedder.encode(items, batch_size=batch_size))
    vectors = np.asarray(run(batch), dtype=np.float32) if batch else np.zeros((0, 1), np.float32)
    span_vectors = [(spans, vectors[rows]) for spans, rows in zip(spans_per_text, where)]
    segments: list[Segments] = []
    for text, spans, rows in zip(texts, spans_per_text, where):
        keep = [k for k, (a, b) in enumerate(spans) if rows[k] >= len(texts)
                and len(text[a:b].split()) >= SEGMENT_MIN_WORDS]
        segments.append((vectors[[rows[k] for k in keep]],
                         [text[spans[k][0] : spans[k][1]] for k in keep]))
    return vectors[: len(texts)], span_vectors, segments

