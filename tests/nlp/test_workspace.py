from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlp.config import PROJECT_ROOT, Settings
from nlp.errors import DocumentError, ManifestMismatchError
from nlp.index import current_version
from nlp.types import DocumentMeta
from nlp.workspace import Workspace

CORPUS = PROJECT_ROOT / "corpus" / "wsis20"

TEXT = ("Governments commit to connecting every rural clinic to broadband by 2030. "
        "Community networks and spectrum sharing will lower the cost of access.")


def test_first_run_loads_the_default_corpus(settings, hash_embedder) -> None:
    ws = Workspace(settings, embedder=hash_embedder)
    update = ws.ensure_ready()
    assert update.added_documents == 5 and update.version == 1
    assert ws.store.count_documents() == 5
    assert len(ws.index()) == update.passage_count == len(ws.store.passages())
    again = ws.ensure_ready()
    assert not again.changed and again.version == 1  # nothing to do the second time


def test_ingest_bytes_then_remove_only_embeds_the_new_document(settings, hash_embedder) -> None:
    calls: list[int] = []

    class CountingEmbedder:
        name, dimension = hash_embedder.name, hash_embedder.dimension

        def encode(self, texts, batch_size=32, show_progress=False):
            calls.append(len(texts))
            return hash_embedder.encode(texts)

    ws = Workspace(settings, embedder=CountingEmbedder())
    ws.ensure_ready()
    before = len(ws.index())
    vectors_before = ws.index().vectors.copy()
    document, added = ws.ingest_bytes(TEXT.encode(), "clinics.txt",
                                      DocumentMeta(title="Clinics", organization="WHO"))
    assert added and calls[-1] == 1  # one new passage embedded, nothing else
    assert len(ws.index()) == before + 1
    assert np.array_equal(ws.index().vectors[:before], vectors_before)
    assert ws.search("rural clinic broadband", k=1, mode="lexical")[0].meta.organization == "WHO"
    _, added_again = ws.ingest_bytes(TEXT.encode(), "copy.txt")
    assert not added_again
    assert ws.remove(document.id)
    assert len(ws.index()) == before and not ws.index().has_document(document.id)
    assert not ws.remove(document.id)


def test_bad_upload_stores_nothing(settings, hash_embedder) -> None:
    ws = Workspace(settings, embedder=hash_embedder)
    ws.ensure_ready()
    version = current_version(ws.index_root)
    with pytest.raises(DocumentError):
        ws.ingest_bytes(b"%PDF-1.4 broken", "x.pdf")
    assert ws.store.count_documents() == 5 and current_version(ws.index_root) == version


def test_failed_indexing_rolls_back_the_stored_document(settings, hash_embedder) -> None:
    ws = Workspace(settings, embedder=hash_embedder)
    ws.ensure_ready()

    class Broken:
        name, dimension = hash_embedder.name, hash_embedder.dimension

        def encode(self, texts, batch_size=32, show_progress=False):
            raise RuntimeError("encoder crashed")

    ws._embedder = Broken()
    with pytest.raises(RuntimeError):
        ws.ingest_bytes(TEXT.encode(), "clinics.txt")
    assert ws.store.count_documents() == 5


def test_another_process_publishing_is_picked_up(settings, hash_embedder) -> None:
    reader = Workspace(settings, embedder=hash_embedder)
    reader.ensure_ready()
    writer = Workspace(settings, embedder=hash_embedder)
    writer.ingest_bytes(TEXT.encode(), "clinics.txt")
    assert len(reader.index()) == len(writer.index())  # version check reloads


def test_changing_the_embedder_refuses_the_old_index(settings, hash_embedder) -> None:
    from nlp.embed import HashEmbedder

    Workspace(settings, embedder=hash_embedder).ensure_ready()
    other = Workspace(settings, embedder=HashEmbedder(128))
    with pytest.raises(ManifestMismatchError, match="hash:256.*hash:128"):
        other.index()
    assert other.update_index(rebuild=True).passage_count > 0  # an explicit rebuild works


