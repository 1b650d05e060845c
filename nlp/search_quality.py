"""``wsis evaluate search``: how well search finds the passages reviewers ask for.

The reviewer query set (``corpus/gold/search-queries.jsonl``, see ``corpus/gold/SEARCH.md``)
marks each query's relevant passages by a verbatim phrase of the source document rather than
by passage id, so the marks survive re-chunking: a passage is relevant when its clean text
(:mod:`nlp.markup`) contains the phrase, compared after case folding, quote folding and
whitespace collapsing. Each phrase is one relevant *item*; a passage may cover several.

Figures per query, averaged over queries:

* ``recall@5`` — share of the query's relevant items found in the first 5 results;
* ``MRR@10`` — reciprocal rank of the first relevant result within 10 (0 beyond);
* ``nDCG@10`` — binary gains, a result gaining 1 when it covers an item no earlier result
  covered (a repeated passage earns nothing twice); the ideal puts one item per rank.

The corpus is read, chunked and embedded into an in-memory index (the published index under
``WSIS_HOME`` is not touched), so the evaluation measures the code as it is.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nlp.chunk import Chunker
from nlp.config import Settings
from nlp.embed import Embedder
from nlp.embed_cache import EmbeddingCache
from nlp.index import VectorIndex
from nlp.markup import clean_text
from nlp.search import MODES, Fusion, Searcher
from nlp.types import Document

DEFAULT_QUERIES = Path(__file__).resolve().parents[1] / "corpus" / "gold" / "search-queries.jsonl"
RECALL_AT = 5
RANK_AT = 10
POOL_DEPTH = 200  # candidates per retriever kept for fusion tuning
FOLDS = 5

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RelevantPhrase:
    """A verbatim phrase of one source document that marks a relevant passage."""

    source: str  # the document's file name (``DocumentMeta.source``)
    phrase: str


@dataclass(frozen=True)
class GoldQuery:
    id: str
    kind: str  # concept | paraphrase | keyword | quote
    query: str
    relevant: tuple[RelevantPhrase, ...]


def load_queries(path: str | Path) -> list[GoldQuery]:
    """Read the query set (JSON Lines: ``id``, ``kind``, ``query``, ``relevant``).

    Raises:
        ValueError: a line without a query or relevant phrases, or a repeated id.
    """
    queries: list[GoldQuery] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        relevant = tuple(RelevantPhrase(r["source"], r["phrase"]) for r in row.get("relevant", []))
        if not row.get("query", "").strip() or not relevant:
            raise ValueError(f"{path}:{number}: a query needs text and relevant phrases")
        if row["id"] in seen:
            raise ValueError(f"{path}:{number}: query id {row['id']!r} is repeated")
        seen.add(row["id"])
        queries.append(GoldQuery(row["id"], row.get("kind", ""), row["query"], relevant))
    return queries


def normalise(text: str) -> str:
    """Clean text as phrases are compared: no marks, folded case and quotes, single spaces."""
    return _SPACE.sub(" ", clean_text(text).translate(_QUOTES)).strip().casefold()


def judge(index: VectorIndex, queries: Sequence[GoldQuery]
          ) -> tuple[dict[str, list[frozenset[int]]], list[str]]:
    """The index rows relevant to each item of each query, and the phrases found nowhere.

    Returns:
        ``({query id: [rows covering item 1, ...]}, problems)``; an item found in no passage
        of its source is left out and named in ``problems``.
    """
    texts = [normalise(p.text) for p in index.passages]
    sources = [index.documents[p.doc_id].source for p in index.passages]
    judgments: dict[str, list[frozenset[int]]] = {}
    problems: list[str] = []
    for query in queries:
        items = []
        for item in query.relevant:
            phrase = normalise(item.phrase)
            rows = frozenset(i for i, (text, source) in enumerate(zip(texts, sources))
                             if source == item.source and phrase in text)
            if rows:
                items.append(rows)
            else:
                problems.append(f"{query.id}: {item.phrase!r} is in no passage of {item.source}")
        judgments[query.id] = items
    return judgments, problems


def query_metrics(ranking: Sequence[int | Collection[int]], items: Sequence[frozenset[int]]
                  ) -> dict[str, Any]:
    """recall@5, reciprocal rank@10, nDCG@10 and the first relevant rank of one ranking.

    A result is a row, or the rows of a collapsed near-duplicate group (the passage shown and
    the copies it stands for)."""
    if not items:
        return {"recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0, "rank": None}
    covered: set[int] = set()  # items found so far
    first: int | None = None
    dcg = 0.0
    for rank, result in enumerate(ranking[:RANK_AT], start=1):
        found = {result} if isinstance(result, int) else set(result)
        new = {i for i, rows in enumerate(items) if rows & found} - covered
        if new:
            first = first or rank
            dcg += 1.0 / math.log2(rank + 1)
            covered |= new
        if rank == RECALL_AT:
            recall = len(covered) / len(items)
    if len(ranking) < RECALL_AT:
        recall = len(covered) / len(items)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(items), RANK_AT) + 1))
    return {"recall@5": recall, "mrr@10": 1.0 / first if first else 0.0,
            "ndcg@10": dcg / ideal, "rank": first}


def mean_figures(per_query: Sequence[dict[str, Any]]) -> dict[str, float]:
    keys = ("recall@5", "mrr@10", "ndcg@10")
    n = max(1, len(per_query))
    return {k: round(sum(q[k] for q in per_query) / n, 4) for k in keys}


# --------------------------------------------------------------------------- the index


def build_index(documents: Sequence[Document], chunker: Chunker, embedder: Embedder,
                cache_dir: Path | None = None) -> VectorIndex:
    """An in-memory index of ``documents`` chunked and embedded as ``wsis index`` does."""
    index = VectorIndex(embedder.name, embedder.dimension, "flat", chunker.settings)
    passages = [p for document in documents for p in chunker.chunk(document)]
    encode = EmbeddingCache(cache_dir, embedder).encode if cache_dir else embedder.encode
    vectors = encode([p.embedding_text for p in passages])
    index.add({d.id: d.meta for d in documents}, passages, np.asarray(vectors))
    return index


# --------------------------------------------------------------------------- evaluation


def rankings(searcher: Searcher, queries: Sequence[GoldQuery], mode: str
             ) -> list[list[frozenset[int]]]:
    """The rows of the first :data:`RANK_AT` results ``searcher`` returns for each query
    (a result collapsing near duplicates stands for all of their rows)."""
    row = searcher.index.row
    return [[frozenset([row(h.passage.id), *(row(p.id) for p, _ in h.also_in)])
             for h in searcher.search(query.query, k=RANK_AT, mode=mode)]
            for query in queries]


def evaluate_modes(searcher: Searcher, queries: Sequence[GoldQuery],
                   judgments: dict[str, list[frozenset[int]]]) -> dict[str, Any]:
    """Figures and per-query ranks for every search mode."""
    result: dict[str, Any] = {}
    for mode in MODES:
        per_query = []
        for query, ranking in zip(queries, rankings(searcher, queries, mode)):
            figures = query_metrics(ranking, judgments[query.id])
            per_query.append({"id": query.id, **figures})
        result[mode] = {"figures": mean_figures(per_query), "queries": per_query}
    return result


# --------------------------------------------------------------------------- fusion tuning


def candidate_pools(searcher: Searcher, queries: Sequence[GoldQuery]
                    ) -> list[tuple[list[tuple[int, float]], list[tuple[int, float]]]]:
    """Each query's semantic and lexical candidates, :data:`POOL_DEPTH` deep."""
    vectors = searcher.embedder.encode([q.query for q in queries])
    return [(searcher.semantic(vector, POOL_DEPTH, None),
             searcher.lexical(q.query, POOL_DEPTH, None))
            for q, vector in zip(queries, vectors)]


