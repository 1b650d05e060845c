"""``wsis evaluate search``: the search figures on the reviewer query set (a thin wrapper over
:func:`nlp.search_quality.run_search_evaluation`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nlp.cli.common import fail, say


def evaluate_search_command(queries: Path | None, report_dir: Path | None, tune: bool,
                            as_json: bool) -> None:
    """Score every search mode on the query set; print the table, write the reports."""
    from nlp.config import PROJECT_ROOT, get_settings
    from nlp.search_quality import DEFAULT_QUERIES, run_search_evaluation

    queries = queries or DEFAULT_QUERIES
    if not queries.is_file():
        fail(f"query set {str(queries)!r} does not exist")
    settings = get_settings()
    result, paths = run_search_evaluation(settings, queries, report_dir or PROJECT_ROOT / "reports",
                                          tune=tune, progress=say)
    if as_json:
        typer.echo(json.dumps({"modes": {m: b["figures"] for m, b in result["modes"].items()},
                               "fusion": result["fusion"], "tuning": result.get("tuning"),
                               "problems": result["problems"],
                               "reports": {k: str(v) for k, v in paths.items()}}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"search on {len(result['queries'])} reviewer queries")
    for column in ("mode", "recall@5", "MRR@10", "nDCG@10"):
        table.add_column(column)
    for mode, block in result["modes"].items():
        f = block["figures"]
        table.add_row(mode, f"{f['recall@5']:.3f}", f"{f['mrr@10']:.3f}", f"{f['ndcg@10']:.3f}")
    Console().print(table)
    for problem in result["problems"]:
        say(f"query set: {problem}")
    for path in paths.values():
        typer.echo(str(path))
