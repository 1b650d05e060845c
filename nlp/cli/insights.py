"""``wsis report corpus``: the review-insight views of the whole corpus as files.

``--format xlsx`` writes one workbook with a sheet per view (Matrix, Gaps, Themes, Compare,
Cross-walk); ``csv`` one view (``--view``); ``json`` the whole corpus's tags as JSON Lines, one
passage a line. Computed from the index's stored vectors and one tagging pass over them
(:func:`nlp.insights.corpus.workspace_view`); nothing is re-embedded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from nlp.cli.common import fail, say, workspace

report_app = typer.Typer(help="Reports over the whole corpus.", no_args_is_help=True)

FORMATS = ("xlsx", "csv", "json")
VIEWS = ("matrix", "gaps", "themes", "compare", "crosswalk")
KEYS = ("action_lines", "sdgs", "sdg_targets", "gdc", "gdc_sections", "gdc_commitments",
        "gdc_principles")


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        fail(f"{what} {value!r} is not one of {', '.join(choices)}")
    return value


@report_app.command("corpus")
def corpus_report_command(
    format_: Annotated[str, typer.Option("--format", help="xlsx | csv | json")] = "xlsx",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (xlsx: default wsis-insights.xlsx; csv and "
        "json: stdout when omitted).")] = None,
    view: Annotated[str, typer.Option(help="csv: matrix | gaps | themes | compare | "
                                      "crosswalk")] = "matrix",
    key: Annotated[str, typer.Option(help="Label set: action_lines, sdgs, sdg_targets, gdc, "
                                     "gdc_commitments, gdc_principles, gdc_sections.")
                   ] = "action_lines",
    group_by: Annotated[str, typer.Option(help="Matrix rows: document | organization | "
                                          "kind")] = "document",
    gap_by: Annotated[str, typer.Option(help="Gaps count: document | organization")
                      ] = "document",
    similarity: Annotated[float, typer.Option(
        min=0.01, max=1.0, help="Themes: least mean cosine similarity within a theme.")] = 0.6,
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", help="key=value; keys: organization, kind, doc_id, source, "
        "date_from, date_to. Repeat a key for alternatives.")] = None,
) -> None:
    """Corpus views as files: matrix, gaps, themes, comparisons, cross-walk; or all tags.

    xlsx: one workbook, a sheet per view; csv: the --view named; json: one JSON line per
    passage with its tags. Exit code 2 for bad arguments.
    """
    _choice(format_, FORMATS, "format")
    _choice(view, VIEWS, "view")
    _choice(key, KEYS, "key")
    _choice(group_by, ("document", "organization", "kind"), "group-by")
    _choice(gap_by, ("document", "organization"), "gap-by")
    if output is not None and output.parent and not output.parent.is_dir():
        fail(f"{str(output.parent)!r}: no such directory")
    from nlp.insights import export
    from nlp.insights.corpus import workspace_view
    from nlp.search import SearchFilters

    filters = SearchFilters.parse(filter_ or [])
    say("tagging the indexed passages (stored vectors, no re-embedding)…")
    corpus = workspace_view(workspace())

    def progress(stage: str, fraction: float) -> None:
        say(f"  themes: {stage} ({fraction:.0%})")

    if format_ == "json":
        _write(output, "".join(export.tags_jsonl(corpus, filters)))
        return
    views: tuple[str, ...] = export.VIEWS if format_ == "xlsx" else (view,)
    report = export.corpus_report(corpus, key=key, group_by=group_by, gap_by=gap_by,
                                  similarity=similarity, filters=filters, progress=progress,
                                  views=views)
    if format_ == "csv":
        _write(output, export.table_csv(export.view_table(view, report)))
        return
    target = output or Path("wsis-insights.xlsx")
    target.write_bytes(export.report_xlsx(report))
    say(f"wrote {target} (sheets: {', '.join(export.SHEET_NAMES[v] for v in views)})")


def _write(output: Path | None, text: str, encoding: Literal["utf-8"] = "utf-8") -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding=encoding)
        say(f"wrote {output}")
