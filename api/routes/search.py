"""Passage search and "who else committed to this?"."""

from __future__ import annotations

from fastapi import APIRouter

from api import service
from api.deps import Context, ReadAccess
from api.schemas import SearchRequest, SearchResponse, SimilarRequest, SimilarResponse

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[ReadAccess])


@router.post("/search", response_model=SearchResponse, summary="Search passages")
def search(body: SearchRequest, ctx: Context) -> dict:
    """Semantic, lexical (BM25) or hybrid search with metadata and tag filters. Each result
    carries the passage, its offsets in the document, the document's metadata, the score and
    the passage's predicted tags."""
    body.check_limits(ctx.limits)
    index, hits = service.search(ctx.workspace, ctx.tagging, body.query, body.k, body.mode,
                                 body.filters)
    tags = (service.tags_for(ctx.tagging, index, [h.passage for h in hits])
            if body.include_tags else None)
    return {
        "query": body.query, "mode": body.mode, "index_version": index.version,
        "tags_available": ctx.tagging.available,
        "results": [service.hit_dict(h, tags.get(h.passage.id) if tags else None)
                    for h in hits],
    }


@router.post("/similar", response_model=SimilarResponse,
             summary="Similar passages in other documents, grouped by document")
def similar(body: SimilarRequest, ctx: Context) -> dict:
    """Give a stored ``passage_id`` (its own document is left out) or free ``text``."""
    body.check_limits(ctx.limits)
    index, result = service.similar(
        ctx.workspace, ctx.tagging, passage_id=body.passage_id, text=body.text, k=body.k,
        per_document=body.per_document, filters=body.filters)
    passages = [h.passage for match in result.matches for h in match.hits]
    tags = service.tags_for(ctx.tagging, index, passages)
    groups = [{**match.to_dict(),
               "passages": [service.hit_dict(h, tags.get(h.passage.id) if tags else None)
                            for h in match.hits]}
              for match in result.matches]
    return {"source": result.source.to_dict(), "index_version": result.index_version,
            "groups": groups}
