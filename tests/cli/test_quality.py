"""``wsis evaluate search``: the table, the reports and a clear error for a missing set."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nlp.cli import app


def test_evaluate_search_prints_the_table_and_writes_reports(env_home: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = CliRunner().invoke(app, ["evaluate", "search", "--report-dir", str(out)])
    assert result.exit_code == 0, result.output
    for mode in ("semantic", "lexical", "hybrid"):
        assert mode in result.output
    data = json.loads((out / "search-eval.json").read_text())
    assert set(data["modes"]) == {"semantic", "lexical", "hybrid"}
    assert len(data["modes"]["hybrid"]["queries"]) == len(data["queries"]) >= 60
    markdown = (out / "search-eval.md").read_text()
    assert "| hybrid |" in markdown and "MRR@10" in markdown


def test_evaluate_search_json_and_tuning(env_home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "search", "--json", "--tune",
                                      "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    assert data["tuning"]["chosen"]["family"] in ("blend", "rrf")
    assert set(data["tuning"]["cross_validated"]) == {"blend", "rrf"}


def test_evaluate_search_missing_query_set(env_home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "search", "--queries",
                                      str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output