def fusion_grid() -> list[Fusion]:
    """Every fusion the tuning may choose: blends and RRF at several depths."""
    grid = [Fusion("blend", weight=round(w, 2), depth=d)
            for d in (50, 100, 200) for w in np.arange(0.0, 1.0001, 0.05)]
    grid += [Fusion("rrf", rrf_k=k, depth=d)
             for d in (50, 100, 200) for k in (1, 2, 5, 10, 20, 30, 60, 100)]
    return grid


def fused_metrics(fusion: Fusion, pool: tuple[list, list], items: list[frozenset[int]]
                  ) -> dict[str, Any]:
    depth = fusion.depth_for(RANK_AT)
    semantic, lexical = pool
    ranked = fusion.fuse(semantic[:depth], lexical[:depth])[:RANK_AT]
    return query_metrics([row for row, *_ in ranked], items)


def _objective(per_query: Sequence[dict[str, Any]]) -> float:
    figures = mean_figures(per_query)
    return figures["mrr@10"] + figures["recall@5"]


def _best(grid: Sequence[Fusion], table: dict[Fusion, list[dict]], rows: Sequence[int]) -> Fusion:
    # Ties go to the earlier grid entry (the grid lists simpler settings first).
    return max(grid, key=lambda f: (_objective([table[f][i] for i in rows]), -grid.index(f)))


