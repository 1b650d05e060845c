"""Reviewer feedback on tags, and background jobs, stored beside documents and passages.

Feedback is the project's most valuable data: every accept, reject or added label a reviewer
gives is kept for good (rows are only ever inserted) and becomes training data for the next
``wsis train``. Each row keeps a copy of the text it judged, so deleting a document never
loses the feedback given on its passages.

Both tables register on :data:`nlp.store.metadata`, so ``Store(url)`` creates them; call
:func:`create_tables` for a store opened before this module was imported.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from nlp.store import Store, metadata

FeedbackAction = Literal["accept", "reject", "add"]
ACTIONS: tuple[str, ...] = ("accept", "reject", "add")
JobStatus = Literal["queued", "running", "succeeded", "failed"]
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")

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


def create_tables(store: Store) -> None:
    """Create the feedback and jobs tables if missing (idempotent)."""
    metadata.create_all(store.engine, tables=[feedback_table, jobs_table])


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- feedback


@dataclass(frozen=True)
class Feedback:
    """One judgement of one label on one text (a stored passage or free text)."""

    id: int
    created: str
    text: str
    scheme: str
    label: str
    action: str
    passage_id: str | None = None
    doc_id: str | None = None
    score: float | None = None
    note: str = ""
    author: str = ""

    @property
    def positive(self) -> bool:
        """Whether the label applies to the text according to the reviewer."""
        return self.action in ("accept", "add")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_feedback(store: Store, *, text: str, scheme: str, label: str, action: str,
                 passage_id: str | None = None, doc_id: str | None = None,
                 score: float | None = None, note: str = "", author: str = "") -> Feedback:
    """Record one judgement and return it with its id.

    Raises:
        ValueError: an unknown action, or an empty text, scheme or label.
    """
    if action not in ACTIONS:
        raise ValueError(f"Feedback action {action!r} is not one of {ACTIONS}")
    for name, value in (("text", text), ("scheme", scheme), ("label", label)):
        if not value or not value.strip():
            raise ValueError(f"Feedback {name} is empty")
    created = _now()
    with store.begin() as conn:
        result = conn.execute(insert(feedback_table).values(
            created=created, passage_id=passage_id, doc_id=doc_id, text=text, scheme=scheme,
            label=label, action=action, score="" if score is None else repr(float(score)),
            note=note, author=author))
        row_id = int(result.inserted_primary_key[0])
    return Feedback(id=row_id, created=_iso(created) or "", text=text, scheme=scheme,
                    label=label, action=action, passage_id=passage_id, doc_id=doc_id,
                    score=None if score is None else float(score), note=note, author=author)


def _feedback(row) -> Feedback:
    return Feedback(id=row.id, created=_iso(row.created) or "", text=row.text,
                    scheme=row.scheme, label=row.label, action=row.action,
                    passage_id=row.passage_id, doc_id=row.doc_id,
                    score=float(row.score) if row.score else None, note=row.note or "",
                    author=row.author or "")


def list_feedback(store: Store, passage_ids: Iterable[str] | None = None,
                  limit: int | None = None) -> list[Feedback]:
    """Feedback in the order it was given (oldest first), optionally for some passages."""
    query = select(feedback_table).order_by(feedback_table.c.id)
    if passage_ids is not None:
        query = query.where(feedback_table.c.passage_id.in_(list(passage_ids)))
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [_feedback(row) for row in conn.execute(query)]


def count_feedback(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback_table)).scalar())


EXPORT_COLUMNS = ("id", "created", "passage_id", "doc_id", "scheme", "label", "action", "score",
                  "note", "author", "text")


def export_feedback(records: Iterable[Feedback], fmt: str = "csv") -> str:
    """Feedback as CSV (header + one row each) or JSON Lines.

    Raises:
        ValueError: an unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Export format {fmt!r} is not one of {EXPORT_FORMATS}")
    out = io.StringIO()
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        return out.getvalue()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = record.to_dict()
        writer.writerow({k: "" if row[k] is None else row[k] for k in EXPORT_COLUMNS})
    return out.getvalue()


def training_examples(records: Iterable[Feedback]) -> list[dict[str, Any]]:
    """Feedback as labelled examples for training: one row per (text, scheme, label).

    When a reviewer judged the same label on the same text more than once, the latest
    judgement wins (records are expected oldest first).
    """
    latest: dict[tuple[str, str, str], Feedback] = {}
    for record in records:
        latest[(record.text, record.scheme, record.label)] = record
    return [
        {"text": r.text, "scheme": r.scheme, "label": r.label, "positive": r.positive,
         "source": f"feedback:{r.id}"}
        for r in latest.values()
    ]


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """A background task (e.g. retraining) and where it stands."""

    id: str
    kind: str
    status: str
    created: str
    started: str | None = None
    finished: str | None = None
    message: str = ""
    params: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _job(row) -> Job:
    return Job(id=row.id, kind=row.kind, status=row.status, created=_iso(row.created) or "",
               started=_iso(row.started), finished=_iso(row.finished), message=row.message or "",
               params=json.loads(row.params or "{}"), result=json.loads(row.result or "{}"))


def create_job(store: Store, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Record a queued job and return it."""
    job_id = uuid.uuid4().hex
    with store.begin() as conn:
        conn.execute(insert(jobs_table).values(
            id=job_id, kind=kind, status="queued", created=_now(), message="queued",
            params=json.dumps(params or {}), result="{}"))
    job = get_job(store, job_id)
    assert job is not None
    return job


def get_job(store: Store, job_id: str) -> Job | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
    return _job(row) if row else None


def list_jobs(store: Store, kind: str | None = None, limit: int = 50) -> list[Job]:
    """Most recent first."""
    query = select(jobs_table).order_by(jobs_table.c.created.desc()).limit(limit)
    if kind is not None:
        query = query.where(jobs_table.c.kind == kind)
    with store.engine.connect() as conn:
        return [_job(row) for row in conn.execute(query)]


def start_job(store: Store, job_id: str, message: str = "running") -> None:
    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id)
                     .values(status="running", started=_now(), message=message))


def update_job_message(store: Store, job_id: str, message: str) -> None:
    """Progress note of a running job (shown by ``GET /v1/jobs/{id}``)."""
    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id)
                     .values(message=message[:2000]))


def finish_job(store: Store, job_id: str, *, ok: bool, message: str,
               result: dict[str, Any] | None = None) -> None:
    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(
            status="succeeded" if ok else "failed", finished=_now(), message=message,
            result=json.dumps(result or {}, default=str)))


def fail_interrupted_jobs(store: Store) -> int:
    """Mark jobs left queued or running by a previous process as failed; returns how many."""
    with store.begin() as conn:
        result = conn.execute(
            update(jobs_table).where(jobs_table.c.status.in_(("queued", "running"))).values(
                status="failed", finished=_now(),
                message="interrupted: the server stopped before the job finished"))
    return int(result.rowcount or 0)
