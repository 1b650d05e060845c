"""Evidence spans: sentences, and the clauses of long sentences, with exact offsets."""

from __future__ import annotations

import numpy as np

from nlp.tagging.evidence import clause_spans, evidence_spans
from nlp.tagging.taggers import _strongest_disjoint

LONG = ("We commit to connect every school and hospital to the Internet by 2030, to train "
        "teachers in digital skills, and to protect children online through national child "
        "online protection strategies. Short one.")


def test_long_sentence_yields_its_clauses_with_exact_offsets() -> None:
    spans = evidence_spans(LONG)
    texts = [LONG[a:b] for a, b in spans]
    assert texts[0].startswith("We commit") and texts[0].endswith("strategies.")
    assert "We commit to connect every school and hospital to the Internet by 2030" in texts
    assert "to train teachers in digital skills" in texts
    assert ("to protect children online through national child online protection strategies"
            in texts)
    assert "Short one." in texts
    for a, b in spans:
        assert LONG[a:b] == LONG[a:b].strip() and b > a


def test_short_sentences_and_single_clauses_are_not_split() -> None:
    text = "Universal connectivity, for all. It matters."
    assert clause_spans(text, 0, 32) == []
    assert evidence_spans(text) == [(0, 32), (33, 44)]


def test_a_short_tail_joins_the_clause_before_it() -> None:
    text = ("Member states will strengthen national cybersecurity capacity and response teams "
            "across all regions, notably CERTs.")
    clauses = [text[a:b] for a, b in clause_spans(text, 0, len(text))]
    assert clauses == [] or all(len(c.split()) >= 4 for c in clauses)


def test_strongest_disjoint_prefers_the_best_scoring_of_overlapping_spans() -> None:
    spans = [(0, 100), (0, 40), (42, 100), (101, 120)]
    # the clause (42, 100) beats its sentence: the sentence and its other clause overlap it
    scores = np.array([0.5, 0.2, 0.9, 0.4])
    assert _strongest_disjoint(spans, scores, 3) == [2, 3, 1]
    scores = np.array([0.9, 0.2, 0.5, 0.4])
    assert _strongest_disjoint(spans, scores, 3) == [0, 3]


def test_tag_evidence_cites_clauses_of_one_long_sentence(zero_shot_suite) -> None:
    result = zero_shot_suite.tag([LONG], explain=True)[0]
    cited = {(s.start, s.end) for tags in result.tags.values() for t in tags
             for s in t.sentences}
    assert cited, "no evidence at all"
    for a, b in cited:
        assert (a, b) in set(evidence_spans(LONG))
    assert any(b - a < 150 for a, b in cited), "only whole sentences are cited"


def test_pooling_layer_averages_text_and_best_segment_scores(zero_shot_suite, hash_embedder):
    import copy

    from nlp.tagging.evidence import encode_with_segments

    tagger = copy.deepcopy(zero_shot_suite.taggers["action-lines"])
    layer = tagger.layers["action_lines"]
    vectors, _, segments = encode_with_segments(hash_embedder, [LONG])
    seg_vectors, seg_texts = segments[0]
    assert seg_texts and all(len(s.split()) >= 4 for s in seg_texts)
    assert all(LONG.strip() != s for s in seg_texts)
    plain = tagger.layer_proba(layer, vectors, [LONG], segments)
    layer.pool = True
    pooled = tagger.layer_proba(layer, vectors, [LONG], segments)
    best = layer.proba(seg_vectors, seg_texts).max(axis=0)
    expected = (plain[0] + np.maximum(plain[0], best)) / 2
    assert np.allclose(pooled[0], expected)
    assert (pooled >= plain - 1e-12).all() and (pooled > plain).any()
    # a text without segments keeps its own score
    short = "Universal connectivity."
    v, _, s = encode_with_segments(hash_embedder, [short])
    assert s[0][1] == []
    assert np.allclose(tagger.layer_proba(layer, v, [short], s), layer.proba(v, [short]))


class _SpanCounting:
    """A hashing embedder with an ``encode_spans`` that records what it was given."""

    def __init__(self) -> None:
        from nlp.embed import HashEmbedder

        self.inner = HashEmbedder(64)
        self.name, self.dimension = self.inner.name, self.inner.dimension
        self.alone: list[str] = []
        self.in_context: list[str] = []

    def encode(self, texts, batch_size=32, show_progress=False):
        self.alone.extend(texts)
        return self.inner.encode(texts)

    def encode_spans(self, texts, spans, batch_size=32):
        self.in_context.extend(texts)
        return self.inner.encode(texts), [self.inner.encode([t[a:b] for a, b in s]) * 0.5
                                          for t, s in zip(texts, spans)]


