"""ONNX Runtime embedder: same vectors as sentence-transformers, manifest checks, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlp.config import PROJECT_ROOT, get_settings
from nlp.embed import BUNDLED_MODEL, bundled_model_path
from nlp.errors import ManifestMismatchError
from nlp.onnx_embed import OnnxEmbedder, pool
from nlp.onnx_format import (
    FORMAT_VERSION,
    KIND,
    MANIFEST,
    check_source,
    is_export_dir,
    read_manifest,
)

LONG_TEXT = " ".join(
    f"Paragraph {i}: multistakeholder cooperation on broadband, cybersecurity, e-government, "
    "capacity building and the digital divide remains central to the WSIS Action Lines."
    for i in range(30)
)
TEXTS = [
    "Connect every school to the internet by 2030.",
    "Action Line C5: building confidence and security in the use of ICTs.",
    "The Global Digital Compact commits to close all digital divides.",
    "Affordable broadband for rural communities in least developed countries",
    "gender digital divide",
    "e-government",
    "What role should the Internet Governance Forum play after 2025?",
    "Les technologies de l'information favorisent le développement durable.",
    "Datos abiertos y gobierno electrónico en América Latina.",
    "SDG 9.c: significantly increase access to ICT.",
    "Cybersecurity capacity building for small island developing states remains a priority.",
    "ICT4D, AI & data governance — emerging issues (2024–2025).",
    "1234567890",
    "!!!",
    "",
    " ",
    "a",
    (
        "The WSIS+20 review will assess progress since the Tunis Agenda of 2005 and set "
        "directions for the information society beyond 2025, including artificial intelligence."
    ),
    "Digital public infrastructure, interoperability and open standards.",
    LONG_TEXT,
]


# --------------------------------------------------------------------------- no model needed


def test_mean_pooling_ignores_padding() -> None:
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean"), [[2.0, 3.0]])
    np.testing.assert_allclose(pool(hidden, mask, "max"), [[3.0, 4.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls"), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="'weightedmean'"):
        pool(hidden, mask, "weightedmean")


def test_manifest_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"kind": "faiss-index", "format_version": 1}))
    with pytest.raises(ManifestMismatchError, match="'faiss-index'"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"kind": KIND, "format_version": 99}))
    with pytest.raises(ManifestMismatchError, match=f"99.*{FORMAT_VERSION}"):
        read_manifest(tmp_path)
    assert not is_export_dir(tmp_path)
    assert not is_export_dir(tmp_path / "missing")


def test_publish_keeps_an_export_another_process_published_first(tmp_path: Path) -> None:
    from nlp.onnx_export import _publishing

    winner = tmp_path / "model"
    winner.mkdir()
    (winner / MANIFEST).write_text("first")
    with _publishing(winner, replace=False) as loser:
        (loser / MANIFEST).write_text("second")
    assert (winner / MANIFEST).read_text() == "first" and not loser.exists()

    with _publishing(winner, replace=True) as loser:
        (loser / MANIFEST).write_text("second")
    assert (winner / MANIFEST).read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from nlp.onnx_embed import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert 1 <= default_threads() <= 4


def test_from_spec_rejects_unknown_spec() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        OnnxEmbedder.from_spec("no-such-model")


# --------------------------------------------------------------------------- real model


@pytest.mark.model
def test_export_directory_and_manifest(export_dir: Path) -> None:
    assert sorted(p.name for p in export_dir.parent.iterdir()) == [BUNDLED_MODEL]  # no tmp left
    manifest = read_manifest(export_dir)
    assert manifest["model_name"] == BUNDLED_MODEL
    assert manifest["dimension"] == 384
    assert manifest["max_seq_length"] == 256
    assert manifest["pooling"] == "mean"
    assert manifest["source"]["weights"] == "model.safetensors"
    assert len(manifest["source"]["sha256"]) == 64
    assert {"torch", "onnxruntime", "tokenizers"} <= set(manifest["library_versions"])
    assert (export_dir / manifest["files"]["fp32"]["path"]).is_file()
    assert (export_dir / "tokenizer.json").is_file()


@pytest.mark.model
def test_matches_sentence_transformers(onnx_embedder: OnnxEmbedder, real_embedder) -> None:
    long_tokens = len(onnx_embedder.tokenizer.encode(LONG_TEXT, add_special_tokens=True).ids)
    assert long_tokens == 256  # truncated to max_seq_length, not to tokenizer.json's 128
    assert onnx_embedder.name == real_embedder.name == BUNDLED_MODEL
    assert onnx_embedder.dimension == real_embedder.dimension == 384

    got = onnx_embedder.encode(TEXTS, batch_size=8)
    expected = real_embedder.encode(TEXTS, batch_size=8)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * expected).sum(axis=1)
    assert cosine.min() >= 0.999, dict(zip(TEXTS, cosine.round(5)))


@pytest.mark.model
def test_batch_equals_one_at_a_time(onnx_embedder: OnnxEmbedder) -> None:
    batched = onnx_embedder.encode(TEXTS, batch_size=5)
    single = np.vstack([onnx_embedder.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=2e-5)
    assert onnx_embedder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        onnx_embedder.encode("not a list")  # type: ignore[arg-type]


@pytest.mark.model
def test_from_spec_checks_the_source_weights(
    export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "onnx").mkdir(parents=True)
    monkeypatch.setenv("WSIS_HOME", str(home))
    get_settings.cache_clear()
    try:
        # The cached export of the bundled model is reused when its weights match.
        (home / "onnx" / BUNDLED_MODEL).symlink_to(export_dir)
        assert OnnxEmbedder.from_spec(BUNDLED_MODEL, home / "onnx").name == BUNDLED_MODEL
        # An export directory is loaded directly.
        assert OnnxEmbedder.from_spec(str(export_dir)).path == export_dir

        # A model directory whose weights differ from those the export was made from.
        other = tmp_path / "other-model"
        other.mkdir()
        for item in bundled_model_path().iterdir():
            if item.name != "model.safetensors":
                (other / item.name).symlink_to(item)
        (other / "model.safetensors").write_bytes(b"not the same weights")
        (home / "onnx" / "other-model").symlink_to(export_dir)
        with pytest.raises(ManifestMismatchError, match="delete the export directory"):
            OnnxEmbedder.from_spec(str(other), home / "onnx")
        with pytest.raises(ManifestMismatchError):
            check_source(export_dir, other)
    finally:
        get_settings.cache_clear()


@pytest.mark.model
def test_encoding_never_imports_torch(export_dir: Path) -> None:
    script = (
        "import json, sys\n"
        "from nlp.embed import load_embedder\n"
        f"embedder = load_embedder({str(export_dir)!r}, backend='onnx')\n"
        "vectors = embedder.encode(['connect every school', 'gender digital divide'])\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in {'torch', 'transformers', 'sentence_transformers'})\n"
        "print(json.dumps({'shape': list(vectors.shape), 'heavy': heavy}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"shape": [2, 384], "heavy": []}


SPAN_TEXT = ("We will connect every school to the Internet by 2030. "
             "Teachers will be trained in digital skills, and children protected online.")


@pytest.mark.model
def test_span_vectors_come_from_the_text_pass(onnx_embedder: OnnxEmbedder, real_embedder) -> None:
    first = (0, SPAN_TEXT.index(".") + 1)
    second = (SPAN_TEXT.index("Teachers"), len(SPAN_TEXT))
    texts, vectors = onnx_embedder.encode_spans([SPAN_TEXT, "Short text."], [[first, second], []])
    # the text rows are what encode() gives; each span row is its tokens' mean in context
    np.testing.assert_allclose(texts, onnx_embedder.encode([SPAN_TEXT, "Short text."]),
                               atol=1e-5)
    assert vectors[0].shape == (2, onnx_embedder.dimension) and vectors[1].shape[0] == 0
    np.testing.assert_allclose(np.linalg.norm(vectors[0], axis=1), 1.0, atol=1e-5)
    enc = onnx_embedder.tokenizer.encode(SPAN_TEXT)
    hidden, _ = onnx_embedder._hidden([enc])
    inside = [t for t, (a, b) in enumerate(enc.offsets)
              if not enc.special_tokens_mask[t] and b <= first[1] and b > a]
    expected = hidden[0, inside].mean(axis=0)
    np.testing.assert_allclose(vectors[0][0], expected / np.linalg.norm(expected), atol=1e-5)
    # in context, not alone: the sentence's vector differs from embedding it on its own
    alone = onnx_embedder.encode([SPAN_TEXT[slice(*first)]])[0]
    assert float(vectors[0][0] @ alone) < 0.999
    # the torch backend gives the same numbers
    t_texts, t_vectors = real_embedder.encode_spans([SPAN_TEXT], [[first, second]])
    np.testing.assert_allclose(t_texts[0], texts[0], atol=1e-4)
    np.testing.assert_allclose(t_vectors[0], vectors[0], atol=1e-4)


@pytest.mark.model
def test_a_span_past_the_length_limit_is_embedded_alone(onnx_embedder: OnnxEmbedder) -> None:
    long_text = " ".join(["Digital inclusion matters for every community."] * 60)
    tail = (len(long_text) - len("Digital inclusion matters for every community."), len(long_text))
    _, vectors = onnx_embedder.encode_spans([long_text], [[tail]])
    np.testing.assert_allclose(vectors[0][0], onnx_embedder.encode([long_text[slice(*tail)]])[0],
                               atol=1e-5)
