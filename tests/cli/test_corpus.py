"""``wsis ingest | index | search | passages | documents | remove``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_index_then_search_json_is_stable(env_home: Path) -> None:
    result = run("index", "--json")
    assert result.exit_code == 0, result.output
    update = json.loads(result.stdout)
    assert update["added_documents"] == 5 and update["version"] == 1
    result = run("search", "routing security", "--json", "--k", "4", "--mode", "lexical")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4 and [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"rank", "score", "passage_id", "doc_id", "start", "end", "text",
                            "clean_text", "title", "organization", "kind", "date", "source",
                            "scores", "also_in", "also_in_documents"}
    again = run("search", "routing security", "--json", "--k", "4", "--mode", "lexical")
    assert again.stdout == result.stdout


def test_search_with_filters(env_home: Path) -> None:
    result = run("search", "Internet", "--json", "-f", "organization=Internet Society", "-k", "5")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and {r["organization"] for r in rows} == {"Internet Society"}


def test_passages_and_documents_json(env_home: Path) -> None:
    docs = [json.loads(l) for l in run("documents", "--json").stdout.splitlines()]
    assert len(docs) == 5
    result = run("passages", "--json", "--doc", docs[0]["doc_id"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all(r["doc_id"] == docs[0]["doc_id"] for r in rows)
    assert run("passages", "--doc", "nope").exit_code == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("search", "x", "--mode", "fuzzy"), 2, "mode 'fuzzy'"),
        (("search", "  "), 2, "query is empty"),
        (("search", "x", "-f", "colour=red"), 2, "Unknown filter key"),
        (("ingest", "/no/such/file.pdf"), 2, "no such file"),
        (("remove", "0000000000000000"), 1, "no document"),
    ],
)
def test_bad_input_exit_codes(env_home: Path, args, code, message) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert message in result.stderr


def test_ingest_corrupt_and_empty_files(env_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.5 this is not really a pdf")
    empty = tmp_path / "empty.txt"
    empty.write_text("   ")
    good = tmp_path / "good.txt"
    good.write_text("Universal broadband for every school is a shared commitment.")
    result = run("ingest", str(bad), str(empty), str(good), "--json")
    assert result.exit_code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["added", "error", "error"]
    reasons = {Path(e["path"]).name: e["reason"] for e in events if e["event"] == "error"}
    assert "corrupt" in reasons["bad.pdf"] and "empty" in reasons["empty.txt"]
    listed = [json.loads(l) for l in run("documents", "--json").stdout.splitlines()]
    assert [d["source"] for d in listed] == ["good.txt"]  # nothing else half-stored
