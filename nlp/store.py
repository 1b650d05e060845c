"""Durable storage: documents, passages, reviewer feedback and background jobs (SQLite by
default, PostgreSQL by URL).

The store is the source of truth; the FAISS index under ``home/index`` is derived from it and
can always be rebuilt. SQLite runs in WAL mode with synchronous=FULL, so an acknowledged
write survives a crash. Every table is defined here and :meth:`Store.create_all` creates them
all; :mod:`nlp.feedback` and :mod:`nlp.jobs` hold the functions that read and write theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Engine

from nlp.types import Document, DocumentMeta, Passage

metadata = MetaData()

documents_table = Table(
    "documents", metadata,
    Column("id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("organization", Text, nullable=False, default=""),
    Column("kind", Text, nullable=False, default=""),
    Column("date", String(32), nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("chunker", Text, nullable=False, default=""),
    Column("added", DateTime(timezone=True), nullable=False),
)

passages_table = Table(
    "passages", metadata,
    Column("id", String(96), primary_key=True),
    Column("doc_id", String(64), ForeignKey("documents.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("idx", Integer, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("text", Text, nullable=False),
)

# Rows are only ever inserted (see nlp.feedback); each keeps a copy of the text it judged.
feedback_table = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("passage_id", String(96), nullable=True, index=True),  # no FK: outlives documents
    Column("doc_id", String(64), nullable=True, index=True),
    Column("text", Text, nullable=False),
    Column("scheme", String(32), nullable=False),
    Column("label", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("score", Text, nullable=False, default=""),  # the model's score when judged, if any
    Column("note", Text, nullable=False, default=""),
    Column("author", Text, nullable=False, default=""),
)

jobs_table = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("started", DateTime(timezone=True), nullable=True),
    Column("finished", DateTime(timezone=True), nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("params", Text, nullable=False, default="{}"),
    Column("result", Text, nullable=False, default="{}"),
)


def iso_utc(value: datetime | None) -> str | None:
    """A stored timestamp as ISO 8601 in UTC (to the second); ``None`` stays ``None``."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def make_engine(url: str) -> Engine:
    """Engine for ``url``; for SQLite, create the folder and turn on WAL + foreign keys."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    """Documents and passages; feedback and jobs through :mod:`nlp.feedback`, :mod:`nlp.jobs`.

    Opening a store creates any missing table.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.create_all()

    def create_all(self) -> None:
        """Create every missing table (documents, passages, feedback, jobs); idempotent."""
        metadata.create_all(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # ------------------------------------------------------------------ documents

    def add_document(self, document: Document, passages: list[Passage],
                     chunker: str = "") -> bool:
        """Store a document and its passages in one transaction. Returns False if present."""
        with self.begin() as conn:
            if conn.execute(select(documents_table.c.id)
                            .where(documents_table.c.id == document.id)).first():
                return False
            conn.execute(insert(documents_table).values(
                id=document.id, text=document.text, chunker=chunker,
                added=datetime.now(UTC), **document.meta.to_dict()))
            if passages:
                conn.execute(insert(passages_table), [
                    {"id": p.id, "doc_id": p.doc_id, "idx": p.index, "start": p.start,
                     "end": p.end, "text": p.text} for p in passages])
        return True

    def remove_document(self, doc_id: str) -> bool:
        with self.begin() as conn:
            conn.execute(delete(passages_table).where(passages_table.c.doc_id == doc_id))
            result = conn.execute(delete(documents_table).where(documents_table.c.id == doc_id))
        return result.rowcount > 0

    def document_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(documents_table.c.id)).scalars())

    def count_documents(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(documents_table)).scalar())

    def get_document(self, doc_id: str) -> Document | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(documents_table)
                               .where(documents_table.c.id == doc_id)).mappings().first()
        return _document(row) if row else None

    def document_metas(self, doc_ids: Iterable[str]) -> dict[str, DocumentMeta]:
        """Metadata of these documents in one query, without reading their text."""
        columns = [documents_table.c[name] for name in
                   ("id", "title", "organization", "kind", "date", "source")]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns)
                                .where(documents_table.c.id.in_(list(doc_ids)))).mappings()
            return {row["id"]: DocumentMeta(title=row["title"], organization=row["organization"],
                                            kind=row["kind"], date=row["date"],
                                            source=row["source"]) for row in rows}

    def list_documents(self) -> list[Document]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents_table)
                                .order_by(documents_table.c.added, documents_table.c.id)).mappings()
            return [_document(row) for row in rows]

    def passages(self, doc_ids: Iterable[str] | None = None) -> list[Passage]:
        query = select(passages_table).order_by(passages_table.c.doc_id, passages_table.c.idx)
        if doc_ids is not None:
            query = query.where(passages_table.c.doc_id.in_(list(doc_ids)))
        with self.engine.connect() as conn:
            return [Passage(id=r.id, doc_id=r.doc_id, index=r.idx, start=r.start, end=r.end,
                            text=r.text) for r in conn.execute(query)]

    def close(self) -> None:
        self.engine.dispose()


def _document(row) -> Document:
    meta = DocumentMeta(title=row["title"], organization=row["organization"], kind=row["kind"],
                        date=row["date"], source=row["source"])
    return Document(id=row["id"], text=row["text"], meta=meta)
