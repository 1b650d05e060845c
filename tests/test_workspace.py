from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp.config import PROJECT_ROOT
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


def test_folder_ingest_with_errors(settings, hash_embedder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# Clinics\n\n" + TEXT)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    ws = Workspace(settings, embedder=hash_embedder)
    result = ws.ingest([CORPUS, folder])
    assert len(result.added) == 6 and len(result.errors) == 1
    assert result.errors[0].path.endswith("broken.pdf")
