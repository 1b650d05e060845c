"""Response bodies of the review-insight endpoints (``/v1/insights/...``), for the OpenAPI
document; the JSON itself is built by :mod:`nlp.insights`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InsightPassage(BaseModel):
    passage_id: str
    doc_id: str
    title: str
    organization: str
    kind: str
    date: str
    start: int
    end: int
    text: str = Field(description="document.text[start:end], Markdown included.")
    clean_text: str = Field("", description="The text without Markdown / HTML marks.")
    score: float | None = Field(None, description="The label's score (cells, cross-walk) or "
                                "the cosine to the theme's centre (themes).")


class DocumentRef(BaseModel):
    doc_id: str
    title: str
    organization: str
    kind: str
    date: str
    passages: int | None = None


class MatrixLabel(BaseModel):
    id: str
    title: str
    passages: int = Field(description="Tagged passages over all rows.")
    rows: int = Field(description="Rows with at least one tagged passage.")


class MatrixRow(BaseModel):
    id: str = Field(description="Document id, or the organisation / kind when grouped.")
    title: str
    organization: str
    kind: str
    date: str = Field(description="The document's date (grouped: the latest).")
    documents: int
    passages: int
    counts: list[int] = Field(description="Tagged passages per label (labels order).")
    shares: list[float] = Field(description="counts / passages, 4 decimals.")


class MatrixResponse(BaseModel):
    key: str
    key_name: str
    group_by: str
    labels: list[MatrixLabel]
    rows: list[MatrixRow]


class CellResponse(BaseModel):
    key: str
    label: str
    title: str
    group_by: str
    row: str
    passages_in_row: int
    total: int
    passages: list[InsightPassage]


class Gap(BaseModel):
    label: str
    title: str
    addressed: int = Field(description="Documents (or organisations) addressing the label.")
    passages: int
    addressed_by: list[str]


class GapsResponse(BaseModel):
    key: str
    key_name: str
    by: str
    max_addressed: int
    min_passages: int
    documents: int
    organizations: int
    labels: int
    gaps: list[Gap]


class ThemeTag(BaseModel):
    key: str
    label: str
    title: str
    share: float = Field(description="Share of the theme's passages carrying the label.")


class Theme(BaseModel):
    id: int
    label: str
    terms: list[str]
    tags: list[ThemeTag]
    size: int
    cohesion: float = Field(description="Mean cosine of the passages to the theme's centre.")
    documents: list[DocumentRef]
    organizations: list[str]
    passages: list[InsightPassage]


class ThemesResponse(BaseModel):
    method: str
    similarity: float
    min_documents: int
    passages: int
    clustered: int
    total_themes: int
    seconds: float
    themes: list[Theme]


class ProfileEntry(BaseModel):
    label: str
    title: str
    count_a: int
    count_b: int
    share_a: float
    share_b: float
    difference: float = Field(description="share_a - share_b")


class PassagePair(BaseModel):
    similarity: float
    a: InsightPassage
    b: InsightPassage


class CompareResponse(BaseModel):
    key: str
    key_name: str
    a: DocumentRef
    b: DocumentRef
    profile_similarity: float
    profile: list[ProfileEntry]
    differences: list[ProfileEntry]
    pairs: list[PassagePair]


class CrosswalkNode(BaseModel):
    id: str
    title: str
    passages: int
    documents: int
    top: list[InsightPassage]
    goal: str | None = None
    section: str | None = None
    sdgs: list[str] | None = None
    via_goals: list[str] | None = None


class CrosswalkResponse(BaseModel):
    action_line: CrosswalkNode
    goals: list[CrosswalkNode]
    targets: list[CrosswalkNode]
    commitments: list[CrosswalkNode]
    sections: list[CrosswalkNode] = []  # GDC sections on the Action Line's own subject

