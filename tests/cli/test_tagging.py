"""The ``wsis tag`` / ``train`` / ``evaluate`` contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nlp.cli import app as wsis_app
from nlp.config import get_settings

KEYS = ("action_lines", "sdgs", "sdg_targets", "gdc", "gdc_commitments")


@pytest.fixture
def app() -> typer.Typer:
    return wsis_app


@pytest.fixture
def zero_shot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh home and models dir, hash embedder, no data dir: models build zero-shot."""
    monkeypatch.setenv("WSIS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WSIS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("WSIS_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("WSIS_EMBEDDING_MODEL", "hash:256")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_tag_jsonl_contract(app, zero_shot_env: Path) -> None:
    source = zero_shot_env / "in.jsonl"
    lines = [
        {"id": "a", "text": "Connect every school to broadband by 2030."},
        {"id": 7, "text": "   "},
        {"id": "c", "text": "Cybersecurity and trust in the use of ICTs."},
        {"id": "d"},
    ]
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out = zero_shot_env / "out" / "tags.jsonl"
    result = CliRunner().invoke(app, ["tag", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", 7, "c", "d", None]
    assert "error" in rows[1] and "empty" in rows[1]["error"]
    assert "error" in rows[3] and "error" in rows[4]
    for row in (rows[0], rows[2]):
        assert "error" not in row
        for key in KEYS:
            items = row[key]
            assert items, key
            assert set(items[0]) == {"label", "score", "predicted"}
            scores = [i["score"] for i in items]
            assert scores == sorted(scores, reverse=True)
            assert all(0.0 <= s <= 1.0 for s in scores)
        assert {i["label"] for i in row["action_lines"]} >= {"C1", "C7", "C7.e-learning", "C11"}
        assert {i["label"] for i in row["gdc"]} >= {"GDC-1", "GDC-5"}
        assert "GDC-1.1.d" in {i["label"] for i in row["gdc_commitments"]}


def test_tag_jsonl_all_good_exits_zero(app, zero_shot_env: Path) -> None:
    source = zero_shot_env / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "E-health records for rural clinics."}) + "\n")
    result = CliRunner().invoke(app, ["tag", "--input", str(source)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["id"] == 1 and set(KEYS) <= set(row)


def test_tag_text_table_and_json(app, zero_shot_env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["tag", "Digital skills training for teachers and girls."])
    assert result.exit_code == 0, result.output
    assert "action_lines" in result.stdout
    result = runner.invoke(app, ["tag", "--json", "Digital skills training for teachers."])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    top = payload["action_lines"][0]
    assert {"sentences", "examples", "keywords", "threshold"} <= set(top)


def test_tag_usage_errors(app, zero_shot_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["tag"]).exit_code == 2
    assert runner.invoke(app, ["tag", "   "]).exit_code == 2
    assert runner.invoke(app, ["tag", "--input", str(zero_shot_env / "missing.jsonl")]).exit_code == 2


def test_train_zero_shot_without_data(app, zero_shot_env: Path) -> None:
    result = CliRunner().invoke(app, ["train", "gdc", "--json", "--version", "t1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["mode"] == "zero-shot"
    assert Path(summary["models"]["gdc"]).name == "t1"


def test_evaluate_without_data_is_a_clear_error(app, zero_shot_env: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "sdgs"])
    assert result.exit_code == 2
    assert "WSIS_DATA_DIR" in result.output
