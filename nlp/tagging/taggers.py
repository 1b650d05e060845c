"""One tagger per label scheme over shared scoring layers; saved as directories (no pickle)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nlp.errors import ManifestMismatchError, ModelNotFoundError
from nlp.fsutil import atomic_dir
from nlp.tagging.evidence import SegmentRows, Segments, segment_keep, whole_text
from nlp.tagging.keywords import KeywordMatcher, action_line_references
from nlp.tagging.scoring import ScoringLayer, pool_scores
from nlp.tagging.types import ExampleEvidence, KeywordMatch, LabelScore, SentenceEvidence, TextTags
from nlp.taxonomy import ACTION_LINES, GDC, SDGS

FORMAT_VERSION = 1
Scores = tuple[list[str], np.ndarray, np.ndarray]  # labels, scores (n, L), predicted (n, L)
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
EXAMPLES = "examples.json"
KEYWORDS = "keywords.json"
LEXICON = "lexicon.json"


class Tagger:
    """Base class: scores every label of one scheme from text embeddings.

    Subclasses fix the scheme, the output keys and how hierarchical labels combine.
    ``snippets`` looks up the text of a third-party example by id (models keep only the ids;
    :func:`nlp.labelled.example_snippet` bound to a data directory); without it those
    examples are cited with an empty snippet.
    """

    scheme: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    # the tagger whose decisions this one follows (set by link(); the GDC tagger's Action Lines)
    linked: Tagger | None = None

    def __init__(
        self,
        layers: dict[str, ScoringLayer],
        embedding: dict[str, Any],
        manifest: dict[str, Any] | None = None,
        bank: np.ndarray | None = None,
        bank_meta: list[dict[str, str]] | None = None,
        keywords: dict[str, list[str]] | None = None,
        snippets: Callable[[str], str] | None = None,
    ) -> None:
        self.layers = layers
        self.snippets = snippets
        self.embedding = embedding  # {"name": ..., "dimension": ...}
        self.manifest = manifest or {}
        self.bank = bank if bank is not None else np.zeros((0, embedding["dimension"]), np.float16)
        self.bank_meta = bank_meta or []
        self._bank32 = np.asarray(self.bank, dtype=np.float32)  # once, not per call
        self.keywords = keywords or {}
        self._matcher = KeywordMatcher(self.keywords)
        self._name_ranks: dict[tuple[str, ...], np.ndarray] = {}  # see _name_rank
        self._snippets: dict[int, str] = {}  # bank row -> snippet, looked up once
        self._bank_rows: dict[str, np.ndarray] = {}
        labels = np.array([m["label"] for m in self.bank_meta])
        for label in set(labels.tolist()):
            self._bank_rows[label] = np.flatnonzero(labels == label)

    # --- scoring --------------------------------------------------------------------------
    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str],
        segments: Sequence[Segments] | SegmentRows | None = None,
        given: Mapping[str, Scores] | None = None,
    ) -> dict[str, Scores]:
        """``{key: (labels, scores (n, L), predicted (n, L) bool)}`` for embedded texts.

        ``given``: other taggers' results for these same rows (what :meth:`build` collects
        in its ``shared`` dict), so a tagger that follows another's decisions (GDC sections
        follow some Action Lines) need not score that scheme again."""
        raise NotImplementedError

    @staticmethod
    def layer_proba(layer: ScoringLayer, vectors: np.ndarray, texts: Sequence[str],
                    segments: Sequence[Segments] | SegmentRows | None = None) -> np.ndarray:
        """The layer's calibrated scores; a pooling layer (``layer.pool``) mixes each text's
        score with the best of its segments' scores (:func:`pool_scores`, weight
        ``layer.pool_weight``), so a passage that serves one line in one clause and another
        line in the next scores well on both."""
        proba = layer.proba(vectors, texts)
        if not layer.pool or segments is None or not len(proba):
            return proba
        if isinstance(segments, SegmentRows):
            owner = segments.owner
            if not len(owner):
                return proba
            seg_proba = proba[segments.rows]
        else:
            if not segments:
                return proba
            owner = np.concatenate([np.full(len(seg_texts), i) for i, (_, seg_texts)
                                    in enumerate(segments)]).astype(np.int64)
            if not len(owner):
                return proba
            seg_vectors = np.vstack([v for v, seg_texts in segments if len(seg_texts)])
            seg_proba = layer.proba(seg_vectors,
                                    [s for _, seg_texts in segments for s in seg_texts])
        return pool_scores(proba, seg_proba, owner, layer.pool_weight)

    def link(self, taggers: Mapping[str, Tagger]) -> None:
        """Let this tagger read the other schemes' taggers (``{scheme: tagger}``, itself
        included) when its decisions depend on them; the base class needs none."""

    def labels(self) -> dict[str, list[str]]:
        """Every label id under every output key."""
        return {key: labs for key, (labs, _, _) in self.score_vectors(
            np.zeros((1, self.embedding["dimension"]), np.float32), ["x"]).items()}

    def thresholds(self, key: str) -> dict[str, float]:
        """Decision threshold of every label under ``key``."""
        raise NotImplementedError

    def check_embedder(self, embedder: Any) -> None:
        """Raise :class:`ManifestMismatchError` if ``embedder`` differs from the training one."""
        want = (self.embedding["name"], int(self.embedding["dimension"]))
        have = (embedder.name, int(embedder.dimension))
        if want != have:
            raise ManifestMismatchError(
                f"{self.scheme} tagger was trained with embedding model {want[0]!r} "
                f"(dimension {want[1]}) but the configured embedder is {have[0]!r} "
                f"(dimension {have[1]})"
            )

    def predict(self, texts: Sequence[str], embedder: Any) -> list[TextTags]:
        """Scores only (one encoder call for all texts, no evidence)."""
        self.check_embedder(embedder)
        vectors = embedder.encode(list(texts))
        return self.build(texts, vectors)

    def build(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        sentence_vectors: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None,
        max_sentences: int = 3,
        max_examples: int = 3,
        segments: Sequence[Segments] | None = None,
        shared: dict[str, Scores] | None = None,
    ) -> list[TextTags]:
        """Turn embeddings into :class:`TextTags`; add evidence when sentence vectors are given.

        ``segments`` (sentences and clauses embedded on their own) feed the layers that pool
        them into the text's scores (see :meth:`layer_proba`). ``shared``: one dict passed
        to the builds of several taggers over the same arguments; each adds its raw results
        and reads the others' (``given`` of :meth:`score_vectors`)."""
        n = len(texts)
        sentence_scores: list[dict[str, tuple[list[str], np.ndarray, np.ndarray]]] = []
        if sentence_vectors is None:
            scored = self.score_vectors(vectors, texts, segments, shared)
            if shared is not None:
                shared.update(scored)
        else:
            # the texts and every sentence and clause of every text in one scoring call (one
            # pass over each example bank), then split. Spans have no segments of their own,
            # so a span that is the whole text of a text without segments (a one-sentence
            # text) takes the text's own row instead of a second one.
            span_rows: list[list[int]] = []
            span_texts: list[str] = []
            extra: list[np.ndarray] = []
            for i, (text, (spans, span_vecs)) in enumerate(zip(texts, sentence_vectors)):
                plain = segments is None or not len(segments[i][1])
                own = []
                for k, (a, b) in enumerate(spans):
                    if plain and whole_text(text, (a, b)):
                        own.append(i)
                    else:
                        own.append(n + len(span_texts))
                        span_texts.append(text[a:b])
                        extra.append(span_vecs[k])
                span_rows.append(own)
            rows = np.vstack([vectors, *extra]) if extra else vectors
            scored_all = self.score_vectors(rows, [*texts, *span_texts],
                                            _segment_rows(texts, sentence_vectors, span_rows,
                                                          segments, rows.shape), shared)
            if shared is not None:
                shared.update(scored_all)
            scored = {key: (labs, sc[:n], pr[:n]) for key, (labs, sc, pr) in scored_all.items()}
            sentence_scores = [
                {key: (labs, sc[own], pr[own]) for key, (labs, sc, pr) in scored_all.items()}
                for own in span_rows
            ]
        bank = self._bank32 if len(self.bank) and sentence_vectors else None
        per_key = {}
        for key, (labels, scores, predicted) in scored.items():
            by_label = self.thresholds(key)
            thresholds = np.array([by_label.get(lab, 0.5) for lab in labels])
            name_rank = self._name_rank(labels)
            # rows sorted by score descending, ties by label id
            orders = [np.lexsort((name_rank, -scores[i])) for i in range(len(texts))]
            per_key[key] = (labels, scores, predicted, thresholds, orders)
        results: list[TextTags] = []
        for i, text in enumerate(texts):
            keyword_hits = self.keyword_evidence(text) if sentence_vectors is not None else {}
            bank_sims = bank @ vectors[i] if bank is not None else None
            tags: dict[str, list[LabelScore]] = {}
            for key, (labels, scores, predicted, thresholds, orders) in per_key.items():
                row: list[LabelScore] = []
                needed = self._needed(key, labels, scores[i], thresholds).tolist()
                score_row, pred_row = scores[i].tolist(), predicted[i].tolist()
                for rank, j in enumerate(orders[i].tolist()):
                    label = labels[j]
                    # evidence for predicted labels, and for the top label of every key
                    if sentence_vectors is None or not (pred_row[j] or rank == 0):
                        row.append(LabelScore(label, float(score_row[j]), bool(pred_row[j]),
                                              float(needed[j])))
                        continue
                    spans, _ = sentence_vectors[i]
                    col = sentence_scores[i][key][1][:, j]
                    sentences = tuple(
                        SentenceEvidence(spans[k][0], spans[k][1],
                                         text[spans[k][0] : spans[k][1]], float(col[k]))
                        for k in _strongest_disjoint(spans, col, max_sentences)
                    )
                    row.append(
                        LabelScore(label, float(score_row[j]), bool(pred_row[j]),
                                   float(needed[j]), sentences,
                                   self._nearest_examples(label, bank_sims, max_examples),
                                   tuple(keyword_hits.get(label, ())))
                    )
                tags[key] = row
            results.append(TextTags(text, tags))
        if sentence_vectors is not None and shared is not None:
            self._name_followed(results, shared)
        return results

    def _name_followed(self, results: list[TextTags], shared: Mapping[str, Scores]) -> None:
        """With evidence: mark labels that follow another tagger's decisions (``shared``
        holds its scores of this pass); the base class follows none."""

    def _name_rank(self, labels: Sequence[str]) -> np.ndarray:
        """Each label's rank by id (the tie-break of :func:`score_order`), cached per list."""
        key = tuple(labels)
        if key not in self._name_ranks:
            self._name_ranks[key] = np.argsort(np.argsort(np.array(labels, dtype=object)))
        return self._name_ranks[key]

    def _needed(self, key: str, labels: Sequence[str], scores: np.ndarray,
                thresholds: np.ndarray) -> np.ndarray:
        """The score each label needed in this text: its threshold, lowered to the floor for
        the top label and raised above the cap-th score for labels ranked past the cap, so
        that ``predicted == (score >= threshold)`` holds for a layer's own decisions."""
        layer = self.layers.get(key)
        needed = np.asarray(thresholds, dtype=np.float64).copy()
        if layer is None or not len(scores):
            return needed
        own_labels = set(layer.labels)
        own = np.array([j for j, lab in enumerate(labels) if lab in own_labels], dtype=np.int64)
        if not len(own):
            return needed
        order = own[np.argsort(-np.asarray(scores, dtype=np.float64)[own], kind="stable")]
        if layer.floor > 0:
            needed[order[0]] = min(needed[order[0]], layer.floor)
        if layer.cap and len(order) > layer.cap:
            bar = float(np.nextafter(scores[order[layer.cap - 1]], np.inf))
            for j in order[layer.cap:]:
                needed[j] = max(needed[j], bar)
        return needed

    def keyword_evidence(self, text: str) -> dict[str, list[KeywordMatch]]:
        """Taxonomy keywords found in ``text``, per label."""
        return self._matcher.find(text)

    def _nearest_examples(
        self, label: str, sims: np.ndarray | None, k: int
    ) -> tuple[ExampleEvidence, ...]:
        rows = self._bank_rows.get(label)
        if sims is None or rows is None or len(rows) == 0:
            return ()
        best = rows[np.argsort(-sims[rows])[:k]]
        return tuple(
            ExampleEvidence(self.bank_meta[r]["id"], label, self.bank_meta[r]["source"],
                            self.bank_meta[r]["snippet"] or self._example_snippet(r),
                            float(sims[r]))
            for r in best
        )

    def _example_snippet(self, row: int) -> str:
        """Third-party example texts are not stored in models: ask the injected lookup (once
        per example)."""
        found = self._snippets.get(row)
        if found is None:
            found = self.snippets(self.bank_meta[row]["id"]) if self.snippets is not None else ""
            self._snippets[row] = found
        return found

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: Path, extra_manifest: dict[str, Any] | None = None) -> Path:
        """Write the tagger to ``path`` atomically (temp dir, fsync, rename)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for name, layer in self.layers.items():
            arrays.update(layer.arrays(name))
        arrays["bank.embeddings"] = self.bank.astype(np.float16)
        manifest = {
            **self.manifest,
            **(extra_manifest or {}),
            "format_version": FORMAT_VERSION,
            "kind": "tagger",
            "scheme": self.scheme,
            "tagger_class": type(self).__name__,
            "embedding": {"name": self.embedding["name"],
                          "dimension": int(self.embedding["dimension"])},
            "layers": {name: layer.config() for name, layer in self.layers.items()},
        }
        manifest.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        extra = {name: layer.extra_files() for name, layer in self.layers.items()}
        with atomic_dir(path) as tmp:
            np.savez_compressed(tmp / WEIGHTS, **arrays)
            (tmp / EXAMPLES).write_text(json.dumps(self.bank_meta, ensure_ascii=False, indent=0))
            (tmp / KEYWORDS).write_text(json.dumps(self.keywords, ensure_ascii=False, indent=0))
            (tmp / LEXICON).write_text(json.dumps({k: v for k, v in extra.items() if v},
                                                  ensure_ascii=False))
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            readme = manifest.get("model_card")
            if readme:
                (tmp / "README.md").write_text(readme)
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: Path, embedder: Any | None = None,
             snippets: Callable[[str], str] | None = None) -> Tagger:
        """Load a saved tagger; with ``embedder``, check it matches the manifest.

        Raises:
            ModelNotFoundError: no manifest at ``path``.
            ManifestMismatchError: wrong scheme or embedding model.
        """
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise ModelNotFoundError(f"No tagger manifest at {str(path)!r}")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION or manifest.get("kind") != "tagger":
            raise ManifestMismatchError(
                f"{str(path)!r} holds format {manifest.get('format_version')!r} of kind "
                f"{manifest.get('kind')!r}; this library reads tagger format {FORMAT_VERSION}"
            )
        target_cls = _TAGGER_CLASSES.get(manifest.get("scheme", ""))
        if target_cls is None:
            raise ManifestMismatchError(f"Unknown tagger scheme {manifest.get('scheme')!r}")
        if cls is not Tagger and target_cls is not cls:
            raise ManifestMismatchError(
                f"{str(path)!r} holds a {manifest['scheme']!r} tagger, not {cls.scheme!r}"
            )
        extra = json.loads((path / LEXICON).read_text()) if (path / LEXICON).exists() else {}
        with np.load(path / WEIGHTS, allow_pickle=False) as arrays:
            layers = {
                name: ScoringLayer.from_saved(config, arrays, name, extra.get(name))
                for name, config in manifest["layers"].items()
            }
            bank = np.asarray(arrays["bank.embeddings"])
        bank_meta = json.loads((path / EXAMPLES).read_text()) if (path / EXAMPLES).exists() else []
        keywords = json.loads((path / KEYWORDS).read_text()) if (path / KEYWORDS).exists() else {}
        tagger = target_cls(layers, manifest["embedding"], manifest, bank, bank_meta, keywords,
                            snippets)
        if embedder is not None:
            tagger.check_embedder(embedder)
        return tagger


def _strongest_disjoint(spans: Sequence[tuple[int, int]], scores: np.ndarray,
                        limit: int) -> list[int]:
    """Indices of the best-scoring spans that do not overlap a better one: a clause that
    scores above its sentence is cited instead of it, and the other way round."""
    chosen: list[int] = []
    for k in np.argsort(-scores, kind="stable"):
        a, b = spans[k]
        if all(b <= spans[c][0] or a >= spans[c][1] for c in chosen):
            chosen.append(int(k))
            if len(chosen) == limit:
                break
    return chosen


def _segment_rows(
    texts: Sequence[str], sentence_vectors: list[tuple[list[tuple[int, int]], np.ndarray]],
    span_rows: list[list[int]], segments: Sequence[Segments] | None, shape: tuple[int, ...],
) -> SegmentRows | list[Segments] | None:
    """The texts' segments as rows of the evidence matrix of ``shape`` (text rows, then span
    rows): each segment is one of its text's spans, already a row. Segments that are not the
    texts' spans (another caller's) are passed on as vectors, with none for the span rows."""
    if segments is None:
        return None
    owner: list[int] = []
    rows: list[int] = []
    for i, (text, (spans, _)) in enumerate(zip(texts, sentence_vectors)):
        keep = segment_keep(text, spans)
        if [text[spans[k][0] : spans[k][1]] for k in keep] != list(segments[i][1]):
            empty: Segments = (np.zeros((0, shape[1]), np.float32), [])
            return [*segments, *[empty] * (shape[0] - len(texts))]
        owner += [i] * len(keep)
        rows += [span_rows[i][k] for k in keep]
    return SegmentRows(np.asarray(owner, np.int64), np.asarray(rows, np.int64))


def scoring_order(taggers: Iterable[Tagger]) -> list[Tagger]:
    """``taggers`` with those that follow another's decisions (a linked GDC tagger) last, so
    one ``shared`` dict (:meth:`Tagger.build`) hands them the scores they follow."""
    return sorted(taggers, key=lambda t: t.linked is not None)


def score_together(
    taggers: Iterable[Tagger], vectors: np.ndarray, texts: Sequence[str],
    segments: Sequence[Segments] | SegmentRows | None = None,
) -> dict[str, Scores]:
    """:meth:`Tagger.score_vectors` of every tagger over the same rows, merged by output key;
    a tagger that follows another reads that one's scores instead of scoring them again."""
    shared: dict[str, Scores] = {}
    for tagger in scoring_order(taggers):
        shared.update(tagger.score_vectors(vectors, texts, segments, shared))
    return shared


