from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlp.errors import IndexNotFoundError, ManifestMismatchError
from nlp.index import VectorIndex, current_version, load_current, publish
from nlp.types import DocumentMeta, Passage

DIM = 32


def unit(rows: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def passages_for(doc_id: str, n: int) -> list[Passage]:
    return [Passage(f"{doc_id}-{i:04d}", doc_id, i, i * 10, i * 10 + 5, f"text {doc_id} {i}")
            for i in range(n)]


def build(kind: str = "flat", docs: int = 4, per_doc: int = 25) -> tuple[VectorIndex, dict]:
    index = VectorIndex("fake-model", DIM, kind)
    vectors = {}
    for d in range(docs):
        doc_id = f"doc{d}"
        vectors[doc_id] = unit(per_doc, seed=d)
        index.add({doc_id: DocumentMeta(title=doc_id, organization=f"org{d % 2}")},
                  passages_for(doc_id, per_doc), vectors[doc_id])
    return index, vectors


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_flat_top_k_equals_numpy_brute_force() -> None:
    index, _ = build()
    queries = unit(20, seed=99)
    scores, rows = index.search(queries, 10)
    expected = brute_force(index.vectors, queries, 10)
    assert np.array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ index.vectors.T, expected, 1),
                               rtol=1e-5)


def test_filtered_search_equals_brute_force_on_the_subset() -> None:
    index, _ = build()
    allowed = np.array([i for i, p in enumerate(index.passages) if p.doc_id in {"doc1", "doc3"}])
    queries = unit(5, seed=7)
    _, rows = index.search(queries, 8, allowed)
    subset = brute_force(index.vectors[allowed], queries, 8)
    assert np.array_equal(rows, allowed[subset])


def test_hnsw_recall_is_high() -> None:
    index, _ = build("hnsw", docs=8, per_doc=100)
    queries = unit(50, seed=5)
    _, rows = index.search(queries, 10)
    truth = brute_force(index.vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)])
    assert recall >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_gives_identical_results(tmp_path: Path, kind: str) -> None:
    index, _ = build(kind)
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix", "fake-model", DIM)
    queries = unit(10, seed=3)
    a_scores, a_rows = index.search(queries, 7)
    b_scores, b_rows = loaded.search(queries, 7)
    assert np.array_equal(a_rows, b_rows)
    assert np.array_equal(a_scores, b_scores)
    assert loaded.passages == index.passages and loaded.documents == index.documents
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["embedding"] == {"model": "fake-model", "dimension": DIM}
    assert manifest["passage_count"] == 100 and manifest["document_count"] == 4
    assert manifest["index_kind"] == kind
    assert {"faiss", "numpy", "wsis-lens"} <= set(manifest["libraries"])


def test_manifest_mismatch_raises_and_names_both(tmp_path: Path) -> None:
    index, _ = build()
    index.save(tmp_path / "ix")
    with pytest.raises(ManifestMismatchError, match="'fake-model'.*'other-model'"):
        VectorIndex.load(tmp_path / "ix", "other-model", DIM)
    with pytest.raises(ManifestMismatchError, match="dimension 64"):
        VectorIndex.load(tmp_path / "ix", "fake-model", 64)


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    index, _ = build()
    index.save(tmp_path / "ix")
    with pytest.raises(FileExistsError):
        index.save(tmp_path / "ix")


def test_incremental_add_and_remove_equal_a_full_rebuild() -> None:
    index, vectors = build(docs=4)
    index.remove_documents(["doc1"])
    extra = unit(25, seed=42)
    index.add({"doc9": DocumentMeta(title="doc9")}, passages_for("doc9", 25), extra)

    rebuilt = VectorIndex("fake-model", DIM)
    for doc_id in ["doc0", "doc2", "doc3"]:
        rebuilt.add({doc_id: DocumentMeta(title=doc_id, organization=f"org{int(doc_id[-1]) % 2}")},
                    passages_for(doc_id, 25), vectors[doc_id])
    rebuilt.add({"doc9": DocumentMeta(title="doc9")}, passages_for("doc9", 25), extra)

    queries = unit(10, seed=11)
    a_scores, a_rows = index.search(queries, 15)
    b_scores, b_rows = rebuilt.search(queries, 15)
    assert [[index.passages[r].id for r in row] for row in a_rows] == \
           [[rebuilt.passages[r].id for r in row] for row in b_rows]
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-6)
    assert "doc1" not in index.documents


