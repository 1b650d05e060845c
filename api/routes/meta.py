"""Health and the label schemes."""

from __future__ import annotations

from fastapi import APIRouter

import nlp
from api.deps import Context, ReadAccess
from api.schemas import Health, TaxonomyResponse

router = APIRouter(tags=["meta"], dependencies=[ReadAccess])


@router.get("/health", response_model=Health, summary="Service status and versions")
def health(ctx: Context) -> dict:
    """Answers at once, also while the server is still loading: the index figures come from
    the live version's manifest, and ``loading`` says what is not ready yet."""
    index = ctx.workspace.live_manifest()
    return {
        "version": nlp.__version__,
        "index": {"version": index.version, "passage_count": index.passage_count,
                  "document_count": index.document_count,
                  "embedding_model": index.embedding_model, "dimension": index.dimension},
        "taggers": ctx.tagging.status(),
        "feedback_count": ctx.workspace.feedback_count(),
        "loading": list(ctx.loading),
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