def _hierarchy_max(
    parent_labels: list[str],
    parent_scores: np.ndarray,
    parent_pred: np.ndarray,
    child_labels: list[str],
    child_scores: np.ndarray,
    child_pred: np.ndarray,
    parent_of: dict[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """A parent scores at least as high as its best child and is predicted if any child is."""
    return _raise_to(parent_labels, parent_scores, parent_pred, child_labels, child_scores,
                     child_pred, parent_of.items())


def _raise_to(
    target_labels: list[str],
    target_scores: np.ndarray,
    target_pred: np.ndarray,
    source_labels: list[str],
    source_scores: np.ndarray,
    source_pred: np.ndarray,
    links: Iterable[tuple[str, str]],
) -> tuple[np.ndarray, np.ndarray]:
    """Each target label linked from a source label (``links``: ``(source, target)`` pairs)
    scores at least as high as its best source and is predicted if any source is. Returns
    new arrays."""
    index = {lab: j for j, lab in enumerate(target_labels)}
    column = {lab: c for c, lab in enumerate(source_labels)}
    pairs = [(column[src], index[dst]) for src, dst in links
             if src in column and dst in index]
    if not pairs:
        return target_scores.copy(), target_pred.copy()
    kids, parents = (np.array(x, dtype=np.int64) for x in zip(*pairs))
    # columns of the transposed copies: one unbuffered max / or per (source, target) pair
    best, any_pred = target_scores.T.copy(), target_pred.T.copy()
    np.maximum.at(best, parents, source_scores.T[kids])
    np.logical_or.at(any_pred, parents, source_pred.T[kids])
    return best.T.copy(), any_pred.T.copy()


class ActionLineTagger(Tagger):
    """WSIS Action Lines C1-C11; C7 scores as the best of its eight sub-lines.

    A text that names an Action Line by code ("Action Line C5", "(C2)") gets that label
    predicted, with its score raised to at least halfway between its threshold and 1.
    """

    scheme = ACTION_LINES
    keys = ("action_lines",)
    PARENT = "C7"

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str],
        segments: Sequence[Segments] | SegmentRows | None = None,
        given: Mapping[str, Scores] | None = None,
    ) -> dict[str, Scores]:
        layer = self.layers["action_lines"]
        proba = self.layer_proba(layer, vectors, texts, segments)
        pred = layer.decide(proba)
        column = {lab: j for j, lab in enumerate(layer.labels)}
        for i, text in enumerate(texts):
            for label, _, _ in action_line_references(text):
                j = column.get(label)
                if j is not None:
                    floor = (1.0 + layer.thresholds[j]) / 2
                    proba[i, j] = max(proba[i, j], floor)
                    pred[i, j] = True
        labels = list(layer.labels)
        children = [j for j, lab in enumerate(labels) if lab.startswith(self.PARENT + ".")]
        if children and self.PARENT not in labels:
            labels.append(self.PARENT)
            proba = np.hstack([proba, proba[:, children].max(axis=1, keepdims=True)])
            pred = np.hstack([pred, pred[:, children].any(axis=1, keepdims=True)])
        return {"action_lines": (labels, proba, pred)}

    def keyword_evidence(self, text: str) -> dict[str, list[KeywordMatch]]:
        hits = super().keyword_evidence(text)
        for label, start, end in action_line_references(text):
            hits.setdefault(label, []).append(KeywordMatch(text[start:end], start, end))
        return hits

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers["action_lines"]
        out = dict(zip(layer.labels, map(float, layer.thresholds)))
        children = [out[lab] for lab in out if lab.startswith(self.PARENT + ".")]
        if children:
            out.setdefault(self.PARENT, float(min(children)))
        return out