def tune_fusion(searcher: Searcher, queries: Sequence[GoldQuery],
                judgments: dict[str, list[frozenset[int]]], folds: int = FOLDS,
                seed: int = 0) -> dict[str, Any]:
    """Choose the fusion by cross-validation over queries.

    Each family (blend, RRF) is tuned on the training folds and scored on the held-out fold;
    the family with the better held-out figures wins, and its setting is then refitted on all
    queries. Fixed RRF with k = 60 is scored alongside as the reference.
    """
    pools = candidate_pools(searcher, queries)
    grid = fusion_grid()
    table = {f: [fused_metrics(f, pool, judgments[q.id]) for q, pool in zip(queries, pools)]
             for f in grid}
    order = list(range(len(queries)))
    random.Random(seed).shuffle(order)
    fold_of = {row: i % folds for i, row in enumerate(order)}
    families: dict[str, list[Fusion]] = {
        "blend": [f for f in grid if f.method == "blend"],
        "rrf": [f for f in grid if f.method == "rrf"],
    }
    cross: dict[str, Any] = {}
    for name, family in families.items():
        held_out: list[dict] = [{}] * len(queries)
        chosen = []
        for fold in range(folds):
            train = [i for i in range(len(queries)) if fold_of[i] != fold]
            best = _best(family, table, train)
            chosen.append(best.to_dict())
            for i in range(len(queries)):
                if fold_of[i] == fold:
                    held_out[i] = table[best][i]
        cross[name] = {"figures": mean_figures(held_out), "per_fold": chosen}
    reference = Fusion("rrf", rrf_k=60, depth=50)
    winner = max(families, key=lambda n: (_objective_of(cross[n]["figures"]), n == "blend"))
    final = _best(families[winner], table, range(len(queries)))
    return {
        "folds": folds, "seed": seed, "grid_size": len(grid),
        "cross_validated": cross,
        "reference": {"fusion": reference.to_dict(),
                      "figures": mean_figures(table[reference])},
        "chosen": {"family": winner, "fusion": final.to_dict(),
                   "in_sample": mean_figures(table[final])},
    }


def _objective_of(figures: dict[str, float]) -> float:
    return figures["mrr@10"] + figures["recall@5"]


# --------------------------------------------------------------------------- the run


