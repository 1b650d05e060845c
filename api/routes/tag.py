"""Tag free text with every label scheme."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Context, ReadAccess
from api.schemas import TagRequest, TagResponse

router = APIRouter(prefix="/v1", tags=["tagging"], dependencies=[ReadAccess])


@router.post("/tag", response_model=TagResponse, summary="Suggest Action Lines, SDGs and GDC items")
def tag(body: TagRequest, ctx: Context) -> dict:
    """Scores every label of every scheme for each text (the ``wsis tag`` JSON), with the
    decision threshold and, when ``explain`` is on, the evidence: the sentences that drove a
    tag (with character offsets), the nearest labelled examples and matched keywords."""
    body.check_limits(ctx.limits)
    results = ctx.tagging.tag_texts(body.texts, body.ids, explain=body.explain)
    return {"models": ctx.tagging.models(), "results": results}