class SdgTagger(Tagger):
    """SDG goals ``"1"``-``"17"`` and targets ``"1.1"``-``"17.19"``.

    A target is predicted only when its own score passes its threshold and its goal is
    predicted, which keeps target tags inside the goals the text plainly serves.

    Unlike GDC sections, goals do not follow the Action Lines. Linking each line to the goal
    on its own subject (C2 -> 9, C4 and C7 e-learning -> 4, C7 e-health -> 3, ...) was
    measured and dropped: on 2,186 SDG-labelled texts of nine other sources, a goal so linked was
    right 27 % of the times the line fired for C2 -> 9 and 38-74 % for the others, and the
    gold passages' SDG micro-F1 did not move (0.744 -> 0.743, rules cross-fitted).
    """

    scheme = SDGS
    keys = ("sdgs", "sdg_targets")

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str],
        segments: Sequence[Segments] | SegmentRows | None = None,
        given: Mapping[str, Scores] | None = None,
    ) -> dict[str, Scores]:
        goals = self.layers["sdgs"]
        g_proba = self.layer_proba(goals, vectors, texts, segments)
        g_pred = goals.decide(g_proba)
        out = {"sdgs": (list(goals.labels), g_proba, g_pred)}
        targets = self.layers.get("sdg_targets")
        if targets is not None and targets.labels:
            t_proba = self.layer_proba(targets, vectors, texts, segments)
            goal_col = {lab: j for j, lab in enumerate(goals.labels)}
            parents = np.array([goal_col[t.split(".")[0]] for t in targets.labels])
            t_pred = targets.decide(t_proba) & g_pred[:, parents]
            out["sdg_targets"] = (list(targets.labels), t_proba, t_pred)
        else:
            empty = np.zeros((vectors.shape[0], 0))
            out["sdg_targets"] = ([], empty, empty.astype(bool))
        return out

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers.get(key)
        if layer is None:
            return {}
        return dict(zip(layer.labels, map(float, layer.thresholds)))


