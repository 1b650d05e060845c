"""The TF-IDF head computes exactly what scikit-learn's TfidfVectorizer computes (it no longer
imports scikit-learn at inference)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.tagging.scoring import LexicalHead, lexical_settings

TEXTS = ["Connect every school to the Internet; connect every hospital.",
         "Été, café, naïve résumé: e-health and e-learning services",
         "ﬁnance Ⅻ ＡＢＣ", "", "a b", "schools school SCHOOL school schools"] * 3


def test_lexical_rows_equal_scikit_learns() -> None:
    fitted = TfidfVectorizer(**lexical_settings()).fit(TEXTS[:5] + ["every school and hospital"])
    vocabulary = list(fitted.get_feature_names_out())
    rng = np.random.default_rng(0)
    head = LexicalHead(vocabulary, fitted.idf_.astype(np.float32),
                       rng.normal(size=(3, len(vocabulary))).astype(np.float32),
                       np.zeros(3, np.float32))
    reference = TfidfVectorizer(**lexical_settings(),
                                vocabulary={t: i for i, t in enumerate(vocabulary)})
    reference.idf_ = np.asarray(head.idf, dtype=np.float64)
    want = reference.transform(TEXTS)
    got = head.transform(TEXTS)
    assert got.dtype == np.float32
    assert np.array_equal(got.toarray(), want.toarray())
    assert np.array_equal(head.logits(TEXTS), np.asarray(want @ head.weights.T) + head.bias)


def test_row_sums_add_each_run_in_order_in_blocks() -> None:
    from nlp.tagging.scoring import _row_sums

    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 90, size=300)
    lengths[:3] = [0, 1, 250]  # an empty run, a one-row run, a long one
    values = (rng.normal(size=(int(lengths.sum()), 5))
              * 10.0 ** rng.integers(-4, 5, size=(int(lengths.sum()), 1))).astype(np.float32)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    want = np.zeros((len(lengths), 5), np.float32)
    for i in range(len(lengths)):
        if lengths[i]:
            want[i] = np.cumsum(values[starts[i]:starts[i + 1]], axis=0, dtype=np.float32)[-1]
    # a small budget forces many blocks; the default puts these runs in few
    for budget in (2_000, 1 << 22):
        got = _row_sums(values, lengths, budget)
        assert got.dtype == np.float32 and np.array_equal(got, want)
    ones = _row_sums(values[:, 0].astype(np.float64), lengths)
    assert ones.shape == (len(lengths), 1)
