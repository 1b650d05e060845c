"""BM25 over the index's passages, in numpy: the scores of ``bm25s`` (its default Lucene
variant, tokenisation and English stop words) without importing it.

``bm25s`` pulls in scipy.sparse and, through scipy's array-API layer, most of numpy's
submodules: about 0.4 s of every ``wsis search`` and server start, for an index that is
rebuilt per process in a few milliseconds. This module reproduces its arithmetic step by step
(float32 weights computed the same way, summed per query token in query order), so scores
are equal and rankings identical; ``tests/nlp/test_lexical.py`` checks that against
``bm25s`` on the corpus passages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

# bm25s.tokenize's defaults: scikit-learn's CountVectorizer pattern on lower-cased text.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# bm25s's `stopwords="en"` (bm25s.stopwords.STOPWORDS_EN, Lucene's English stop set).
STOPWORDS_EN = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
))


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of two or more characters, English stop words removed, in
    text order (``bm25s.tokenize(text, stopwords="en")``)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS_EN]


class BM25:
    """Okapi BM25, Lucene variant: ``idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))``
    with ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``.

    Args:
        texts: the documents (passages), in row order.
        k1: term-frequency saturation.
        b: length normalisation.
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        rows: list[int] = []
        terms: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            lengths[row] = len(tokens)
            for token in tokens:
                rows.append(row)
                terms.append(vocab.setdefault(token, len(vocab)))
        self.vocab = vocab
        self.size = len(texts)
        # One entry per (term, passage) with its count, grouped by term (CSC order).
        pairs = np.unique(np.asarray(terms, dtype=np.int64) * max(self.size, 1)
                          + np.asarray(rows, dtype=np.int64), return_counts=True)
        keys, counts = pairs
        term_of = keys // max(self.size, 1)
        self._rows = (keys % max(self.size, 1)).astype(np.int64)
        self._starts = np.searchsorted(term_of, np.arange(len(vocab) + 1))
        df = np.diff(self._starts)
        # Python's math.log per term, then float32, as bm25s does (np.log may differ by an ulp).
        n = self.size
        idf = np.array([math.log(1 + (n - f + 0.5) / (f + 0.5)) for f in df.tolist()],
                       dtype=np.float32)
        average = lengths.mean() if n else 0.0
        tf = counts.astype(np.float32)
        # The same operations in the same order and dtypes as bm25s (float64 scalar algebra,
        # then the float32 term frequency), stored as float32.
        length = lengths[self._rows]
        tfc = tf / (k1 * ((1 - b) + b * length / average) + tf) if len(tf) else tf
        self._weights = (idf[term_of] * tfc).astype(np.float32)

    def __len__(self) -> int:
        return self.size

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (float32, 0 where no term matches); a
        query term repeated counts twice, as in bm25s."""
        scores = np.zeros(self.size, dtype=np.float32)
        for token in tokenize(query):
            term = self.vocab.get(token)
            if term is None:
                continue
            start, end = self._starts[term], self._starts[term + 1]
            # Each passage appears once per term, so a fancy-indexed add is exact.
            scores[self._rows[start:end]] += self._weights[start:end]
        return scores
