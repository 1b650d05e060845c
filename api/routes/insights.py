"""Review insights over the whole corpus: coverage matrix, gaps, themes, comparisons, the
cross-walk, their exports, and the page that shows them (``/insights``).

Each handler validates its query, builds the corpus view from the cached tag table and calls
one :mod:`nlp.insights` function; :class:`~nlp.insights.InsightsError` maps to 422.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import Context, ReadAccess
from api.insights_schemas import (
    CellResponse,
    CompareResponse,
    CrosswalkResponse,
    GapsResponse,
    MatrixResponse,
    ThemesResponse,
)
from nlp.insights import CorpusView, compare, crosswalk, export, gaps, matrix, themes
from nlp.search import SearchFilters

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["insights"])
Key = Literal["action_lines", "sdgs", "sdg_targets", "gdc", "gdc_sections", "gdc_commitments",
              "gdc_principles"]
GroupBy = Literal["document", "organization", "kind"]
View = Literal["matrix", "gaps", "themes", "compare", "crosswalk"]
DOC_ID = r"^[0-9a-f]{16}$"
KeyQuery = Query("action_lines", description="The label set: Action Lines, SDG goals or "
                 "targets, GDC objectives, sections, commitments or principles.")
Similarity = Query(0.6, gt=0, le=1, description="Themes: least mean cosine similarity within "
                   "a theme (agglomerative clustering).")


def _filters(organization: Annotated[list[str] | None, Query(max_length=50)] = None,
             kind: Annotated[list[str] | None, Query(max_length=50)] = None,
             document: Annotated[list[str] | None, Query(max_length=200,
                                                         description="Document ids.")] = None,
             date_from: Annotated[str | None, Query(examples=["2025-01"],
                                                    description="YYYY[-MM[-DD]]")] = None,
             date_to: Annotated[str | None, Query(examples=["2025-12-31"])] = None,
             ) -> SearchFilters:
    """Document metadata filters as query parameters (repeat a key for alternatives); a
    malformed date raises FilterError (422)."""
    return SearchFilters(organization=tuple(organization or ()), kind=tuple(kind or ()),
                         doc_id=tuple(document or ()), date_from=date_from or None,
                         date_to=date_to or None)


Filters = Annotated[SearchFilters, Depends(_filters)]


def _view(ctx: Context) -> CorpusView:
    """The live index with its cached tag table (503 when the taggers are missing)."""
    index = ctx.workspace.index()
    return CorpusView(index, ctx.tagging.passage_table(index), ctx.tagging.taxonomy())


@router.get("/insights", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "insights.html", media_type="text/html")


@router.get("/v1/insights/matrix", response_model=MatrixResponse, dependencies=[ReadAccess],
            summary="Coverage matrix: documents x labels, share of passages tagged")
def coverage(ctx: Context, filters: Filters, key: Key = KeyQuery,
             group_by: GroupBy = "document") -> dict:
    """Rows are documents (or organisations, kinds: ``group_by``), columns the labels of
    ``key``; each cell the share of the row's passages tagged with the label."""
    return matrix.coverage_matrix(_view(ctx), key, group_by, filters)


@router.get("/v1/insights/matrix/cell", response_model=CellResponse,
            dependencies=[ReadAccess], summary="The passages behind one matrix cell")
def cell(ctx: Context, filters: Filters, label: str = Query(..., max_length=96),
         row: str = Query(..., max_length=500, description="Document id, or the organisation "
                          "/ kind when grouped."),
         key: Key = KeyQuery, group_by: GroupBy = "document",
         limit: int = Query(50, ge=1, le=500)) -> dict:
    return matrix.cell_passages(_view(ctx), key, label, row, group_by, filters, limit)


@router.get("/v1/insights/gaps", response_model=GapsResponse, dependencies=[ReadAccess],
            summary="Labels that no document (or organisation), or only one, addresses")
def find_gaps(ctx: Context, filters: Filters, key: Key = KeyQuery,
              by: Literal["document", "organization"] = "document",
              max_addressed: int = Query(1, ge=0, le=1000),
              min_passages: int = Query(1, ge=1, le=1000)) -> dict:
    return gaps.find_gaps(_view(ctx), key, by, max_addressed, min_passages, filters)


