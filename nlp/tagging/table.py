"""Tags of many passages at once: a score table row-aligned with an index, and document
summaries.

:class:`PassageTagTable` holds, per output key, the scores and decisions of every label for
every passage of an index, computed from vectors cached on disk (filled by the index build
in the same encoder pass when the taggers share the search encoder), so nothing is embedded
twice and an indexed passage gets the tags ``/v1/tag`` gives its text.
:func:`summarise_scores` is the one document summary: the API's document reports and
:func:`nlp.tagging.suite.tag_document` both call it. Scores reach JSON through
:func:`~nlp.tagging.types.json_score` and labels are listed in
:func:`~nlp.tagging.types.score_order`, like the ``wsis tag`` output.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np

from nlp.tagging.evidence import Segments
from nlp.tagging.types import json_score, score_order

if TYPE_CHECKING:
    from nlp.index import VectorIndex
    from nlp.tagging.taggers import Tagger
    from nlp.taxonomy import Taxonomy

TableStamp = tuple[int, int, str]  # (index version, passage count, models fingerprint)


class TagBrief(TypedDict):
    """A predicted label of one passage, as the API lists it."""

    label: str
    score: float


@dataclass(frozen=True)
class KeyScores:
    """Every label of one output key (``sdgs``, ``gdc_commitments``, ...) for ``n`` texts."""

    labels: tuple[str, ...]
    scores: np.ndarray  # (n, L) float32
    predicted: np.ndarray  # (n, L) bool

    @classmethod
    def of(cls, labels: Sequence[str], scores: np.ndarray, predicted: np.ndarray) -> KeyScores:
        return cls(tuple(labels), np.asarray(scores, dtype=np.float32),
                   np.asarray(predicted, dtype=bool))

    def rows(self, rows: Sequence[int] | np.ndarray) -> KeyScores:
        """The same labels for a subset of the texts."""
        picked = np.asarray(rows, dtype=np.int64)
        return KeyScores(self.labels, self.scores[picked], self.predicted[picked])


@dataclass(frozen=True)
class LabelSummary:
    """One label over a document's passages."""

    label: str
    title: str
    passages: int  # passages where the label is predicted
    share: float  # ``passages`` / all passages
    mean_score: float  # over all passages
    top_passages: tuple[tuple[str, float], ...]  # (passage id, score), strongest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "title": self.title,
            "passages": self.passages,
            "share": json_score(self.share),
            "mean_score": json_score(self.mean_score),
            "top_passages": [{"passage_id": pid, "score": json_score(score)}
                             for pid, score in self.top_passages],
        }


def summarise_scores(key: KeyScores, passage_ids: Sequence[str],
                     titles: Mapping[str, str] | None = None, top_k: int = 3,
                     every_label: bool = False) -> list[LabelSummary]:
    """Summarise one key over a document's passages (the rows of ``key``).

    Works on the score matrix directly, so a long document costs a few array operations.

    Args:
        key: scores and decisions, one row per passage of the document.
        passage_ids: the id of each row.
        titles: label id -> title (missing ids use the id).
        top_k: strongest passages kept per label.
        every_label: ``False`` (document reports): only the labels predicted in at least one
            passage, each with its strongest *predicted* passages. ``True``: every label, with
            its strongest passages whether predicted or not.

    Returns:
        Labels by the number of passages predicted, then mean score (both descending), then
        label id.
    """
    n = len(passage_ids)
    if n == 0:
        return []
    titles = titles or {}
    counts = key.predicted.sum(axis=0)
    means = key.scores.mean(axis=0)
    columns = range(len(key.labels)) if every_label else np.flatnonzero(counts)
    out = []
    for j in columns:
        label = key.labels[j]
        candidates = np.arange(n) if every_label else np.flatnonzero(key.predicted[:, j])
        best = candidates[np.argsort(-key.scores[candidates, j], kind="stable")][:top_k]
        out.append(LabelSummary(
            label, titles.get(label, label), int(counts[j]), float(counts[j]) / n,
            float(means[j]),
            tuple((passage_ids[b], float(key.scores[b, j])) for b in best)))
    out.sort(key=lambda s: (-s.passages, -s.mean_score, s.label))
    return out


def label_titles(taxonomy: Taxonomy) -> dict[str, str]:
    """Label id -> title over every scheme of ``taxonomy``."""
    return {lab.id: lab.title for labels in taxonomy.labels.values() for lab in labels}


