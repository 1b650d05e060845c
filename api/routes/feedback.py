"""Reviewer feedback on tags: record, list, export."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import Context, ReadAccess, WriteAccess
from api.schemas import ID_CHARS, FeedbackList, FeedbackOut, FeedbackRequest
from nlp import feedback as fb

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], dependencies=[ReadAccess])


def _scheme_of(ctx: Context, label: str, scheme: str | None) -> str:
    taxonomy = ctx.tagging.taxonomy()
    schemes = [scheme] if scheme else list(taxonomy.labels)
    for name in schemes:
        try:
            taxonomy.get(name, label)
        except KeyError:
            continue
        return name
    where = f"scheme {scheme!r}" if scheme else "any scheme"
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                        f"Label {label!r} is not in {where}; see GET /v1/taxonomy")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FeedbackOut,
             dependencies=[WriteAccess], summary="Accept, reject or add a label")
def add_feedback(body: FeedbackRequest, ctx: Context) -> dict:
    """Judge one label on a stored passage or on a free text. Every judgement is kept and is
    used by the next retrain."""
    scheme = _scheme_of(ctx, body.label, body.scheme)
    body.check_limits(ctx.limits)
    doc_id = None
    if body.passage_id is not None:
        try:
            passage = ctx.workspace.index().passage(body.passage_id)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"No passage {body.passage_id!r}") from None
        text, doc_id = passage.text, passage.doc_id
    else:
        text = body.text or ""
    record = fb.add_feedback(ctx.workspace.store, text=text, scheme=scheme, label=body.label,
                             action=body.action, passage_id=body.passage_id, doc_id=doc_id,
                             score=body.score, note=body.note, author=body.author)
    return record.to_dict()


@router.get("", response_model=FeedbackList, summary="List feedback (oldest first)")
def list_feedback(ctx: Context, passage_id: str | None = Query(None, max_length=ID_CHARS),
                  limit: int = Query(500, ge=1, le=10000)) -> dict:
    records = fb.list_feedback(ctx.workspace.store,
                               [passage_id] if passage_id is not None else None, limit)
    return {"count": fb.count_feedback(ctx.workspace.store),
            "feedback": [r.to_dict() for r in records]}


@router.get("/export", summary="Download all feedback as CSV or JSON Lines",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export(ctx: Context, format: Literal["csv", "jsonl"] = "csv") -> Response:
    body = fb.export_feedback(fb.list_feedback(ctx.workspace.store), format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="wsis-feedback.{format}"'})
