"""Background jobs (e.g. retraining the taggers) and where each stands, in the store.

A job goes ``queued`` -> ``running`` -> ``succeeded`` or ``failed``; a job a stopped process
left queued or running is marked failed at the next start (:func:`fail_interrupted_jobs`).
The table is defined in :mod:`nlp.store`, which creates it with the others. SQLAlchemy (~0.4 s
to import) is imported by the functions that touch the table, not with the module: the API
imports this module at start-up, before the server answers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nlp.store import Store

JobStatus = Literal["queued", "running", "succeeded", "failed"]


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
    from nlp.store import iso_utc

    return Job(id=row.id, kind=row.kind, status=row.status, created=iso_utc(row.created) or "",
               started=iso_utc(row.started), finished=iso_utc(row.finished),
               message=row.message or "", params=json.loads(row.params or "{}"),
               result=json.loads(row.result or "{}"))


def create_job(store: Store, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Record a queued job and return it."""
    from sqlalchemy import insert

    from nlp.store import jobs_table

    job_id = uuid.uuid4().hex
    with store.begin() as conn:
        conn.execute(insert(jobs_table).values(
            id=job_id, kind=kind, status="queued", created=datetime.now(UTC), message="queued",
            params=json.dumps(params or {}), result="{}"))
    job = get_job(store, job_id)
    assert job is not None
    return job


def get_job(store: Store, job_id: str) -> Job | None:
    from sqlalchemy import select

    from nlp.store import jobs_table

    with store.engine.connect() as conn:
        row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
    return _job(row) if row else None


def list_jobs(store: Store, kind: str | None = None, limit: int = 50) -> list[Job]:
    """Most recent first."""
    from sqlalchemy import select

    from nlp.store import jobs_table

    query = select(jobs_table).order_by(jobs_table.c.created.desc()).limit(limit)
    if kind is not None:
        query = query.where(jobs_table.c.kind == kind)
    with store.engine.connect() as conn:
        return [_job(row) for row in conn.execute(query)]


def start_job(store: Store, job_id: str, message: str = "running") -> None:
    from sqlalchemy import update

    from nlp.store import jobs_table

    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id)
                     .values(status="running", started=datetime.now(UTC), message=message))


def update_job_message(store: Store, job_id: str, message: str) -> None:
    """Progress note of a running job (shown by ``GET /v1/jobs/{id}``)."""
    from sqlalchemy import update

    from nlp.store import jobs_table

    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id)
                     .values(message=message[:2000]))


def finish_job(store: Store, job_id: str, *, ok: bool, message: str,
               result: dict[str, Any] | None = None) -> None:
    from sqlalchemy import update

    from nlp.store import jobs_table

    with store.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(
            status="succeeded" if ok else "failed", finished=datetime.now(UTC), message=message,
            result=json.dumps(result or {}, default=str)))


def fail_interrupted_jobs(store: Store) -> int:
    """Mark jobs left queued or running by a previous process as failed; returns how many."""
    from sqlalchemy import update

    from nlp.store import jobs_table

    with store.begin() as conn:
        result = conn.execute(
            update(jobs_table).where(jobs_table.c.status.in_(("queued", "running"))).values(
                status="failed", finished=datetime.now(UTC),
                message="interrupted: the server stopped before the job finished"))
    return int(result.rowcount or 0)
