"""The store's behaviour, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from nlp.chunk import Chunker
from nlp.config import Settings
from nlp.store import Store
from nlp.types import Document, DocumentMeta
from nlp.workspace import Workspace


def test_documents_and_passages_round_trip(database_url: str, corpus_documents) -> None:
    store = Store(database_url)
    chunker = Chunker()
    for document in corpus_documents:
        assert store.add_document(document, chunker.chunk(document))
    assert not store.add_document(corpus_documents[0], chunker.chunk(corpus_documents[0]))
    assert store.count_documents() == 5
    again = store.get_document(corpus_documents[2].id)
    assert again == corpus_documents[2]
    stored = store.passages([again.id])
    assert stored == chunker.chunk(again)
    assert all(again.text[p.start : p.end] == p.text for p in stored)
    assert store.remove_document(again.id) and not store.remove_document(again.id)
    assert store.passages([again.id]) == [] and store.count_documents() == 4
    store.close()
    reopened = Store(database_url)  # durable across connections
    assert reopened.document_ids() == {d.id for d in corpus_documents} - {again.id}
    reopened.close()


def test_workspace_on_the_database(database_url: str, tmp_path, hash_embedder) -> None:
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        embedding_model="hash:256")
    ws = Workspace(settings, embedder=hash_embedder)
    ws.ensure_ready()
    doc = Document.from_text("Satellite broadband for remote islands.", DocumentMeta(title="Isl"))
    ws.ingest_bytes(doc.text.encode(), "islands.txt")
    assert ws.search("satellite broadband islands", k=1, mode="lexical")[0].passage.doc_id == doc.id
    ws.close()