def test_an_index_of_raw_passage_text_is_rebuilt_and_says_why(settings, hash_embedder) -> None:
    """Indexes written before passages were embedded without Markdown marks have no
    ``passage_text`` in their manifest: their vectors are of the raw text, so the next update
    re-embeds everything (and says so) instead of mixing old and new vectors."""
    from nlp.index import current_version_dir
    from nlp.types import PASSAGE_TEXT

    ws = Workspace(settings, embedder=hash_embedder)
    first = ws.ensure_ready()
    assert first.rebuilt_because == ""
    manifest_path = current_version_dir(settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["passage_text"] == PASSAGE_TEXT
    del manifest["passage_text"]  # as written by the previous version
    manifest_path.write_text(json.dumps(manifest))
    fresh = Workspace(settings, embedder=hash_embedder)
    assert fresh.index().passage_text == "raw"
    update = fresh.ensure_ready()
    assert update.changed and update.version == first.version + 1
    assert "'raw'" in update.rebuilt_because and PASSAGE_TEXT in update.rebuilt_because
    assert update.embedded_passages == update.passage_count == first.passage_count
    index = fresh.index()
    assert index.passage_text == PASSAGE_TEXT
    passage = next(p for p in index.passages if "**" in p.text)  # Markdown in the source
    np.testing.assert_allclose(index.vectors[index.row(passage.id)],
                               hash_embedder.encode([passage.clean_text])[0], rtol=1e-6)
    assert not fresh.ensure_ready().changed  # and only once


def test_folder_ingest_with_errors(settings, hash_embedder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# Clinics\n\n" + TEXT)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    ws = Workspace(settings, embedder=hash_embedder)
    result = ws.ingest([CORPUS, folder])
    assert len(result.added) == 6 and len(result.errors) == 1
    assert result.errors[0].path.endswith("broken.pdf")


# --------------------------------------------------------------------------- settings passed down


def test_onnx_exports_go_to_the_workspace_home(tmp_path: Path, env_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Workspace(Settings(home=X)) exports into X/onnx, not into the environment's home."""
    from nlp import onnx_export

    source = tmp_path / "my-encoder"
    source.mkdir()
    exported: list[Path] = []

    class Exported(Exception):
        pass

    def fake_export(src: Path, target: Path, **_: object) -> Path:
        exported.append(Path(target))
        raise Exported  # stops before loading: no torch, no real model needed

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    settings = Settings(home=tmp_path / "x", embedding_model=str(source),
                        embedding_backend="onnx")
    assert settings.onnx_dir == tmp_path / "x" / "onnx"
    with pytest.raises(Exported):
        Workspace(settings).embedder  # noqa: B018 - the property loads the embedder
    assert exported == [settings.onnx_dir / "my-encoder"]
    assert not (env_home / "onnx").exists()


@pytest.mark.model
def test_onnx_backend_reuses_the_export_in_the_workspace_home(tmp_path: Path,
                                                              export_dir: Path) -> None:
    from nlp.embed import BUNDLED_MODEL

    settings = Settings(home=tmp_path / "x", embedding_model=BUNDLED_MODEL,
                        embedding_backend="onnx")
    settings.onnx_dir.mkdir(parents=True)
    (settings.onnx_dir / BUNDLED_MODEL).symlink_to(export_dir)
    embedder = Workspace(settings).embedder
    assert embedder.path == settings.onnx_dir / BUNDLED_MODEL  # type: ignore[attr-defined]


def _examples(suite) -> list:
    tagged = suite.tag([TEXT], explain=True)[0]
    return [e for labels in tagged.tags.values() for t in labels for e in t.examples]


def _blank_snippets(suite) -> None:
    """Make every bank example third-party: the model keeps its id, not its text."""
    for tagger in suite.taggers.values():
        for meta in tagger.bank_meta:
            meta["snippet"] = ""


def test_evidence_reads_examples_from_the_workspace_data_dir(
        tmp_path: Path, zero_shot_paths: dict[str, Path], hash_embedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nlp import labelled

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    asked: list[tuple[Path, Path | None]] = []

    def texts_in(taxonomy_dir: Path, where: Path | None) -> dict[str, str]:
        asked.append((taxonomy_dir, where))
        if where != data_dir:
            return {}
        return {m["id"]: f"example {m['id']}" for p in zero_shot_paths.values()
                for m in json.loads((p / "examples.json").read_text())}

    monkeypatch.setattr(labelled, "_example_texts", texts_in)
    models_dir = next(iter(zero_shot_paths.values())).parents[1]
    settings = Settings(home=tmp_path / "x", models_dir=models_dir, data_dir=data_dir,
                        embedding_model="hash:256")
    suite = Workspace(settings, embedder=hash_embedder).load_taggers(build=False)
    _blank_snippets(suite)
    examples = _examples(suite)
    assert examples and all(e.snippet == f"example {e.id}" for e in examples)
    assert set(asked) == {(settings.taxonomy_dir, data_dir)}


def test_without_a_snippet_lookup_examples_have_empty_snippets(
        zero_shot_paths: dict[str, Path], hash_embedder, plain_taxonomy) -> None:
    from nlp.tagging.suite import TaggerSuite

    suite = TaggerSuite.load(zero_shot_paths, hash_embedder, plain_taxonomy)
    _blank_snippets(suite)
    examples = _examples(suite)
    assert examples and all(e.snippet == "" for e in examples)


def test_auto_tagging_model_needs_heads_trained_on_the_body(tmp_path) -> None:
    import json

    from nlp.config import SHIPPED_TAGGING_BODY, Settings

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models")
    assert settings.tagging_model_spec == settings.embedding_model  # no heads for a body
    if (SHIPPED_TAGGING_BODY / "config.json").is_file():
        folder = tmp_path / "models" / "sdgs" / "v9"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(
            {"embedding": {"name": SHIPPED_TAGGING_BODY.name, "dimension": 384}}))
        assert settings.tagging_model_spec == str(SHIPPED_TAGGING_BODY)
    assert Settings(home=tmp_path, tagging_model="hash:64").tagging_model_spec == "hash:64"


def test_a_built_home_is_checked_without_sqlalchemy(settings, hash_embedder) -> None:
    built = Workspace(settings, embedder=hash_embedder)
    built.ensure_ready()
    expected = built.store.document_ids()
    built.close()
    # A fresh workspace reads the ids with sqlite3 and finds the index up to date.
    fresh = Workspace(settings, embedder=hash_embedder)
    assert fresh.stored_document_ids() == expected and len(expected) == 5
    assert not fresh.ensure_ready().changed and fresh._store is None
    # Once the store is open (or for another database), the store answers.
    fresh.store.remove_document(min(expected))
    assert fresh.stored_document_ids() == expected - {min(expected)}
    assert fresh.ensure_ready().changed


def test_search_process_imports_no_sqlalchemy(settings, hash_embedder) -> None:
    import subprocess
    import sys

    Workspace(settings, embedder=hash_embedder).ensure_ready()
    code = ("import sys; from nlp.config import Settings; "
            "from nlp.workspace import Workspace; "
            f"ws = Workspace(Settings(home={str(settings.home)!r}, embedding_model='hash:256')); "
            "ws.ensure_ready(); assert ws.search('connect every school', k=3); "
            "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_feedback_and_interrupted_jobs_are_read_without_sqlalchemy(settings,
                                                                   hash_embedder) -> None:
    """A restart counts feedback and looks for interrupted jobs with sqlite3 (no SQLAlchemy
    before the server answers); the store, once open, gives the same answers."""
    from nlp import feedback as fb
    from nlp import jobs

    built = Workspace(settings, embedder=hash_embedder)
    built.ensure_ready()
    fb.add_feedback(built.store, text="Schools online", scheme="sdgs", label="4",
                    action="accept")
    done = jobs.create_job(built.store, "retrain")
    jobs.finish_job(built.store, done.id, ok=True, message="ok")
    built.close()
    fresh = Workspace(settings, embedder=hash_embedder)
    assert fresh.feedback_count() == 1
    assert fresh.fail_interrupted_jobs() == 0 and fresh._store is None
    running = jobs.create_job(fresh.store, "retrain")
    jobs.start_job(fresh.store, running.id)
    assert fresh.feedback_count() == fb.count_feedback(fresh.store) == 1
    fresh.close()
    again = Workspace(settings, embedder=hash_embedder)
    assert again.fail_interrupted_jobs() == 1  # found by sqlite3, marked through the store
    assert jobs.get_job(again.store, running.id).status == "failed"
    assert jobs.get_job(again.store, done.id).status == "succeeded"
    assert again.fail_interrupted_jobs() == 0