def test_adding_a_document_again_replaces_it() -> None:
    index, _ = build(docs=2)
    index.add({"doc0": DocumentMeta(title="new")}, passages_for("doc0", 5), unit(5, seed=1))
    assert sum(p.doc_id == "doc0" for p in index.passages) == 5
    assert index.documents["doc0"].title == "new"
    assert len(index) == 30


def test_publish_switches_versions_atomically(tmp_path: Path) -> None:
    root = tmp_path / "index"
    with pytest.raises(IndexNotFoundError):
        load_current(root)
    index, _ = build(docs=2)
    publish(index, root)
    assert current_version(root) == 1
    index.remove_documents(["doc0"])
    publish(index, root)
    assert current_version(root) == 2
    assert len(load_current(root, "fake-model", DIM)) == 25
    # A half-written version left by a crash is never loaded.
    (root / ".v000003.tmp-crash").mkdir()
    (root / ".v000003.tmp-crash" / "index.faiss").write_bytes(b"partial")
    assert current_version(root) == 2
    assert len(load_current(root)) == 25


def test_old_versions_are_pruned(tmp_path: Path) -> None:
    index, _ = build(docs=1)
    for _ in range(6):
        publish(index, tmp_path)
    versions = sorted(p.name for p in tmp_path.glob("v*"))
    assert versions == ["v000004", "v000005", "v000006"]
    assert (tmp_path / "CURRENT").read_text() == "v000006"


def test_bad_vectors_shape() -> None:
    index = VectorIndex("fake-model", DIM)
    with pytest.raises(ValueError, match="shape"):
        index.add({"d": DocumentMeta(title="d")}, passages_for("d", 3), unit(2, seed=0))


def test_ivf_search_matches_exact_on_clustered_data() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, DIM)).astype(np.float32)
    data = centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, DIM)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = VectorIndex("fake-model", DIM, "ivf")
    for d in range(4):  # growing in steps retrains the centroids as the corpus grows
        index.add({f"d{d}": DocumentMeta(title="x")}, passages_for(f"d{d}", 1000),
                  data[d * 1000 : (d + 1) * 1000])
    assert index.structure == "ivf" and index._faiss_index.nlist >= 50
    queries = data[rng.integers(0, 4000, 50)] + 0.05 * rng.normal(size=(50, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, rows = index.search(queries, 10)
    truth = brute_force(index.vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)])
    assert recall >= 0.95
    allowed = np.arange(0, 2000)
    _, rows = index.search(queries[:5], 5, allowed)
    assert set(rows.ravel()) <= set(allowed)


def test_auto_picks_the_structure_by_size(monkeypatch, tmp_path: Path) -> None:
    import nlp.index as module

    monkeypatch.setattr(module, "AUTO_FLAT_MAX", 50)
    monkeypatch.setattr(module, "AUTO_HNSW_MAX", 120)
    index = VectorIndex("fake-model", DIM, "auto")
    sizes = []
    for d in range(4):
        index.add({f"d{d}": DocumentMeta(title="x")}, passages_for(f"d{d}", 40), unit(40, seed=d))
        sizes.append(index.structure)
    assert sizes == ["flat", "hnsw", "hnsw", "ivf"]
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert loaded.structure == "ivf" and loaded.kind == "auto"
    queries = unit(3, seed=50)
    assert np.array_equal(index.search(queries, 5)[1], loaded.search(queries, 5)[1])
    index.remove_documents(["d0", "d1", "d2"])
    assert index.structure == "flat" and len(index) == 40
