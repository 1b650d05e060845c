"""The CLI on default settings: the first command that needs the encoder exports it to ONNX
(with a progress line, the one step that uses torch); after that ``wsis search`` and ``wsis
tag`` never map libtorch, and commands that need no model import no ML library at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="reads /proc/self/maps")]

# Runs the CLI as the `wsis` script does; at exit records the heavy modules imported and
# whether libtorch was mapped into the process.
PROBE = """
import atexit, json, os, sys
def probe():
    heavy = ("torch", "sentence_transformers", "transformers", "faiss", "onnxruntime",
             "tokenizers", "sklearn", "scipy", "nlp.training")
    with open(os.environ["WSIS_TEST_PROBE"], "w") as out:
        json.dump({"libtorch": "libtorch" in open("/proc/self/maps").read(),
                   "modules": sorted(m for m in heavy if m in sys.modules)}, out)
atexit.register(probe)
sys.argv = ["wsis", *sys.argv[1:]]
from nlp.cli import main
main()
"""


def wsis(home: Path, tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    probe = tmp / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSIS_")}
    corpus = PROJECT_ROOT / "corpus" / "wsis20"
    env.update(WSIS_HOME=str(home), WSIS_TEST_PROBE=str(probe), HF_HUB_OFFLINE="1",
               WSIS_MODELS_DIR=str(PROJECT_ROOT / "models"), WSIS_CORPUS_DIR=str(corpus))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(probe.read_text())


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where the first `wsis search` exported the model and built the index."""
    home = tmp_path_factory.mktemp("torch-free") / "home"
    done, _ = wsis(home, home.parent, "search", "connect every school", "--k", "1", "--json")
    assert "exporting all-MiniLM-L6-v2 to ONNX" in done.stderr  # the progress line
    manifest = json.loads((home / "onnx" / "all-MiniLM-L6-v2" / "manifest.json").read_text())
    assert manifest["model_name"] == "all-MiniLM-L6-v2"
    return home


def test_search_on_default_settings_never_maps_libtorch(built_home: Path, tmp_path: Path) -> None:
    done, probe = wsis(built_home, tmp_path, "search", "connect every school to the internet",
                       "--k", "3", "--json")
    assert not probe["libtorch"], probe
    assert {"torch", "transformers", "sentence_transformers"}.isdisjoint(probe["modules"])
    assert len(done.stdout.splitlines()) == 3
    assert done.stderr == ""  # no progress bars, no warnings


def test_tag_on_default_settings_never_maps_libtorch(built_home: Path, tmp_path: Path) -> None:
    done, probe = wsis(built_home, tmp_path, "tag", "--json",
                       "We will connect every school to the Internet by 2030.")
    assert not probe["libtorch"], probe
    # inference never imports training code (the shipped models are current), nor scipy
    assert {"torch", "transformers", "sentence_transformers", "sklearn", "scipy",
            "nlp.training"}.isdisjoint(probe["modules"]), probe
    result = json.loads(done.stdout)
    assert "4" in [t["label"] for t in result["sdgs"] if t["predicted"]]


def test_commands_without_a_model_import_no_ml_library(built_home: Path, tmp_path: Path) -> None:
    for args in (["--help"], ["documents", "--json"], ["passages", "--json"]):
        done, probe = wsis(built_home, tmp_path, *args)
        assert not probe["libtorch"] and probe["modules"] == [], (args, probe)
        assert done.stdout
