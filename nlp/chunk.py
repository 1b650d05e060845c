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
# spaCy's Sentencizer.default_punct_chars, the characters after which it may start a sentence.
SENTENCE_PUNCT = (
    "!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367"
    "\u1368\u166e\u1735\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b"
    "\u1b5e\u1b5f\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\ua4ff"
    "\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f"
    "\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\U00010a56\U00010a57\U00011047"
    "\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143"
    "\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b"
    "\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca"
    "\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2"
    "\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c"
    "\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42"
    "\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88"
    "\uff61\u3002"
)
_SENTENCE_END = re.compile(f"[{re.escape(SENTENCE_PUNCT)}]")
_SENTENCE_ENDS = re.compile(f"[{re.escape(SENTENCE_PUNCT)}]+")


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


def _one_sentence(paragraph: str) -> bool:
    """True when spaCy's sentencizer cannot split ``paragraph`` (a stripped paragraph), so
    spaCy (~1.2 s to import) is not needed for it.

    The sentencizer starts a sentence only at a token that follows a token made of one of its
    punctuation characters and is neither punctuation nor one of those characters. When the
    paragraph's first such character begins a tail made of nothing else, every token from there
    on is punctuation (all of them are Unicode punctuation), and no token before it is one of
    them: no sentence can start after the first token. ``tests/nlp/test_chunk.py`` checks this
    against spaCy.
    """
    first = _SENTENCE_END.search(paragraph)
    return first is None or _SENTENCE_ENDS.fullmatch(paragraph, first.start()) is not None


def sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` as character spans, in order, never crossing a paragraph."""
    paragraphs = paragraph_spans(text)
    # Only paragraphs the sentencizer might split go through spaCy (all of them, in one pipe).
    split = [not _one_sentence(text[a:b]) for a, b in paragraphs]
    docs = (_sentencizer().pipe([text[a:b] for (a, b), s in zip(paragraphs, split) if s])
            if any(split) else iter(()))
    out: list[Sentence] = []
    for (p_start, p_end), needs_spacy in zip(paragraphs, split):
        if needs_spacy:
            spans = []
            for sent in next(docs).sents:
                start, end = _strip(text, p_start + sent.start_char, p_start + sent.end_char)
                if start < end:
                    spans.append((start, end))
        else:
            spans = [(p_start, p_end)]  # paragraph spans are stripped and never empty
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
