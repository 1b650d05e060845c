"""The passage tag table: indexed passages get the tags ``/v1/tag`` gives their text, from
sentence and clause vectors the index build cached in its own encoder pass."""

from __future__ import annotations

import numpy as np

from nlp.embed import HashEmbedder
from nlp.embed_cache import EmbeddingCache
from nlp.tagging.suite import TaggerSuite
from nlp.tagging.table import index_tag_table
from nlp.workspace import Workspace

DOCUMENT = """# Connecting schools

Governments commit to connecting every rural school and clinic to broadband by 2030.
Community networks and spectrum sharing will lower the cost of access for households.

We will train teachers in digital skills, protect children online through national child
online protection strategies, and publish open data on connectivity gaps every year.
"""


class SpanEmbedder:
    """A hashing embedder with an ``encode_spans`` that counts its passes; a span read in
    context gets a vector unlike the span embedded alone (its text's words mixed in)."""

    def __init__(self, dimension: int = 256) -> None:
        self.inner = HashEmbedder(dimension)
        self.name, self.dimension = self.inner.name, self.inner.dimension
        self.encoded: list[str] = []
        self.in_context: list[str] = []

    def encode(self, texts, batch_size=32, show_progress=False):
        self.encoded.extend(texts)
        return self.inner.encode(list(texts))

    def encode_spans(self, texts, spans, batch_size=32):
        self.in_context.extend(texts)
        return self.inner.encode(list(texts)), [
            self.inner.encode([f"{t[a:b]} {t[a:b]} {t}" for a, b in s]) for t, s in zip(texts, spans)]


def schools_index(settings, embedder=None):
    """A workspace with DOCUMENT ingested and indexed, and its index."""
    ws = Workspace(settings, embedder=embedder)
    ws.ingest_bytes(DOCUMENT.encode(), "schools.md")
    return ws, ws.index()


def pooling_suite(paths, embedder, taxonomy) -> TaggerSuite:
    suite = TaggerSuite.load(paths, embedder, taxonomy)
    for tagger in suite.taggers.values():
        for layer in tagger.layers.values():
            layer.pool = True
    return suite


def test_embedding_cache_keeps_span_vectors_read_in_context(tmp_path) -> None:
    embedder = SpanEmbedder(64)
    texts = ["Connect every school. Train every teacher.", "Protect children online."]
    spans = [[(0, 21), (22, 42)], []]
    cache = EmbeddingCache(tmp_path, embedder)
    vectors, span_vectors = cache.encode_spans(texts, spans)
    assert embedder.in_context == texts and len(span_vectors[0]) == 2
    assert span_vectors[1].shape == (0, 64)
    # a new cache on the same folder answers from disk: no encoder pass at all
    again = EmbeddingCache(tmp_path, embedder)
    vectors2, span_vectors2 = again.encode_spans(texts, spans)
    assert embedder.in_context == texts
    np.testing.assert_array_equal(vectors, vectors2)
    np.testing.assert_array_equal(span_vectors[0], span_vectors2[0])
    # the text vectors serve plain encode calls; a span alone is not its in-context vector
    np.testing.assert_array_equal(again.encode(texts), vectors)
    assert embedder.encoded == []
    alone = again.encode([texts[0][0:21]])
    assert embedder.encoded == [texts[0][0:21]]
    assert not np.allclose(alone[0], span_vectors[0][0])
    # another span of a cached text needs a pass
    again.encode_spans(texts[:1], [[(0, 21)], ])
    assert embedder.in_context == texts
    again.encode_spans(texts[:1], [[(6, 21)]])
    assert embedder.in_context == [*texts, texts[0]]


def test_indexed_passages_get_the_tags_tag_gives_their_text(
        settings, zero_shot_paths, plain_taxonomy) -> None:
    embedder = SpanEmbedder()
    _, index = schools_index(settings, embedder)
    texts = [p.embedding_text for p in index.passages]
    assert texts and any("#" in p.text for p in index.passages)  # markup removed for tagging
    # the index build read every passage of several sentences in one pass, spans included
    assert embedder.in_context and set(embedder.in_context) <= set(texts)
    suite = pooling_suite(zero_shot_paths, embedder, plain_taxonomy)
    passes = (len(embedder.encoded), len(embedder.in_context))
    table = index_tag_table(suite, index, settings.embedding_cache_dir)
    assert (len(embedder.encoded), len(embedder.in_context)) == passes  # nothing re-embedded
    tagged = suite.tag(texts)
    for row, tags in enumerate(tagged):
        for key, scores in table.keys.items():
            by_label = {t.label: t for t in tags.tags[key]}
            assert [by_label[lab].predicted for lab in scores.labels] == \
                scores.predicted[row].tolist(), key
            np.testing.assert_allclose([by_label[lab].score for lab in scores.labels],
                                       scores.scores[row], atol=1e-6)


