"""Themes across inputs: passages of different documents that say the same thing, clustered
from the stored passage vectors, each named by its top terms and tags.

Two scikit-learn clusterers, chosen by size (``method="auto"``):

- ``agglomerative`` (up to :data:`AGGLOMERATIVE_MAX` passages): average linkage on cosine
  distance, cut where the passages of a cluster are on average at least ``similarity`` alike.
  Exact and deterministic; its distance matrix grows with the square of the passages.
- ``hdbscan`` (larger corpora): HDBSCAN on the vectors reduced by PCA, in near-linear memory
  (10k passages in about 10 s on 2 cores, bench/results/insights.md).

A theme must span ``min_documents`` documents: one document repeating itself is not a theme
*across* inputs. Results are cached per corpus version and parameters.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from nlp.insights.corpus import CorpusView, InsightsError, rounded
from nlp.search import SearchFilters

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)
METHODS = ("auto", "agglomerative", "hdbscan")
AGGLOMERATIVE_MAX = 3000
# On the founding documents (MiniLM), 0.6 gave 11 themes over 4-2 documents each
# (cybersecurity, internet governance, DPI standards...); 0.5 chained 69 passages into one.
DEFAULT_SIMILARITY = 0.6
PCA_DIMENSIONS = 24  # 32 kept the same clusters on the bench corpus at 1.6x the time
TAG_KEYS = ("action_lines", "sdgs", "gdc_commitments")
_CACHE: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def _quiet(stage: str, fraction: float) -> None:
    pass


def cluster_vectors(vectors: np.ndarray, method: str = "auto",
                    similarity: float = DEFAULT_SIMILARITY, min_size: int = 2,
                    progress: Progress | None = None) -> np.ndarray:
    """A cluster id per unit vector (-1: in no cluster).

    Args:
        method: ``auto``, ``agglomerative`` or ``hdbscan`` (see the module docstring).
        similarity: agglomerative only: the mean cosine similarity within a cluster at least.
        min_size: smallest cluster kept (HDBSCAN's ``min_cluster_size``).
        progress: told each stage, with the fraction of the whole themes run it starts at.

    Raises:
        InsightsError: an unknown method or a similarity outside (0, 1].
    """
    if method not in METHODS:
        raise InsightsError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if not 0.0 < similarity <= 1.0:
        raise InsightsError(f"similarity must be in (0, 1], got {similarity!r}")
    n = len(vectors)
    if n < 2:
        return np.full(n, -1, dtype=np.int64)
    progress = progress or _quiet
    if method == "auto":
        method = "agglomerative" if n <= AGGLOMERATIVE_MAX else "hdbscan"
    vectors = np.asarray(vectors, dtype=np.float32)
    if method == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        # Cosine distances with one BLAS product (sklearn's own "cosine" is far slower).
        progress(f"cosine distances of {n} passages", 0.1)
        distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0).astype(np.float64)
        np.fill_diagonal(distances, 0.0)
        progress("average-linkage clustering (agglomerative)", 0.3)
        labels = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average",
            distance_threshold=1.0 - similarity).fit_predict(distances)
    else:
        from sklearn.cluster import HDBSCAN
        from sklearn.decomposition import PCA

        reduced = vectors
        if vectors.shape[1] > PCA_DIMENSIONS and n > PCA_DIMENSIONS:
            progress(f"PCA of {n} passages to {PCA_DIMENSIONS} dimensions", 0.1)
            reduced = PCA(PCA_DIMENSIONS, random_state=0).fit_transform(vectors)
        progress("density clustering (HDBSCAN)", 0.2)
        labels = HDBSCAN(min_cluster_size=max(2, min_size), min_samples=2,
                         copy=True).fit_predict(reduced)
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, int)
    small = np.flatnonzero(sizes < min_size)
    labels[np.isin(labels, small)] = -1
    return labels


def _top_terms(texts: list[str], groups: list[np.ndarray], k: int) -> list[list[str]]:
    """Per group of texts, the ``k`` terms with the highest mean TF-IDF (words and bigrams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return [[] for _ in groups]
    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True,
                                 min_df=2 if len(texts) > 50 else 1, max_df=0.5,
                                 token_pattern=r"(?u)\b[^\W\d_][\w-]{2,}\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # every word is a stop word or too rare
        return [[] for _ in groups]
    from scipy.sparse import csr_matrix

    vocabulary = vectorizer.get_feature_names_out()
    # Every group's mean TF-IDF row in one sparse product (slicing per group was slower).
    sizes = [len(m) for m in groups]
    member_of = csr_matrix(
        (np.concatenate([np.full(n, 1.0 / n) for n in sizes]) if groups else np.zeros(0),
         (np.repeat(np.arange(len(groups)), sizes),
          np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64))),
        shape=(len(groups), matrix.shape[0]))
    means = (member_of @ matrix).tocsr()
    out = []
    for g in range(len(groups)):
        row = means.getrow(g)
        top = np.argsort(-row.data, kind="stable")[: 3 * k]
        best = [int(row.indices[i]) for i in top if row.data[i] > 0]
        terms: list[str] = []
        for i in best:  # a bigram makes its own words redundant, and the other way round
            term = str(vocabulary[i])
            if any(term in t.split() or t in term.split() for t in terms):
                continue
            terms.append(term)
            if len(terms) == k:
                break
        out.append(terms)
    return out


def _theme_tags(view: CorpusView, rows: np.ndarray, per_key: int = 2,
                min_share: float = 0.5) -> list[dict[str, Any]]:
    """The labels most of a theme's passages carry (at least ``min_share`` of them)."""
    tags = []
    for key in TAG_KEYS:
        if key not in view.table.keys:
            continue
        scores = view.table.keys[key]
        shares = scores.predicted[rows].mean(axis=0)
        for j in np.argsort(-shares, kind="stable")[:per_key]:
            if shares[j] >= min_share:
                label = scores.labels[j]
                tags.append({"key": key, "label": label,
                             "title": view.titles.get(label, label),
                             "share": rounded(shares[j])})
    return tags


def _tag_name(tag: dict[str, Any]) -> str:
    return f"SDG {tag['label']}" if tag["key"] == "sdgs" else tag["label"]


def find_themes(view: CorpusView, *, method: str = "auto",
                similarity: float = DEFAULT_SIMILARITY, min_documents: int = 2,
                min_size: int = 2, limit: int = 50,
                passages_per_theme: int = 20, terms: int = 4,
                filters: SearchFilters | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Clusters of passages from at least ``min_documents`` documents, largest spread first.

    Args:
        method, similarity, min_size: see :func:`cluster_vectors`.
        min_documents: distinct documents a theme must span.
        limit: themes returned (``total_themes`` counts all).
        passages_per_theme: passages listed per theme, closest to its centre first.
        terms: top terms in each theme's label.
        filters: cluster only the passages of these documents.
        progress: called with (stage, fraction) as the work advances.

    Returns:
        ``{"method", "similarity", "passages", "total_themes", "seconds", "themes": [{"id",
        "label", "terms", "tags", "size", "cohesion", "documents", "organizations",
        "passages"}]}``.

    Raises:
        InsightsError: bad parameters (see :func:`cluster_vectors`).
    """
    if min_documents < 1 or min_size < 2:
        raise InsightsError(f"min_documents must be >= 1 and min_size >= 2, got "
                            f"{min_documents!r} and {min_size!r}")
    if method not in METHODS:
        raise InsightsError(f"method {method!r} is not one of {', '.join(METHODS)}")
    progress = progress or _quiet
    doc_ids = view.documents(filters)
    rows = view.rows_of(doc_ids)
    chosen = method if method != "auto" else (
        "agglomerative" if len(rows) <= AGGLOMERATIVE_MAX else "hdbscan")
    digest = hashlib.sha256("\n".join(doc_ids).encode()).hexdigest()[:16]
    # The stamp names the index version and models; the object ids tell apart two corpora
    # with equal stamps in one process (two workspaces, tests).
    cache_key = (id(view.index), id(view.table), view.stamp, digest, chosen, similarity,
                 min_documents, min_size, terms)
    with _CACHE_LOCK:
        cached = _CACHE.get(cache_key)
    if cached is None:
        cached = _compute(view, rows, chosen, similarity, min_documents, min_size, terms,
                          progress)
        with _CACHE_LOCK:
            _CACHE[cache_key] = cached
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    progress("done", 1.0)
    themes = []
    for theme in cached["themes"][:limit]:
        # Passages are materialised only for what is returned (10k dicts cost seconds).
        rows, closeness = theme["_rows"], theme["_closeness"]
        passages = [view.passage_dict(int(r), float(c))
                    for r, c in zip(rows[:passages_per_theme], closeness[:passages_per_theme])]
        themes.append({**{k: v for k, v in theme.items() if not k.startswith("_")},
                       "passages": passages})
    return {**{k: v for k, v in cached.items() if k != "themes"}, "themes": themes}


def _compute(view: CorpusView, rows: np.ndarray, method: str, similarity: float,
             min_documents: int, min_size: int, terms: int,
             progress: Progress) -> dict[str, Any]:
    started = time.perf_counter()
    progress(f"clustering {len(rows)} passages ({method})", 0.05)
    vectors = view.vectors[rows]
    labels = cluster_vectors(vectors, method, similarity, min_size, progress)
    progress("naming themes", 0.7)
    clusters = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        docs = {int(view.doc_of_row[rows[m]]) for m in members}
        if len(docs) >= min_documents:
            clusters.append(members)
    texts = [view.passages[int(r)].text for r in rows]
    names = _top_terms(texts, clusters, terms)
    themes = []
    for members, words in zip(clusters, names):
        member_rows = rows[members]
        centre = vectors[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        closeness = vectors[members] @ centre
        order = np.argsort(-closeness, kind="stable")
        tags = _theme_tags(view, member_rows)
        per_doc: dict[str, int] = {}
        for r in member_rows:
            doc_id = view.passages[int(r)].doc_id
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
        documents = [{**view.document_dict(d), "passages": n} for d, n in per_doc.items()]
        documents.sort(key=lambda d: (-d["passages"], d["title"]))
        label = ", ".join(words) or "(no distinctive words)"
        if tags:
            label += " — " + " · ".join(_tag_name(t) for t in tags)
        themes.append({
            "label": label, "terms": words, "tags": tags, "size": len(members),
            "cohesion": rounded(float(closeness.mean())),
            "documents": documents,
            "organizations": sorted({d["organization"] for d in documents if d["organization"]}),
            "_rows": member_rows[order], "_closeness": closeness[order],
        })
    themes.sort(key=lambda t: (-len(t["documents"]), -t["size"], -t["cohesion"], t["label"]))
    for number, theme in enumerate(themes, start=1):
        theme["id"] = number
    return {"method": method, "similarity": similarity, "min_documents": min_documents,
            "passages": len(rows), "clustered": int((labels >= 0).sum()),
            "total_themes": len(themes), "seconds": round(time.perf_counter() - started, 3),
            "themes": themes}
