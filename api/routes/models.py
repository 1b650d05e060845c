"""The taggers: what is loaded, retraining with feedback, job status."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, status

from api.deps import Context, ReadAccess, WriteAccess
from api.jobs import RETRAIN
from api.schemas import JobOut, ModelsResponse, RetrainRequest
from nlp import feedback as fb
from nlp import jobs

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[ReadAccess])


@router.get("/models", response_model=ModelsResponse, summary="Loaded taggers and recent retrains")
def models(ctx: Context) -> dict:
    store = ctx.workspace.store
    return {"available": ctx.tagging.available, "reason": ctx.tagging.reason,
            "models": ctx.tagging.models(), "feedback_count": fb.count_feedback(store),
            "jobs": [j.to_dict() for j in jobs.list_jobs(store, kind=RETRAIN, limit=10)]}


@router.post("/models/retrain", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             dependencies=[WriteAccess], responses={409: {"description": "Already running"}},
             summary="Retrain the taggers with all feedback (background job)")
def retrain(ctx: Context, body: RetrainRequest | None = None) -> dict:
    """Starts ``wsis train all`` with every feedback record as extra labelled data; poll
    ``GET /v1/jobs/{id}``. When it succeeds the new models are live; the old ones stay on
    disk."""
    return ctx.retrainer.submit(evaluate=body.evaluate if body else False).to_dict()


@router.get("/jobs/{job_id}", response_model=JobOut, summary="Status of a background job")
def job(ctx: Context, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")) -> dict:
    found = jobs.get_job(ctx.workspace.store, job_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No job {job_id!r}")
    return found.to_dict()
