"""Tag free text with every label scheme."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Context, ReadAccess
from api.schemas import TagRequest, TagResponse

router = APIRouter(prefix="/v1", tags=["tagging"], dependencies=[ReadAccess])


@router.post("/tag", response_model=None, responses={200: {"model": TagResponse}},
             summary="Suggest Action Lines, SDGs and GDC items")
def tag(body: TagRequest, ctx: Context) -> Response:
    """Scores every label of every scheme for each text (the ``wsis tag`` JSON), with the
    decision threshold and, when ``explain`` is on, the evidence: the sentences that drove a
    tag (with character offsets), the nearest labelled examples and matched keywords."""
    body.check_limits(ctx.limits)
    # Encoded once, by the tagging service: a few hundred labels per text made validating
    # and re-encoding the answer through the response model a large part of a call.
    content = ctx.tagging.tag_json(body.texts, body.ids, explain=body.explain)
    return Response(content, media_type="application/json")
