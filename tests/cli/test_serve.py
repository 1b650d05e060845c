"""``wsis export-onnx`` (the export itself is covered by tests/nlp/test_onnx_embed.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from nlp.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_export_onnx_of_no_model_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = run("export-onnx", "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "not the bundled model" in result.stderr