def test_passages_are_encoded_once_and_one_sentence_texts_embed_their_clauses_alone() -> None:
    from nlp.tagging.evidence import encode_with_segments, evidence_spans

    passage = ("Governments should adopt national digital strategies. They should train "
               "teachers in digital skills, connect every school to the Internet, and protect "
               "children online through national strategies.")
    sentence = ("We commit to connect every school and hospital to the Internet by 2030, to "
                "train teachers in digital skills, and to protect children online")
    embedder = _SpanCounting()
    vectors, spans, segments = encode_with_segments(embedder, [passage, sentence])
    assert embedder.in_context == [passage]  # one pass for the passage, spans from it
    assert embedder.alone[0] == sentence and passage not in embedder.alone
    clauses = [sentence[a:b] for a, b in evidence_spans(sentence) if b - a < len(sentence)]
    assert len(clauses) >= 2 and embedder.alone[1:] == clauses
    # the passage's spans and segments are the in-context rows (marked by the 0.5 scale)
    assert spans[0][0] == evidence_spans(passage)
    np.testing.assert_allclose(np.linalg.norm(spans[0][1], axis=1), 0.5, atol=1e-5)
    assert len(segments[0][1]) >= 2 and all(s in passage for s in segments[0][1])
    np.testing.assert_allclose(vectors[1], embedder.inner.encode([sentence])[0], atol=1e-6)


def test_top_k_is_the_k_largest_largest_first_ties_to_the_lower_column() -> None:
    from nlp.tagging.scoring import top_k

    rng = np.random.default_rng(3)
    # wide enough for the grouped search (with and without a tail past the last group),
    # narrow ones for the plain partition, and k past the width
    for n, m, k in [(7, 5000, 15), (9, 9078, 15), (3, 3840, 15), (5, 100, 15), (4, 12, 15),
                    (6, 640, 3)]:
        # rounded values: many exact ties, also at the k-th place
        sims = np.round(rng.standard_normal((n, m)), 1).astype(np.float32)
        sims[:, m // 2] = sims[:, 1]  # duplicate examples
        want = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, m)]
        np.testing.assert_array_equal(top_k(sims, k), want)
    flat = np.full((3, 5000), 0.25, np.float32)  # every value tied: the lowest columns win
    np.testing.assert_array_equal(top_k(flat, 15), np.tile(np.arange(15), (3, 1)))


def test_evidence_pools_the_same_segments_as_scores_alone(zero_shot_suite) -> None:
    import copy

    suite = copy.deepcopy(zero_shot_suite)
    for tagger in suite.taggers.values():
        for layer in tagger.layers.values():
            layer.pool = True
    texts = [LONG, ("Universal connectivity for every school. Teachers need digital skills "
                    "to teach online. Children must be protected online."), "Cybersecurity."]
    plain = suite.tag(texts)
    explained = suite.tag(texts, explain=True)
    for a, b in zip(plain, explained):
        for key in a.tags:  # (the order of near-equal scores may differ in the last bits)
            mine = {t.label: t for t in b.tags[key]}
            assert [t.predicted for t in a.tags[key]] == [mine[t.label].predicted
                                                          for t in a.tags[key]]
            np.testing.assert_allclose([t.score for t in a.tags[key]],
                                       [mine[t.label].score for t in a.tags[key]], atol=1e-6)
    # pooling changed something, so the comparison above tested it
    unpooled = zero_shot_suite.tag(texts)
    assert any(abs(t.score - u.score) > 1e-6 for r, q in zip(plain, unpooled)
               for t, u in zip(r.tags["action_lines"], q.tags["action_lines"]))


def test_evidence_with_segments_of_other_spans_pools_those_segments(zero_shot_suite,
                                                                    hash_embedder) -> None:
    import copy

    from nlp.tagging.evidence import encode_with_segments

    tagger = copy.deepcopy(zero_shot_suite.taggers["action-lines"])
    tagger.layers["action_lines"].pool = True
    texts = [LONG]
    vectors, spans, _ = encode_with_segments(hash_embedder, texts)
    # segments that are not the text's own spans (another caller's split)
    other = ["connect every school", "train teachers in digital skills today"]
    foreign = [(hash_embedder.encode(other), other)]
    explained = tagger.build(texts, vectors, spans, segments=foreign)[0]
    labels, scores, _ = tagger.score_vectors(vectors, texts, foreign)["action_lines"]
    by_label = {t.label: t.score for t in explained.tags["action_lines"]}
    np.testing.assert_allclose([by_label[lab] for lab in labels], scores[0], atol=1e-6)
    plain = tagger.score_vectors(vectors, texts)["action_lines"][1]
    assert not np.allclose(plain, scores)  # the foreign segments were pooled