@dataclass(frozen=True)
class PassageTagTable:
    """Scores of every label for every indexed passage, row-aligned with the index.

    ``stamp`` says which index version and models it was computed for.
    """

    stamp: TableStamp
    keys: dict[str, KeyScores]
    # brief() per (row, limit), made on first ask: the table never changes
    _briefs: dict[tuple[int, int], dict[str, list[TagBrief]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def score(cls, taggers: Iterable[Tagger], vectors: np.ndarray, texts: Sequence[str],
              stamp: TableStamp, segments: Sequence[Segments] | None = None
              ) -> PassageTagTable:
        """Score ``texts`` (embedded as ``vectors``, with their segments) with every tagger."""
        from nlp.tagging.taggers import score_together

        # The taggers read the text too (lexical features), not only the vector.
        scored = score_together(taggers, vectors, texts, segments)
        return cls(stamp, {key: KeyScores.of(labels, scores, predicted)
                           for key, (labels, scores, predicted) in scored.items()})

    def brief(self, row: int, limit: int = 20) -> dict[str, list[TagBrief]]:
        """Predicted labels of one passage per key, strongest first (at most ``limit``).

        Kept per row once made (the table never changes; every search result asks for its
        passage's tags): the returned lists are shared, read them only."""
        found = self._briefs.get((row, limit))
        if found is None:
            found = self._briefs[(row, limit)] = self._brief(row, limit)
        return found

    def _brief(self, row: int, limit: int) -> dict[str, list[TagBrief]]:
        out: dict[str, list[TagBrief]] = {}
        for name, key in self.keys.items():
            scores = key.scores[row]
            cols = sorted(np.flatnonzero(key.predicted[row]),
                          key=lambda c: score_order(key.labels[c], scores[c]))[:limit]
            out[name] = [TagBrief(label=key.labels[c], score=json_score(scores[c]))
                         for c in cols]
        return out

    def rows_with_any(self, wanted: Collection[str]) -> np.ndarray:
        """Rows where any of the ``wanted`` labels is predicted, under any key."""
        if not self.keys:
            return np.zeros(0, dtype=np.int64)
        n = next(iter(self.keys.values())).scores.shape[0]
        mask = np.zeros(n, dtype=bool)
        targets = set(wanted)
        for key in self.keys.values():
            cols = [j for j, lab in enumerate(key.labels) if lab in targets]
            if cols:
                mask |= key.predicted[:, cols].any(axis=1)
        return np.flatnonzero(mask).astype(np.int64)

    def known_labels(self) -> set[str]:
        return {lab for key in self.keys.values() for lab in key.labels}

    def summary(self, rows: Sequence[int], passage_ids: Sequence[str],
                titles: Mapping[str, str] | None = None,
                top_k: int = 3) -> dict[str, list[LabelSummary]]:
        """Per key, :func:`summarise_scores` over the passages at ``rows`` (ids
        ``passage_ids``): the labels predicted in at least one of them."""
        return {name: summarise_scores(key.rows(rows), passage_ids, titles, top_k)
                for name, key in self.keys.items()}


class _Suite(Protocol):
    """What :func:`index_tag_table` needs of a :class:`nlp.tagging.suite.TaggerSuite` (which
    imports this module)."""

    embedder: Any
    taggers: Mapping[str, Tagger]


def pools_segments(taggers: Iterable[Tagger]) -> bool:
    """Whether any layer of ``taggers`` scores a text's sentences and clauses too."""
    return any(layer.pool for tagger in taggers for layer in tagger.layers.values())


def passage_segments(embedder: Any, texts: Sequence[str], cache_dir: Path | None,
                     batch_size: int = 32, show_progress: bool = False,
                     ) -> tuple[np.ndarray, list[Segments]]:
    """Vectors of passages and of their sentences and clauses, as ``/v1/tag`` embeds them
    (:func:`~nlp.tagging.evidence.encode_with_segments`: one pass per passage of several
    sentences), kept in an :class:`~nlp.embed_cache.EmbeddingCache` in ``cache_dir`` so only
    passages not seen before reach the encoder. :meth:`nlp.workspace.Workspace.update_index`
    calls it for the passages it indexes when the taggers share the search encoder, so the
    index gets its vectors and the tag table its segments from the same pass.

    Returns:
        ``(passage vectors (n, d), segments of each passage)``.
    """
    from nlp.embed_cache import EmbeddingCache
    from nlp.tagging.evidence import encode_with_segments

    cache = EmbeddingCache(cache_dir, embedder)
    step = 256 if show_progress else max(1, len(texts))
    starts = range(0, len(texts), step)
    if show_progress and len(starts) > 1:
        from tqdm import tqdm

        starts = tqdm(starts, desc="encode passages", unit=f"{step} passages")
    vectors, segments = [], []
    with cache.hold():
        for start in starts:
            part = list(texts[start : start + step])
            part_vectors, _, part_segments = encode_with_segments(
                embedder, part, batch_size, encode=cache.encode,
                encode_spans=cache.encode_spans)
            vectors.append(part_vectors)
            segments += part_segments
    dim = int(embedder.dimension)
    return (np.vstack(vectors) if vectors else np.zeros((0, dim), np.float32)), segments


def index_tag_table(suite: _Suite, index: VectorIndex, cache_dir: Path | None,
                    models_key: str = "", table_dir: Path | None = None) -> PassageTagTable:
    """Score every passage of ``index`` with ``suite``, as ``/v1/tag`` scores its text.

    Each passage is scored on the text the index embeds (markup removed). When the taggers
    pool sentences and clauses (the shipped ones do), the segments' vectors come from
    :func:`passage_segments`, which the index build has usually filled already; otherwise the
    index's stored vectors serve when the taggers share its encoder, and a cache in
    ``cache_dir`` when they have their own.

    Args:
        models_key: identifies the loaded models; part of the table's stamp.
        table_dir: where the last table is kept (:func:`save_table`): it is read back when
            it was scored for these passages, texts and models, instead of scoring again.
    """
    texts = [p.embedding_text for p in index.passages]
    stamp = table_stamp(index, models_key)
    key = ""  # hashed only when a table is kept: it reads every passage text
    if table_dir is not None:
        key = table_key(suite, index.embedding_model, [p.id for p in index.passages], texts)
        kept = load_table(table_dir, key, stamp)
        if kept is not None:
            return kept
    segments = None
    if pools_segments(suite.taggers.values()):
        vectors, segments = passage_segments(suite.embedder, texts, cache_dir)
    elif suite.embedder.name == index.embedding_model:
        vectors = index.vectors
    else:
        from nlp.embed_cache import EmbeddingCache

        vectors = EmbeddingCache(cache_dir, suite.embedder).encode(texts)
    table = PassageTagTable.score(suite.taggers.values(), vectors, texts, stamp, segments)
    if table_dir is not None:
        save_table(table, key, table_dir)
    return table


# What a kept table's scores depend on besides the passages and the models' manifests: bump
# when the way passages are scored changes.
TABLE_FORMAT = 3  # 2: passages pooled over their sentences and clauses; 3: GDC sections
#                  follow linked Action Lines


def table_key(suite: _Suite, encoder: str, passage_ids: Sequence[str],
              texts: Sequence[str]) -> str:
    """SHA-256 over the table format, the taggers' manifests, the encoder and every passage
    id and text: a kept table with this key holds exactly what scoring would give."""
    digest = hashlib.sha256(f"{TABLE_FORMAT}\0{encoder}\0{suite.embedder.name}\0".encode())
    for scheme, tagger in sorted(suite.taggers.items()):
        digest.update(scheme.encode() + b"\0")
        digest.update(json.dumps(tagger.manifest, sort_keys=True, default=str).encode() + b"\0")
    for pid, text in zip(passage_ids, texts):
        digest.update(pid.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def save_table(table: PassageTagTable, key: str, folder: Path) -> None:
    """Write ``table`` to ``folder`` (replaced whole, :func:`nlp.fsutil.atomic_dir`): a
    manifest with ``key`` and the labels of every output key, and the arrays as ``.npy``."""
    from nlp.fsutil import atomic_dir

    with atomic_dir(folder) as tmp:
        for n, ks in enumerate(table.keys.values()):
            np.save(tmp / f"{n}-scores.npy", ks.scores, allow_pickle=False)
            np.save(tmp / f"{n}-predicted.npy", ks.predicted, allow_pickle=False)
        (tmp / "manifest.json").write_text(json.dumps({
            "format": TABLE_FORMAT, "key": key,
            "keys": [[name, list(ks.labels)] for name, ks in table.keys.items()]}))


def load_table(folder: Path, key: str, stamp: TableStamp) -> PassageTagTable | None:
    """The table kept in ``folder`` when it was saved under ``key`` (else ``None``: missing,
    another corpus or models, or unreadable)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("key") != key or manifest.get("format") != TABLE_FORMAT:
            return None
        keys = {}
        for n, (name, labels) in enumerate(manifest["keys"]):
            scores = np.load(folder / f"{n}-scores.npy", allow_pickle=False)
            predicted = np.load(folder / f"{n}-predicted.npy", allow_pickle=False)
            if scores.shape != predicted.shape or scores.shape != (stamp[1], len(labels)):
                return None
            keys[name] = KeyScores.of(labels, scores, predicted)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return PassageTagTable(stamp, keys)


def table_stamp(index: VectorIndex, models_key: str = "") -> TableStamp:
    """What a :class:`PassageTagTable` of ``index`` depends on."""
    return (index.version, len(index), models_key)