class GdcTagger(Tagger):
    """Global Digital Compact objectives, sections, commitments and cross-cutting principles.

    Commitments carry the decisions: a section is predicted when one of its commitments is,
    an objective when one of its sections is, and each scores at least as high as its best
    child. Principles are a separate level (a passage can invoke one under any objective).

    A section can also follow an Action Line on the same subject (the manifest's
    ``action_line_links``, from ``gdc_sections`` in ``action-lines.yaml``): once
    :meth:`link` has the Action Line tagger, a section is predicted too when a linked line is
    predicted, and scores at least as high as that line. A passage on universal broadband
    that matches no single commitment's wording is then still tagged GDC-1.1 Connectivity.
    Without an Action Line tagger the links are unused.
    """

    scheme = GDC
    keys = ("gdc", "gdc_sections", "gdc_commitments", "gdc_principles")

    @property
    def action_line_links(self) -> list[tuple[str, str]]:
        """``(action line, GDC section)`` pairs recorded at training time."""
        links = self.manifest.get("action_line_links") or {}
        return [(line, section) for section, lines in sorted(links.items()) for line in lines]

    def link(self, taggers: Mapping[str, Tagger]) -> None:
        lines = taggers.get(ACTION_LINES)
        self.linked = lines if lines is not None and self.action_line_links else None

    def _name_followed(self, results: list[TextTags], shared: Mapping[str, Scores]) -> None:
        """Each section or objective that follows a predicted Action Line names it
        (``LabelScore.follows``)."""
        lines = shared.get("action_lines")
        if self.linked is None or lines is None or len(lines[2]) < len(results):
            return
        labels, _, predicted = lines
        column = {lab: j for j, lab in enumerate(labels)}
        parent_of: dict[str, str] = self.manifest.get("parents", {})
        links = [(line, section) for line, section in self.action_line_links if line in column]
        for i, result in enumerate(results):
            on = [(line, section) for line, section in links if predicted[i, column[line]]]
            if not on:
                continue
            follows: dict[str, list[str]] = {}
            for line, section in on:
                for label in (section, parent_of.get(section)):  # the section, its objective
                    if label:
                        follows.setdefault(label, []).append(line)
            for key in ("gdc_sections", "gdc"):
                for tag in result.tags.get(key, ()):
                    if tag.label in follows:
                        tag.follows = tuple(dict.fromkeys(follows[tag.label]))

    def score_vectors(
        self, vectors: np.ndarray, texts: Sequence[str],
        segments: Sequence[Segments] | SegmentRows | None = None,
        given: Mapping[str, Scores] | None = None,
    ) -> dict[str, Scores]:
        obj, sec, com = (self.layers[k] for k in self.keys[:3])
        parent_of: dict[str, str] = self.manifest.get("parents", {})
        o_p, s_p, c_p = (self.layer_proba(layer, vectors, texts, segments)
                         for layer in (obj, sec, com))
        c_y = com.decide(c_p)
        s_p, s_y = _hierarchy_max(sec.labels, s_p, np.zeros_like(s_p, bool), com.labels, c_p,
                                  c_y, parent_of)
        if self.linked is not None and len(vectors):
            lines = (given or {}).get("action_lines")
            if lines is None or len(lines[1]) != len(vectors):
                lines = self.linked.score_vectors(vectors, texts, segments)["action_lines"]
            a_labels, a_p, a_y = lines
            s_p, s_y = _raise_to(sec.labels, s_p, s_y, a_labels, a_p, a_y,
                                 self.action_line_links)
        o_p, o_y = _hierarchy_max(obj.labels, o_p, np.zeros_like(o_p, bool), sec.labels, s_p,
                                  s_y, parent_of)
        out = {
            "gdc": (list(obj.labels), o_p, o_y),
            "gdc_sections": (list(sec.labels), s_p, s_y),
            "gdc_commitments": (list(com.labels), c_p, c_y),
        }
        principles = self.layers.get("gdc_principles")
        if principles is not None:
            p_p = self.layer_proba(principles, vectors, texts, segments)
            out["gdc_principles"] = (list(principles.labels), p_p, principles.decide(p_p))
        return out

    def thresholds(self, key: str) -> dict[str, float]:
        layer = self.layers.get(key)
        if layer is None:
            return {}
        return dict(zip(layer.labels, map(float, layer.thresholds)))


_TAGGER_CLASSES: dict[str, type[Tagger]] = {
    ACTION_LINES: ActionLineTagger,
    SDGS: SdgTagger,
    GDC: GdcTagger,
}


