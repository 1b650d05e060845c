"""Reviewer feedback on tags, stored beside documents and passages.

Feedback is the project's most valuable data: every accept, reject or added label a reviewer
gives is kept for good (rows are only ever inserted) and becomes training data for the next
``wsis train``. Each row keeps a copy of the text it judged, so deleting a document never
loses the feedback given on its passages. The table is defined in :mod:`nlp.store`, which
creates it with the others. SQLAlchemy (~0.4 s to import) is imported by the functions that
touch the table, not with the module: the API's routes import this module at start-up, before
the server answers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from nlp.reports import spreadsheet_safe

if TYPE_CHECKING:
    from nlp.store import Store

FeedbackAction = Literal["accept", "reject", "add"]
ACTIONS: tuple[str, ...] = ("accept", "reject", "add")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")


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
    from sqlalchemy import insert

    from nlp.store import feedback_table, iso_utc

    created = datetime.now(UTC)
    with store.begin() as conn:
        result = conn.execute(insert(feedback_table).values(
            created=created, passage_id=passage_id, doc_id=doc_id, text=text, scheme=scheme,
            label=label, action=action, score="" if score is None else repr(float(score)),
            note=note, author=author))
        row_id = int(result.inserted_primary_key[0])
    return Feedback(id=row_id, created=iso_utc(created) or "", text=text, scheme=scheme,
                    label=label, action=action, passage_id=passage_id, doc_id=doc_id,
                    score=None if score is None else float(score), note=note, author=author)


def _feedback(row) -> Feedback:
    from nlp.store import iso_utc

    return Feedback(id=row.id, created=iso_utc(row.created) or "", text=row.text,
                    scheme=row.scheme, label=row.label, action=row.action,
                    passage_id=row.passage_id, doc_id=row.doc_id,
                    score=float(row.score) if row.score else None, note=row.note or "",
                    author=row.author or "")


def list_feedback(store: Store, passage_ids: Iterable[str] | None = None,
                  limit: int | None = None) -> list[Feedback]:
    """Feedback in the order it was given (oldest first), optionally for some passages."""
    from sqlalchemy import select

    from nlp.store import feedback_table

    query = select(feedback_table).order_by(feedback_table.c.id)
    if passage_ids is not None:
        query = query.where(feedback_table.c.passage_id.in_(list(passage_ids)))
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [_feedback(row) for row in conn.execute(query)]


def count_feedback(store: Store) -> int:
    from sqlalchemy import func, select

    from nlp.store import feedback_table

    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback_table)).scalar())


EXPORT_COLUMNS = ("id", "created", "passage_id", "doc_id", "scheme", "label", "action", "score",
                  "note", "author", "text")


def export_feedback(records: Iterable[Feedback], fmt: str = "csv") -> str:
    """Feedback as CSV (header + one row each) or JSON Lines.

    CSV cells go through :func:`nlp.reports.spreadsheet_safe`, as in the document report: the
    texts are untrusted, and a cell a spreadsheet would run as a formula gets a leading ``'``.
    JSON Lines keeps every value exactly as stored.

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
        writer.writerow({k: "" if row[k] is None else spreadsheet_safe(row[k])
                         for k in EXPORT_COLUMNS})
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
