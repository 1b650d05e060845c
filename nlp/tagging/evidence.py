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




def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def _token_pooled(
    embedder: Any, texts: Sequence[str], spans_per_text: list[list[tuple[int, int]]],
    batch_size: int,
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]]] | None:
    """Text and sentence vectors from ONE forward pass over the texts.

    A sentence's vector is the mean of the contextual token embeddings that fall inside its
    character span (tokens located with the fast tokenizer's offsets), the same pooling the
    model applies to a whole text. Sentences past the model's length limit are embedded in one
    extra call. Returns ``None`` when the embedder does not expose token embeddings.
    """
    model = getattr(embedder, "model", None)
    tokenizer = getattr(model, "tokenizer", None)
    if model is None or tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return None
    try:
        outputs = model.encode(list(texts), batch_size=batch_size, output_value=None,
                               convert_to_numpy=False)
    except TypeError:
        return None
    max_length = getattr(model, "max_seq_length", None) or 512
    text_vectors = _unit(np.stack([o["sentence_embedding"].float().numpy() for o in outputs]))
    result: list[tuple[list[tuple[int, int]], np.ndarray]] = []
    missing: list[tuple[int, int, str]] = []
    for i, (text, spans, out) in enumerate(zip(texts, spans_per_text, outputs)):
        if len(spans) <= 1:
            result.append((spans, text_vectors[i : i + 1]))
            continue
        enc = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=max_length)
        # outputs keep the batch padding: trim to the text's own tokens
        length = int(out["attention_mask"].sum()) if "attention_mask" in out else None
        ids = out["input_ids"].tolist()[:length]
        tokens = out["token_embeddings"].float().numpy()[:length]
        vectors = np.zeros((len(spans), tokens.shape[1]), np.float32)
        if enc["input_ids"] != ids:  # tokenisation differs: embed the sentences instead
            missing += [(i, k, text[a:b]) for k, (a, b) in enumerate(spans)]
        else:
            offsets = np.asarray(enc["offset_mapping"])
            real = offsets[:, 1] > offsets[:, 0]  # drops [CLS]/[SEP]
            for k, (a, b) in enumerate(spans):
                inside = real & (offsets[:, 0] >= a) & (offsets[:, 1] <= b)
                if inside.any():
                    vectors[k] = tokens[inside].mean(axis=0)
                else:
                    missing.append((i, k, text[a:b]))
        result.append((spans, vectors))
    if missing:
        extra = embedder.encode([t for _, _, t in missing], batch_size=batch_size)
        for (i, k, _), vector in zip(missing, extra):
            result[i][1][k] = vector
    return text_vectors, [(spans, _unit(v)) for spans, v in result]


def encode_with_sentences(
    embedder: Any, texts: Sequence[str], batch_size: int = 32
) -> tuple[np.ndarray, list[tuple[list[tuple[int, int]], np.ndarray]]]:
    """Embed texts and their sentences.

    With a sentence-transformers model, sentence vectors are pooled from the token embeddings
    of the same forward pass (so evidence costs about one encoding per text). Otherwise texts
    and sentences go through one encoder call; a single-sentence text reuses its own vector.

    Returns:
        ``(text_vectors (n, d), [(sentence spans, sentence vectors (k, d)), ...])``.
    """
    spans_per_text = [evidence_spans(t) for t in texts]
    pooled = _token_pooled(embedder, texts, spans_per_text, batch_size)
    if pooled is not None:
        return pooled
    batch: list[str] = list(texts)
    where: list[tuple[int, int] | None] = []
    for text, spans in zip(texts, spans_per_text):
        if len(spans) <= 1:
            where.append(None)
            continue
        where.append((len(batch), len(batch) + len(spans)))
        batch.extend(text[a:b] for a, b in spans)
    vectors = embedder.encode(batch, batch_size=batch_size)
    n = len(texts)
    sentence_vectors = []
    for i, (spans, loc) in enumerate(zip(spans_per_text, where)):
        sentence_vectors.append((spans, vectors[i : i + 1] if loc is None else vectors[loc[0] : loc[1]]))
    return vectors[:n], sentence_vectors


