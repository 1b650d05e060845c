"""Split documents into sentence-aligned passages with exact character offsets.

Sentences come from spaCy's rule-based ``sentencizer`` on a blank English pipeline (no model
download). Paragraph breaks (blank lines, list items) are hard sentence boundaries, except where
a blank line falls inside a sentence: text converted from PDF often breaks a paragraph at a page
end, and the next block then starts in lower case; those blocks are joined.

Passages are built greedily from whole sentences: a passage closes at the end of a paragraph once
it holds ``min_words``, and never grows past ``max_words`` unless a single sentence is longer
than that (a sentence is never split).
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

from nlp.types import Document, Passage

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LIST_ITEM = re.compile(r"\n(?=[ \t]*(?:[-*•▪◦–]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s))")
_WORD = re.compile(r"\S+")
_CLOSES_SENTENCE = re.compile(r"[.!?:;…)\]\"'”’]\s*$")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    paragraph_end: bool  # last sentence of its paragraph


def _import_spacy():
    """Import spaCy without letting thinc import torch.

    thinc imports torch whenever it is installed (~8 s and ~300 MiB), though the rule-based
    sentencizer never uses it. A ``None`` entry in ``sys.modules`` makes that import fail, which
    thinc treats as "no torch"; the entry is removed afterwards so torch stays importable.
    """
    if "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=1)
def _sentencizer():
    spacy = _import_spacy()  # imported lazily: ~1 s
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 5_000_000
    return nlp


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of paragraphs: blocks between blank lines, and list items.

    A block that starts with a lower-case letter continues the previous block (a page break in
    converted PDF text), unless the previous block plainly ended its sentence.
    """
    cuts: list[int] = [0]
    for match in _BLOCK_BREAK.finditer(text):
        cuts.append(match.end())
    for match in _LIST_ITEM.finditer(text):
        cuts.append(match.end())
    cuts = sorted(set(cuts)) + [len(text)]
    spans: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(cuts):
        start, end = _strip(text, a, b)
        if start >= end:
            continue
        if spans and text[start].islower() and not _CLOSES_SENTENCE.search(
            text[spans[-1][0] : spans[-1][1]]
        ):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` as character spans, in order, never crossing a paragraph."""
    paragraphs = paragraph_spans(text)
    nlp = _sentencizer()
    out: list[Sentence] = []
    docs = nlp.pipe(text[a:b] for a, b in paragraphs)
    for (p_start, _), doc in zip(paragraphs, docs):
        spans = []
        for sent in doc.sents:
            start, end = _strip(text, p_start + sent.start_char, p_start + sent.end_char)
            if start < end:
                spans.append((start, end))
        for i, (start, end) in enumerate(spans):
            out.append(Sentence(start, end, paragraph_end=i == len(spans) - 1))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``."""
    return [(s.start, s.end) for s in sentences(text)]


class Chunker:
    """Group whole sentences into passages of roughly ``min_words``–``max_words`` words.

    Args:
        min_words: a passage closes at a paragraph end once it has at least this many words.
        max_words: a passage never grows past this, unless one sentence alone is longer.
    """

    def __init__(self, min_words: int = 60, max_words: int = 200) -> None:
        if not 0 < min_words <= max_words:
            raise ValueError(
                f"Chunk sizes must satisfy 0 < min_words <= max_words, got {min_words!r}, {max_words!r}"
            )
        self.min_words = min_words
        self.max_words = max_words

    @property
    def settings(self) -> dict[str, int | str]:
        return {"method": "spacy-sentencizer", "min_words": self.min_words, "max_words": self.max_words}

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Passage spans for ``text``: each starts at a sentence start and ends at a sentence end."""
        groups: list[list[tuple[int, int, int]]] = []  # (start, end, words)
        current: list[tuple[int, int, int]] = []
        words = 0
        for sent in sentences(text):
            n = len(_WORD.findall(text[sent.start : sent.end]))
            if current and words + n > self.max_words:
                groups.append(current)
                current, words = [], 0
            current.append((sent.start, sent.end, n))
            words += n
            if sent.paragraph_end and words >= self.min_words:
                groups.append(current)
                current, words = [], 0
        if current:
            tail_words = sum(n for *_, n in current)
            # A short tail reads better as the end of the previous passage when it fits.
            if groups and tail_words < self.min_words and (
                sum(n for *_, n in groups[-1]) + tail_words <= self.max_words
            ):
                groups[-1].extend(current)
            else:
                groups.append(current)
        return [(g[0][0], g[-1][1]) for g in groups]

    def chunk(self, document: Document) -> list[Passage]:
        """Passages of ``document``; ``document.text[p.start:p.end] == p.text`` for each."""
        return [
            Passage(
                id=f"{document.id}-{i:04d}",
                doc_id=document.id,
                index=i,
                start=start,
                end=end,
                text=document.text[start:end],
            )
            for i, (start, end) in enumerate(self.spans(document.text))
        ]