def test_pooled_table_differs_from_scoring_passages_whole(
        settings, zero_shot_paths, plain_taxonomy) -> None:
    embedder = SpanEmbedder()
    _, index = schools_index(settings, embedder)
    whole = TaggerSuite.load(zero_shot_paths, embedder, plain_taxonomy)
    pooled = pooling_suite(zero_shot_paths, embedder, plain_taxonomy)
    plain_table = index_tag_table(whole, index, settings.embedding_cache_dir)
    pooled_table = index_tag_table(pooled, index, settings.embedding_cache_dir)
    a = plain_table.keys["action_lines"].scores
    b = pooled_table.keys["action_lines"].scores
    assert a.shape == b.shape and (b >= a - 1e-6).all() and (b > a + 1e-6).any()



def test_a_kept_table_is_read_back_only_for_the_same_passages_and_models(
        settings, zero_shot_paths, plain_taxonomy, monkeypatch) -> None:
    from nlp.tagging.table import PassageTagTable

    embedder = SpanEmbedder()
    ws, index = schools_index(settings, embedder)
    suite = pooling_suite(zero_shot_paths, embedder, plain_taxonomy)
    folder = settings.tag_table_dir
    first = index_tag_table(suite, index, settings.embedding_cache_dir, "m1", folder)
    assert (folder / "manifest.json").is_file()

    scored: list[int] = []
    real_score = PassageTagTable.score.__func__

    def counting(cls, *args, **kwargs):
        scored.append(1)
        return real_score(cls, *args, **kwargs)

    monkeypatch.setattr(PassageTagTable, "score", classmethod(counting))
    kept = index_tag_table(suite, index, settings.embedding_cache_dir, "m1", folder)
    assert scored == [] and kept.stamp == first.stamp
    for name, ks in first.keys.items():
        assert kept.keys[name].labels == ks.labels
        np.testing.assert_array_equal(kept.keys[name].scores, ks.scores)
        np.testing.assert_array_equal(kept.keys[name].predicted, ks.predicted)
    # other models (a changed manifest) or more passages: scored again, and kept anew
    other = pooling_suite(zero_shot_paths, embedder, plain_taxonomy)
    other.taggers["sdgs"].manifest = {**other.taggers["sdgs"].manifest, "created": "later"}
    index_tag_table(other, index, settings.embedding_cache_dir, "m2", folder)
    assert scored == [1]
    ws.ingest_bytes(b"Affordable broadband for every rural household by 2030.", "more.txt")
    bigger = index_tag_table(other, ws.index(), settings.embedding_cache_dir, "m2", folder)
    assert scored == [1, 1] and len(bigger.keys["sdgs"].scores) == len(ws.index())
    # a damaged table is scored again, not trusted
    (folder / "0-scores.npy").write_bytes(b"not an array")
    again = index_tag_table(other, ws.index(), settings.embedding_cache_dir, "m2", folder)
    assert scored == [1, 1, 1]
    np.testing.assert_array_equal(again.keys["sdgs"].scores, bigger.keys["sdgs"].scores)


def test_embedding_cache_hold_saves_once_at_the_end(tmp_path, monkeypatch) -> None:
    embedder = SpanEmbedder(64)
    cache = EmbeddingCache(tmp_path, embedder)
    saves: list[int] = []
    real_save = EmbeddingCache._save

    def counting(self):
        if not self._held:
            saves.append(len(self._vectors))
        real_save(self)

    monkeypatch.setattr(EmbeddingCache, "_save", counting)
    with cache.hold():
        cache.encode(["one text"])
        cache.encode_spans(["Two texts. Here."], [[(0, 10)]])
        assert saves == [] and not cache.dir.exists()
    assert saves == [3]
    reread = EmbeddingCache(tmp_path, embedder)
    np.testing.assert_array_equal(reread.encode(["one text"]), cache.encode(["one text"]))
    assert embedder.encoded == ["one text"]  # the second cache read it from disk


def test_keep_tag_table_scores_the_index_only_with_current_models(
        tmp_path, zero_shot_paths) -> None:
    import shutil

    from nlp.config import Settings
    from nlp.tagging.table import load_table, table_key, table_stamp

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models",
                        embedding_model="hash:256", data_dir=tmp_path / "no-data")
    ws, _ = schools_index(settings)
    assert ws.keep_tag_table() is False  # no models: the server trains, then scores
    assert not settings.tag_table_dir.exists()
    for scheme, path in zero_shot_paths.items():
        shutil.copytree(path, settings.models_dir / scheme / path.name)
    ws = Workspace(settings)
    assert ws.keep_tag_table() is True
    index, suite = ws.index(), ws.taggers()
    texts = [p.embedding_text for p in index.passages]
    key = table_key(suite, index.embedding_model, [p.id for p in index.passages], texts)
    kept = load_table(settings.tag_table_dir, key, table_stamp(index))
    assert kept is not None
    fresh = index_tag_table(suite, index, settings.embedding_cache_dir)
    for name, ks in fresh.keys.items():
        np.testing.assert_array_equal(kept.keys[name].predicted, ks.predicted)
        np.testing.assert_allclose(kept.keys[name].scores, ks.scores, atol=1e-6)
