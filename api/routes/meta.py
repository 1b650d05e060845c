"""Health and the label schemes."""

from __future__ import annotations

from fastapi import APIRouter

import nlp
from api.deps import Context, ReadAccess
from api.schemas import Health, TaxonomyResponse
from nlp.feedback import count_feedback

router = APIRouter(tags=["meta"], dependencies=[ReadAccess])


@router.get("/health", response_model=Health, summary="Service status and versions")
def health(ctx: Context) -> dict:
    index = ctx.workspace.index()
    return {
        "version": nlp.__version__,
        "index": {"version": index.version, "passage_count": len(index),
                  "document_count": len(index.documents),
                  "embedding_model": index.embedding_model, "dimension": index.dimension},
        "taggers": {"available": ctx.tagging.available, "reason": ctx.tagging.reason,
                    "models": ctx.tagging.models()},
        "feedback_count": count_feedback(ctx.workspace.store),
    }


@router.get("/v1/taxonomy", response_model=TaxonomyResponse,
            summary="WSIS Action Lines, SDGs (+targets) and Global Digital Compact labels")
def taxonomy(ctx: Context) -> dict:
    tax = ctx.tagging.taxonomy()
    return {
        "sdg_source": tax.sdg_source,
        "schemes": {
            scheme: {
                "version": tax.versions[scheme],
                "labels": [{"id": lab.id, "title": lab.title, "level": lab.level,
                            "parent": lab.parent, "sdgs": list(lab.sdgs)} for lab in labels],
            }
            for scheme, labels in tax.labels.items()
        },
    }
