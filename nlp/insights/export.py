"""The corpus views as files: a CSV per view, one XLSX workbook with a sheet per view, and the
whole corpus's tags as JSON Lines.

:func:`corpus_report` computes every view once; the tables below are read off its dicts, so a
workbook carries exactly the numbers the API's JSON gives for the same parameters. Every text
cell goes through :func:`nlp.reports.spreadsheet_safe` (document text and metadata are
untrusted and must not run as formulas).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from nlp.insights.compare import document_pairs
from nlp.insights.corpus import CorpusView, InsightsError
from nlp.insights.crosswalk import crosswalk_rows
from nlp.insights.gaps import find_gaps
from nlp.insights.matrix import coverage_matrix
from nlp.insights.themes import DEFAULT_SIMILARITY, Progress, find_themes
from nlp.reports import spreadsheet_safe
from nlp.search import SearchFilters

VIEWS = ("matrix", "gaps", "themes", "compare", "crosswalk")
COMPARE_DOCUMENTS = 30  # the Compare sheet pairs at most this many (largest) documents
SHEET_NAMES = {"matrix": "Matrix", "gaps": "Gaps", "themes": "Themes", "compare": "Compare",
               "crosswalk": "Cross-walk"}
Table = tuple[list[str], list[list[Any]]]


def corpus_report(view: CorpusView, *, key: str = "action_lines", group_by: str = "document",
                  gap_by: str = "document", similarity: float = DEFAULT_SIMILARITY,
                  filters: SearchFilters | None = None, progress: Progress | None = None,
                  views: tuple[str, ...] = VIEWS) -> dict[str, Any]:
    """Every view (or those named in ``views``) with one set of parameters. Compare holds every
    pair of the (filtered) documents, or of the :data:`COMPARE_DOCUMENTS` largest when there
    are more.

    Raises:
        InsightsError: an unknown view or parameter.
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise InsightsError(f"Unknown view(s) {unknown}; use {', '.join(VIEWS)}")
    report: dict[str, Any] = {}
    if "matrix" in views:
        report["matrix"] = coverage_matrix(view, key, group_by, filters)
    if "gaps" in views:
        report["gaps"] = find_gaps(view, key, gap_by, filters=filters)
    if "themes" in views:
        report["themes"] = find_themes(view, similarity=similarity, filters=filters,
                                       limit=1_000_000, passages_per_theme=0, progress=progress)
    if "compare" in views:
        docs = view.documents(filters)
        if len(docs) > COMPARE_DOCUMENTS:  # pairs grow with the square: the largest documents
            sizes = dict(zip(*np.unique(view.doc_of_row, return_counts=True)))
            position = {d: i for i, d in enumerate(view.doc_ids)}
            largest = set(sorted(docs, key=lambda d: -sizes.get(position[d], 0))
                          [:COMPARE_DOCUMENTS])
            docs = [d for d in docs if d in largest]
        report["compare"] = {"key": key, "documents": len(docs),
                             "pairs": document_pairs(view, key, docs)}
    if "crosswalk" in views:
        report["crosswalk"] = {"rows": crosswalk_rows(view, filters)}
    return report


def view_table(name: str, report: dict[str, Any]) -> Table:
    """The header and rows of one view of a :func:`corpus_report`."""
    data = report[name]
    if name == "matrix":
        header = ["row", "title", "organization", "kind", "date", "documents", "passages",
                  *(lab["id"] for lab in data["labels"])]
        return header, [[r["id"], r["title"], r["organization"], r["kind"], r["date"],
                         r["documents"], r["passages"], *r["shares"]] for r in data["rows"]]
    if name == "gaps":
        header = ["label", "title", f"{data['by']}s addressing", "passages", "addressed by"]
        return header, [[g["label"], g["title"], g["addressed"], g["passages"],
                         "; ".join(g["addressed_by"])] for g in data["gaps"]]
    if name == "themes":
        header = ["theme", "label", "passages", "documents", "organizations", "cohesion",
                  "terms", "tags", "document titles"]
        return header, [[t["id"], t["label"], t["size"], len(t["documents"]),
                         "; ".join(t["organizations"]), t["cohesion"], "; ".join(t["terms"]),
                         "; ".join(f"{g['label']} ({g['share']})" for g in t["tags"]),
                         "; ".join(d["title"] for d in t["documents"])]
                        for t in data["themes"]]
    if name == "compare":
        header = ["doc_a", "title_a", "doc_b", "title_b", "profile_similarity",
                  "closest_pair", "top_difference", "difference"]
        return header, [[p["a"]["doc_id"], p["a"]["title"], p["b"]["doc_id"], p["b"]["title"],
                         p["profile_similarity"], p["closest_pair"], p["top_difference"],
                         p["difference"]] for p in data["pairs"]]
    if name == "crosswalk":
        header = ["action_line", "step", "id", "title", "passages", "documents"]
        return header, [[r["action_line"], r["step"], r["id"], r["title"], r["passages"],
                         r["documents"]] for r in data["rows"]]
    raise InsightsError(f"Unknown view {name!r}; use {', '.join(VIEWS)}")


def table_csv(table: Table) -> str:
    """A view table as CSV text, every cell through :func:`spreadsheet_safe`."""
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return out.getvalue()


def report_xlsx(report: dict[str, Any]) -> bytes:
    """One workbook, a sheet per view of ``report`` (in :data:`VIEWS` order), header frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for name in VIEWS:
        if name not in report:
            continue
        header, rows = view_table(name, report)
        sheet = book.create_sheet(SHEET_NAMES[name])
        sheet.append([spreadsheet_safe(h) for h in header])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([spreadsheet_safe(v) for v in row])
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def tags_jsonl(view: CorpusView, filters: SearchFilters | None = None,
               limit: int = 50) -> Iterator[str]:
    """One JSON line per passage (index order): where it is, its document and its predicted
    labels per key, strongest first (the whole-corpus tags)."""
    for row in view.rows_of(view.documents(filters)):
        record = view.passage_dict(int(row))
        record["tags"] = view.table.brief(int(row), limit)
        yield json.dumps(record, ensure_ascii=False) + "\n"