def evaluate_search(documents: Sequence[Document], queries: Sequence[GoldQuery],
                    embedder: Embedder, chunker: Chunker | None = None,
                    fusion: Fusion | None = None, tune: bool = False,
                    cache_dir: Path | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Index ``documents`` in memory and score every search mode on ``queries``.

    Args:
        fusion: the hybrid fusion to score (default: the searcher's own).
        tune: also choose the fusion by cross-validation (:func:`tune_fusion`).
        cache_dir: embedding cache folder (passage vectors are reused across runs).

    Returns:
        A JSON-ready dict: settings, per-mode figures and per-query ranks, problems with the
        query set, and the tuning when asked.
    """
    say = progress or (lambda _message: None)
    chunker = chunker or Chunker()
    say(f"indexing {len(documents)} documents")
    index = build_index(documents, chunker, embedder, cache_dir)
    searcher = Searcher(index, embedder) if fusion is None else Searcher(index, embedder, fusion)
    judgments, problems = judge(index, queries)
    say(f"searching {len(queries)} queries in {len(index)} passages")
    modes = evaluate_modes(searcher, queries, judgments)
    result: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedding_model": embedder.name,
        "chunker": chunker.settings,
        "fusion": searcher.fusion.to_dict(),
        "passages": len(index),
        "queries": [{"id": q.id, "kind": q.kind, "query": q.query,
                     "items": len(judgments[q.id])} for q in queries],
        "problems": problems,
        "modes": modes,
    }
    if tune:
        say("tuning the fusion by cross-validation")
        result["tuning"] = tune_fusion(searcher, queries, judgments)
    return result


def run_search_evaluation(settings: Settings, queries_path: Path, report_dir: Path | None,
                          tune: bool = False, embedder: Embedder | None = None,
                          progress: Callable[[str], None] | None = None
                          ) -> tuple[dict[str, Any], dict[str, Path]]:
    """``wsis evaluate search``: the configured corpus, chunker and search embedder scored on
    the query set; reports written to ``report_dir`` (none when ``None``).

    Raises:
        DocumentError: no document could be read from the corpus folder.
    """
    from nlp.errors import DocumentError
    from nlp.load import load_paths

    if embedder is None:
        from nlp.workspace import Workspace

        embedder = Workspace(settings).embedder
    report = load_paths([settings.corpus_dir])
    if not report.documents:
        raise DocumentError(str(settings.corpus_dir), "no readable documents")
    chunker = Chunker(settings.chunk_min_words, settings.chunk_max_words)
    result = evaluate_search(report.documents, load_queries(queries_path), embedder, chunker,
                             tune=tune, cache_dir=settings.embedding_cache_dir, progress=progress)
    paths = write_reports(result, report_dir) if report_dir is not None else {}
    return result, paths


def render_markdown(result: dict[str, Any]) -> str:
    """The report: one table of figures per mode, the tuning, and every query's ranks."""
    lines = [
        "# Search quality on the reviewer query set", "",
        (f"{len(result['queries'])} queries, {result['passages']} passages, embedding model "
         f"`{result['embedding_model']}`, chunker `{json.dumps(result['chunker'])}`, hybrid "
         f"fusion `{json.dumps(result['fusion'])}`. recall@5 counts the relevant items found "
         "in the first five results, MRR@10 and nDCG@10 rank within ten "
         "(`nlp/search_quality.py`)."), "",
        "| mode | recall@5 | MRR@10 | nDCG@10 |", "| --- | ---: | ---: | ---: |",
    ]
    for mode, block in result["modes"].items():
        f = block["figures"]
        lines.append(f"| {mode} | {f['recall@5']:.3f} | {f['mrr@10']:.3f} | {f['ndcg@10']:.3f} |")
    tuning = result.get("tuning")
    if tuning:
        lines += ["", f"## Fusion chosen by {tuning['folds']}-fold cross-validation over queries",
                  "", "| fusion | recall@5 | MRR@10 | nDCG@10 |", "| --- | ---: | ---: | ---: |"]
        ref = tuning["reference"]["figures"]
        lines.append(f"| RRF k = 60 (fixed) | {ref['recall@5']:.3f} | {ref['mrr@10']:.3f} | "
                     f"{ref['ndcg@10']:.3f} |")
        for name, block in tuning["cross_validated"].items():
            f = block["figures"]
            lines.append(f"| {name}, tuned on the other folds | {f['recall@5']:.3f} | "
                         f"{f['mrr@10']:.3f} | {f['ndcg@10']:.3f} |")
        chosen = tuning["chosen"]
        lines += ["", (f"Chosen: {chosen['family']}, refitted on all queries: "
                       f"`{json.dumps(chosen['fusion'])}`.")]
    if result["problems"]:
        lines += ["", "## Problems with the query set", ""]
        lines += [f"- {p}" for p in result["problems"]]
    lines += ["", "## Rank of the first relevant passage per query (— = not in the first 10)", "",
              "| query | kind | " + " | ".join(result["modes"]) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in result["modes"]) + " |"]
    per_mode = {mode: {q["id"]: q["rank"] for q in block["queries"]}
                for mode, block in result["modes"].items()}
    for query in result["queries"]:
        ranks = [per_mode[mode][query["id"]] for mode in result["modes"]]
        text = query["query"].replace("|", "\\|")
        lines.append(f"| {text} | {query['kind']} | "
                     + " | ".join(str(r) if r else "—" for r in ranks) + " |")
    return "\n".join(lines) + "\n"


def write_reports(result: dict[str, Any], folder: Path) -> dict[str, Path]:
    """``search-eval.json`` and ``search-eval.md`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "search-eval.json", "markdown": folder / "search-eval.md"}
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    paths["markdown"].write_text(render_markdown(result), encoding="utf-8")
    return paths
