"""The in-house BM25 (:mod:`nlp.lexical`) scores exactly as ``bm25s`` did: same tokens, same
float32 scores, same rankings, on the corpus passages and the reviewer queries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp.chunk import Chunker
from nlp.config import PROJECT_ROOT
from nlp.lexical import BM25, STOPWORDS_EN, tokenize
from nlp.load import load_paths
from tests.conftest import CORPUS

bm25s = pytest.importorskip("bm25s")

QUERIES = PROJECT_ROOT / "corpus" / "gold" / "search-queries.jsonl"
EXTRA_QUERIES = [
    "connect every school to the internet",
    "The the THE internet internet",  # stop words only count once removed; repeats count twice
    "ICT4D e-government, cyber-security & AI (2030)",
    "zzzz qqqq",  # no term in the corpus
    "a",  # no token at all
]


@pytest.fixture(scope="module")
def passages() -> list[str]:
    """The corpus passages as the index holds them (what Searcher gives BM25)."""
    report = load_paths([CORPUS])
    assert not report.errors
    chunker = Chunker()
    return [p.lexical_text for d in report.documents for p in chunker.chunk(d)]


def _queries() -> list[str]:
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["query"] for line in lines if line.strip()] + EXTRA_QUERIES


def _reference(texts: list[str]):
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False),
                    show_progress=False)
    return retriever


def _reference_scores(retriever, n: int, query: str) -> np.ndarray:
    tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
    if not tokens:
        return np.zeros(n, dtype=np.float32)
    return np.asarray(retriever.get_scores(tokens), dtype=np.float32)


def test_stop_words_and_tokens_are_bm25s_ones() -> None:
    from bm25s.stopwords import STOPWORDS_EN as REFERENCE

    assert STOPWORDS_EN == frozenset(REFERENCE)
    for query in _queries():
        expected = bm25s.tokenize([query], stopwords="en", return_ids=False,
                                  show_progress=False)[0]
        assert tokenize(query) == expected


def test_scores_and_rankings_equal_bm25s_on_the_corpus(passages: list[str]) -> None:
    assert len(passages) > 50
    ours, reference = BM25(passages), _reference(passages)
    for query in _queries():
        got = ours.scores(query)
        expected = _reference_scores(reference, len(passages), query)
        assert got.dtype == np.float32
        # The same float32 arithmetic in the same order (equal here; allow an ulp elsewhere).
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, err_msg=query)
        # Same order, ties broken the same way (as Searcher.lexical ranks).
        assert (np.argsort(-got, kind="stable") == np.argsort(-expected, kind="stable")).all()


def test_small_corpora_and_edge_cases() -> None:
    texts = ["", "the cat sat on the mat", "cat cat cat", "dogs and cats", "a an the"]
    ours, reference = BM25(texts), _reference(texts)
    for query in ["cat", "cat mat", "dogs", "mat mat cat", "bird", "the"]:
        np.testing.assert_array_equal(ours.scores(query),
                                      _reference_scores(reference, len(texts), query))
    empty = BM25([])
    assert len(empty) == 0 and empty.scores("cat").shape == (0,)
