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
