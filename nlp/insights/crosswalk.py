"""Cross-walk: one WSIS Action Line -> its SDG targets in the ITU WSIS-SDG Matrix -> the GDC
commitments whose own SDG tags share those targets' goals, and the GDC section on the line's
own subject (``gdc_sections`` in ``action-lines.yaml``) -> the corpus passages tagged with
each of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from nlp.insights.corpus import CorpusView, InsightsError
from nlp.search import SearchFilters
from nlp.taxonomy import ACTION_LINES, GDC


def _tagged(view: CorpusView, key: str, label: str, rows: np.ndarray,
            top: int) -> tuple[int, int, list[dict[str, Any]]]:
    """(passages tagged, documents they come from, the strongest ``top`` of them)."""
    if key not in view.table.keys or label not in view.table.keys[key].labels:
        return 0, 0, []
    scores = view.table.keys[key]
    column = scores.labels.index(label)
    tagged = rows[scores.predicted[rows, column]]
    order = tagged[np.argsort(-scores.scores[tagged, column], kind="stable")]
    documents = len({int(view.doc_of_row[r]) for r in tagged})
    return (len(tagged), documents,
            [view.passage_dict(int(r), scores.scores[r, column]) for r in order[:top]])


def crosswalk(view: CorpusView, action_line: str, filters: SearchFilters | None = None,
              top: int = 3) -> dict[str, Any]:
    """The cross-walk of one Action Line with the corpus passages at each step.

    Args:
        action_line: an Action Line id (``C3``, ``C7.e-health``; ``C7`` takes its sub-lines').
        filters: only passages of these documents are counted and listed.
        top: strongest passages listed per label (``passages`` counts them all).

    Returns:
        ``{"action_line": {"id", "title", "passages", "documents", "top"}, "goals": [...],
        "targets": [{"id", "title", "goal", "passages", "documents", "top"}], "commitments":
        [{"id", "title", "sdgs", "via_goals", "passages", "documents", "top"}], "sections":
        [{"id", "title", "passages", "documents", "top"}]}``; targets in Matrix order,
        commitments with the most tagged passages first; ``sections``: the GDC sections on
        the line's own subject (C7: its sub-lines'), usually none or one.

    Raises:
        InsightsError: an unknown Action Line.
    """
    taxonomy = view.taxonomy
    try:
        label = taxonomy.get(ACTION_LINES, action_line)
    except KeyError:
        known = ", ".join(taxonomy.ids(ACTION_LINES))
        raise InsightsError(f"Unknown Action Line {action_line!r}; use one of {known}") from None
    rows = view.rows_of(view.documents(filters))

    def node(key: str, label_id: str, title: str, **extra: Any) -> dict[str, Any]:
        count, documents, strongest = _tagged(view, key, label_id, rows, top)
        return {"id": label_id, "title": title, **extra, "passages": count,
                "documents": documents, "top": strongest}

    targets = taxonomy.action_line_sdg_targets(action_line)
    goals = list(dict.fromkeys(t.split(".")[0] for t in targets)) or list(
        taxonomy.action_line_sdgs(action_line))
    target_nodes = []
    for target in targets:
        try:
            title = taxonomy.get("sdgs", target).title
        except KeyError:
            title = target
        target_nodes.append(node("sdg_targets", target, title, goal=target.split(".")[0]))
    commitments = []
    wanted = set(goals)
    for commitment in taxonomy.level(GDC, "commitment"):
        via = [g for g in commitment.sdgs if g in wanted]
        if via:
            text = commitment.texts[0] if commitment.texts else commitment.title
            commitments.append(node("gdc_commitments", commitment.id, text,
                                    section=commitment.title, sdgs=list(commitment.sdgs),
                                    via_goals=via))
    # Commitments with corpus passages first (most first), then by goals shared.
    order = {c["id"]: i for i, c in enumerate(commitments)}
    commitments.sort(key=lambda c: (-c["passages"], -len(c["via_goals"]), order[c["id"]]))
    lines = [label, *taxonomy.children(ACTION_LINES, label.id)]
    sections = [node("gdc_sections", section, taxonomy.get(GDC, section).title)
                for section in dict.fromkeys(s for line in lines for s in line.gdc_sections)]
    return {
        "action_line": node("action_lines", label.id, label.title),
        "goals": [node("sdgs", g, view.titles.get(g, f"SDG {g}")) for g in goals],
        "targets": target_nodes,
        "commitments": commitments,
        "sections": sections,
    }


def crosswalk_rows(view: CorpusView, filters: SearchFilters | None = None
                   ) -> list[dict[str, Any]]:
    """Every Action Line's cross-walk flattened to rows (the workbook's Cross-walk sheet):
    ``{"action_line", "step", "id", "title", "passages", "documents"}`` per node."""
    out = []
    for action_line in view.taxonomy.ids(ACTION_LINES):
        walk = crosswalk(view, action_line, filters, top=0)
        steps = [("action line", [walk["action_line"]]), ("SDG goal", walk["goals"]),
                 ("SDG target", walk["targets"]), ("GDC commitment", walk["commitments"]),
                 ("GDC section", walk["sections"])]
        for step, nodes in steps:
            out.extend({"action_line": action_line, "step": step, "id": n["id"],
                        "title": n["title"], "passages": n["passages"],
                        "documents": n["documents"]} for n in nodes)
    return out