@router.get("/v1/insights/themes", response_model=ThemesResponse, dependencies=[ReadAccess],
            summary="Themes across inputs: clusters of passages from different documents")
def find_themes(ctx: Context, filters: Filters, similarity: float = Similarity,
                method: Literal["auto", "agglomerative", "hdbscan"] = "auto",
                min_documents: int = Query(2, ge=1, le=1000),
                limit: int = Query(50, ge=1, le=1000),
                passages_per_theme: int = Query(20, ge=0, le=500)) -> dict:
    """Clustered from the stored passage vectors (agglomerative up to 3000 passages, HDBSCAN
    above); each theme is named by its top terms and the tags most of its passages carry."""
    return themes.find_themes(_view(ctx), method=method, similarity=similarity,
                              min_documents=min_documents, limit=limit,
                              passages_per_theme=passages_per_theme, filters=filters)


@router.get("/v1/insights/compare", response_model=CompareResponse, dependencies=[ReadAccess],
            summary="Two documents' label profiles, differences and closest passages")
def compare_two(ctx: Context,
                a: str = Query(..., pattern=DOC_ID, description="Document A's id."),
                b: str = Query(..., pattern=DOC_ID, description="Document B's id."),
                key: Key = KeyQuery,
                differences: int = Query(10, ge=1, le=200),
                pairs: int = Query(5, ge=0, le=100)) -> dict:
    return compare.compare_documents(_view(ctx), a, b, key, differences, pairs)


@router.get("/v1/insights/crosswalk", response_model=CrosswalkResponse,
            dependencies=[ReadAccess],
            summary="Action Line -> SDG targets (WSIS-SDG Matrix) -> GDC commitments -> passages")
def cross_walk(ctx: Context, filters: Filters,
               action_line: str = Query(..., max_length=40, examples=["C3"]),
               top: int = Query(3, ge=0, le=50)) -> dict:
    return crosswalk.crosswalk(_view(ctx), action_line, filters, top)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/v1/insights/export.xlsx", dependencies=[ReadAccess],
            response_class=Response, summary="Every view as one XLSX workbook (a sheet each)",
            responses={200: {"content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def export_xlsx(ctx: Context, filters: Filters, key: Key = KeyQuery,
                group_by: GroupBy = "document",
                gap_by: Literal["document", "organization"] = "document",
                similarity: float = Similarity) -> Response:
    """Sheets Matrix, Gaps, Themes, Compare (every document pair; of the 30 largest documents
    when there are more) and Cross-walk (every Action Line), with the numbers the JSON
    endpoints give for the same parameters."""
    report = export.corpus_report(_view(ctx), key=key, group_by=group_by, gap_by=gap_by,
                                  similarity=similarity, filters=filters)
    return Response(export.report_xlsx(report), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers=_attachment("wsis-insights.xlsx"))


@router.get("/v1/insights/export.csv", dependencies=[ReadAccess], response_class=Response,
            summary="One view as CSV", responses={200: {"content": {"text/csv": {}}}})
def export_csv(ctx: Context, filters: Filters, view: View = "matrix", key: Key = KeyQuery,
               group_by: GroupBy = "document",
               gap_by: Literal["document", "organization"] = "document",
               similarity: float = Similarity) -> Response:
    report = export.corpus_report(_view(ctx), key=key, group_by=group_by, gap_by=gap_by,
                                  similarity=similarity, filters=filters, views=(view,))
    return Response(export.table_csv(export.view_table(view, report)),
                    media_type="text/csv; charset=utf-8",
                    headers=_attachment(f"wsis-insights-{view}.csv"))


@router.get("/v1/insights/tags.jsonl", dependencies=[ReadAccess], response_class=Response,
            summary="Whole-corpus tags: one JSON line per passage",
            responses={200: {"content": {"application/x-ndjson": {}}}})
def tags_jsonl(ctx: Context, filters: Filters) -> StreamingResponse:
    return StreamingResponse(export.tags_jsonl(_view(ctx), filters),
                             media_type="application/x-ndjson",
                             headers=_attachment("wsis-corpus-tags.jsonl"))
