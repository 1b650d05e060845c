"""``wsis report corpus``: the corpus views as XLSX, CSV and JSON Lines, and its refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def zero_shot_home(env_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """env_home without the data directory: the taggers build zero-shot, in seconds."""
    monkeypatch.setenv("WSIS_DATA_DIR", str(env_home / "no-data"))
    return env_home


def test_report_corpus_writes_every_format(zero_shot_home: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    book_path = tmp_path / "insights.xlsx"
    result = run("report", "corpus", "--format", "xlsx", "-o", str(book_path))
    assert result.exit_code == 0, result.output
    assert "themes:" in result.stderr  # progress of the clustering
    book = load_workbook(book_path, read_only=True)
    assert book.sheetnames == ["Matrix", "Gaps", "Themes", "Compare", "Cross-walk"]
    sheet = [list(r) for r in book["Matrix"].iter_rows(values_only=True)]

    result = run("report", "corpus", "--format", "csv", "--view", "matrix")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == sheet[0] and len(rows) == len(sheet) == 6
    assert [[float(v) for v in r[7:]] for r in rows[1:]] == [r[7:] for r in sheet[1:]]

    grouped = run("report", "corpus", "--format", "csv", "--view", "matrix", "--group-by",
                  "organization", "-f", "kind=outcome")
    assert sorted(r[0] for r in list(csv.reader(io.StringIO(grouped.stdout)))[1:]) == [
        "IEC", "ITU-T WTSA"]

    out = tmp_path / "tags.jsonl"
    result = run("report", "corpus", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == sum(int(r[6]) for r in rows[1:])
    assert {"passage_id", "doc_id", "text", "tags"} <= set(lines[0])
    assert set(lines[0]["tags"]) >= {"action_lines", "sdgs", "gdc_commitments"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "pdf"), "format 'pdf'"),
        (("--format", "csv", "--view", "pie"), "view 'pie'"),
        (("--key", "colours"), "key 'colours'"),
        (("--format", "csv", "-f", "colour=red"), "Unknown filter key"),
        (("-o", "/no/such/dir/x.xlsx"), "no such directory"),
    ],
)
def test_report_corpus_refuses_bad_arguments(zero_shot_home: Path, args, message) -> None:
    result = run("report", "corpus", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_report_help() -> None:
    result = run("report", "corpus", "--help")
    assert result.exit_code == 0 and "--format" in result.stdout
