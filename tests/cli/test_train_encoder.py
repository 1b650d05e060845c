"""``wsis train encoder``: the fine-tuned body rebuilt from the data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import app
from nlp.config import get_settings
from tests.datahelp import data_dir, needs_data


@pytest.fixture
def models_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WSIS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WSIS_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_without_data_the_encoder_is_refused_and_nothing_is_written(
        models_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSIS_DATA_DIR", str(models_env / "no-data"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["train", "encoder", "--epochs", "1"])
    assert result.exit_code != 0
    assert "WSIS_DATA_DIR" in result.output
    assert not (models_env / "models" / "encoders").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["train", "sdgs", "--epochs", "2"], "apply to `wsis train encoder` only"),
    (["train", "encoder", "--epochs", "0"], "epochs must be at least 1"),
    (["train", "encoder", "--interpolate", "0"], "interpolate must be in (0, 1]"),
    (["train", "encoder", "--version", "../x"], "letters, digits"),
    (["train", "encoder", "--feedback", "f.csv"], "data directory only"),
])
def test_bad_encoder_options_fail_clearly(models_env: Path, args: list[str],
                                          message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output
    assert not (models_env / "models" / "encoders").exists()


@needs_data
@pytest.mark.model
def test_train_encoder_writes_a_body_with_its_recipe(models_env: Path) -> None:
    tiny = ["--epochs", "1", "--texts-per-label", "1", "--max-tokens", "16", "--seed", "3"]
    result = CliRunner().invoke(app, ["train", "encoder", "--version", "tiny", "--json", *tiny])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{"):])
    body = Path(out["path"])
    assert body == models_env / "models" / "encoders" / "tiny"
    manifest = json.loads((body / "manifest.json").read_text())
    assert manifest["trained_by"] == "wsis train encoder" and manifest["name"] == "tiny"
    assert (manifest["epochs"], manifest["per_label_cap"], manifest["max_seq_length"],
            manifest["seed"]) == (1, 1, 16, 3)
    assert manifest["n_labels"] == 18 and all(lab.startswith("al:") for lab in manifest["labels"])
    assert manifest["texts_per_source"]["wsis-prizes-2021"] > 100
    assert manifest["data_files"] and all(len(h) == 64 for h in manifest["data_files"].values())
    # the Compact's labelled paragraphs train the Action Line layer, not the body
    assert "gdc-text" not in manifest["texts_per_source"]
    assert not any(f.startswith("gdc-text/") for f in manifest["data_files"])
    assert data_dir() is not None

    # the same recipe saved as a weight-space average with the base model
    result = CliRunner().invoke(app, ["train", "encoder", "--version", "tiny-half",
                                      "--interpolate", "0.5", *tiny])
    assert result.exit_code == 0, result.output
    half = json.loads((body.parent / "tiny-half" / "manifest.json").read_text())
    assert half["interpolation"]["alpha"] == 0.5
    assert half["training_data_sha256"] == manifest["training_data_sha256"]
    assert sorted(p.name for p in body.parent.iterdir()) == ["tiny", "tiny-half"]  # no scratch
