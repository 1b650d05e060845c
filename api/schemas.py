"""Request and response bodies of the HTTP API (the documented JSON at ``/docs``), and every
length limit a request must keep.

Fixed limits are declared on the fields. The limits an operator can set (``Settings.max_*``)
are read here only, into :class:`RequestLimits`; each request body's ``check_limits`` applies
them (the app calls it before the library) and raises :class:`LimitExceeded` (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nlp.config import Settings
from nlp.errors import WsisError

SearchMode = Literal["semantic", "lexical", "hybrid"]
Scheme = Literal["action-lines", "sdgs", "gdc"]
FeedbackAction = Literal["accept", "reject", "add"]

ID_CHARS = 96  # longest passage id (or any other id) a request may name
_ID = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{ID_CHARS - 1}}}$"


class LimitExceeded(WsisError):
    """A request body over one of this server's configured limits, or blank where text is
    needed (422)."""


@dataclass(frozen=True)
class RequestLimits:
    """How large a request may be: the ``Settings.max_*`` knobs plus the fixed limits of an
    upload's form."""

    query_chars: int
    text_chars: int
    texts_per_request: int
    upload_bytes: int
    meta_chars: int = 500  # each metadata field of an upload (title, organization, ...)
    form_field_bytes: int = 64 * 1024  # each non-file part of an upload's form
    multipart_slack: int = 1 << 20  # headers and metadata around the file in an upload body

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(query_chars=settings.max_query_chars, text_chars=settings.max_text_chars,
                   texts_per_request=settings.max_texts_per_request,
                   upload_bytes=int(settings.max_upload_mb * 2**20))

    @property
    def json_body_bytes(self) -> int:
        """Largest JSON body: every allowed text at its longest, escaped as \\uXXXX (6 bytes a
        character), and at least 1 MiB."""
        return max(1 << 20, self.texts_per_request * self.text_chars * 6)

    @property
    def unpacked_bytes(self) -> int:
        """How much an uploaded archive (docx) may expand to: Word compresses text about
        5-10x, so 20x the upload limit leaves room for images (at least 10 MiB)."""
        return max(10 * 2**20, 20 * self.upload_bytes)


def _check_text(value: str | None, limit: int, what: str) -> None:
    """Refuse a text over ``limit`` characters or blank; ``what`` names it in the message."""
    if value is None:
        return
    if len(value) > limit:
        raise LimitExceeded(f"{what} is {len(value)} characters long; the limit is {limit}")
    if not value.strip():
        raise LimitExceeded(f"{what} is empty")


def _as_list(value: Any) -> Any:
    """Accept a single string where a list of strings is expected."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- health, taxonomy


class IndexInfo(BaseModel):
    version: int
    passage_count: int
    document_count: int
    embedding_model: str
    dimension: int


class TaggerInfo(BaseModel):
    available: bool
    reason: str = ""
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    index: IndexInfo
    taggers: TaggerInfo
    feedback_count: int
    loading: list[str] = Field(
        default_factory=list,
        description="What the server is still loading in the background after a start "
        "(search, taggers, warm-up); requests that need it wait for it.")


class LabelInfo(BaseModel):
    id: str
    title: str
    level: str
    parent: str | None = None
    sdgs: list[str] = Field(default_factory=list)


class SchemeInfo(BaseModel):
    version: str
    labels: list[LabelInfo]


class TaxonomyResponse(BaseModel):
    schemes: dict[str, SchemeInfo]
    sdg_source: str


# --------------------------------------------------------------------------- search


class Filters(Strict):
    """Every given field must hold; a list means "any of these"."""

    organization: list[str] = Field(default_factory=list, max_length=50)
    kind: list[str] = Field(default_factory=list, max_length=50)
    document: list[str] = Field(default_factory=list, max_length=200,
                                description="Document ids.")
    date_from: str | None = Field(None, examples=["2025-01"], description="YYYY[-MM[-DD]]")
    date_to: str | None = Field(None, examples=["2025-12-31"])
    label: list[str] = Field(default_factory=list, max_length=20,
                             description="Tag ids the passage must carry, e.g. 'C7.e-learning', "
                             "'4', 'GDC-1.1' (any of them).")

    @field_validator("organization", "kind", "document", "label", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class SearchRequest(Strict):
    query: str = Field(..., min_length=1, examples=["connect every school to the internet"])
    k: int = Field(10, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filters: Filters = Field(default_factory=Filters)
    include_tags: bool = True

    def check_limits(self, limits: RequestLimits) -> None:
        """Raises :class:`LimitExceeded` for a query that is too long or blank."""
        _check_text(self.query, limits.query_chars, "The query")


class TagBrief(BaseModel):
    label: str
    score: float


class RepeatedIn(BaseModel):
    """Another passage with (nearly) the same text, collapsed into this result."""

    passage_id: str
    doc_id: str
    title: str
    organization: str


class SearchHit(BaseModel):
    rank: int
    score: float
    passage_id: str
    doc_id: str
    start: int
    end: int
    text: str = Field(description="The stored text: document.text[start:end], marks included.")
    clean_text: str = Field("", description="The text without Markdown/HTML marks, as shown.")
    title: str
    organization: str
    kind: str
    date: str
    source: str
    scores: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, list[TagBrief]] | None = None
    also_in: list[RepeatedIn] = Field(
        default_factory=list, description="Near-duplicate passages collapsed into this one.")
    also_in_documents: int = Field(0, description="Other documents repeating this passage.")


class SearchResponse(BaseModel):
    query: str
    mode: SearchMode
    index_version: int
    tags_available: bool
    results: list[SearchHit]


class SimilarRequest(Strict):
    """Give exactly one of ``passage_id`` and ``text``."""

    passage_id: str | None = Field(None, pattern=_ID)
    text: str | None = Field(None, min_length=1)
    k: int = Field(5, ge=1, le=50, description="Documents to return.")
    per_document: int = Field(3, ge=1, le=10, description="Passages per document.")
    filters: Filters = Field(default_factory=Filters)

    @model_validator(mode="after")
    def _one_source(self) -> SimilarRequest:
        if (self.passage_id is None) == (self.text is None):
            raise ValueError("give exactly one of passage_id and text")
        return self

    def check_limits(self, limits: RequestLimits) -> None:
        """Raises :class:`LimitExceeded` for a text that is too long or blank."""
        _check_text(self.text, limits.text_chars, "The text")


class SimilarGroup(BaseModel):
    doc_id: str
    title: str
    organization: str
    kind: str
    date: str
    source: str
    best_score: float
    passages: list[SearchHit]


class SimilarResponse(BaseModel):
    source: dict[str, Any]
    index_version: int
    groups: list[SimilarGroup]


# --------------------------------------------------------------------------- tagging


class TagRequest(Strict):
    texts: list[str] = Field(..., min_length=1, examples=[[
        ("We will connect every school to the internet by 2030 and train teachers in digital "
         "skills.")]])
    ids: list[str] | None = Field(None, description="One id per text (default: 0, 1, ...).")
    explain: bool = Field(True, description="Add evidence: sentences, examples, keywords.")

    @field_validator("texts", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _ids_match(self) -> TagRequest:
        if self.ids is not None and len(self.ids) != len(self.texts):
            raise ValueError(f"ids has {len(self.ids)} entries for {len(self.texts)} texts")
        return self

    def check_limits(self, limits: RequestLimits) -> None:
        """Raises :class:`LimitExceeded` for too many texts, or one too long or blank."""
        most = limits.texts_per_request
        if len(self.texts) > most:
            raise LimitExceeded(f"{len(self.texts)} texts sent; at most {most} per request")
        for i, text in enumerate(self.texts):
            _check_text(text, limits.text_chars, f"Text {i}")


class TagResponse(BaseModel):
    models: dict[str, dict[str, Any]]
    results: list[dict[str, Any]] = Field(
        ..., description="Per text: id, then for each key (action_lines, sdgs, sdg_targets, "
        "gdc, gdc_sections, gdc_commitments, gdc_principles) every label sorted by score, with label, score, "
        "predicted and, when explain is on, threshold and evidence.")


# --------------------------------------------------------------------------- documents


class DocumentInfo(BaseModel):
    id: str
    title: str
    organization: str
    kind: str
    date: str
    source: str
    passages: int


class PassageScore(BaseModel):
    passage_id: str
    score: float


class LabelSummary(BaseModel):
    label: str
    title: str
    passages: int = Field(..., description="Passages where the label is predicted.")
    share: float
    mean_score: float
    top_passages: list[PassageScore] = Field(
        ..., description="The passages where the label scores highest, strongest first.")


class PassageOut(BaseModel):
    id: str
    index: int
    start: int
    end: int
    text: str
    tags: dict[str, list[TagBrief]] | None = None


class DocumentDetail(DocumentInfo):
    tags_available: bool
    summary: dict[str, list[LabelSummary]] | None = None
    passage_list: list[PassageOut] = Field(default_factory=list)


class UploadResponse(BaseModel):
    created: bool
    index_version: int
    document: DocumentDetail


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


# --------------------------------------------------------------------------- feedback, models


class FeedbackRequest(Strict):
    """Judge one label on a stored passage (``passage_id``) or on free ``text``."""

    passage_id: str | None = Field(None, pattern=_ID)
    text: str | None = Field(None, min_length=1)
    label: str = Field(..., min_length=1, max_length=64, examples=["C7.e-learning"])
    scheme: Scheme | None = Field(None, description="Inferred from the label when omitted.")
    action: FeedbackAction
    score: float | None = Field(None, ge=0, le=1, description="The model's score, if shown.")
    note: str = Field("", max_length=2000)
    author: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> FeedbackRequest:
        if (self.passage_id is None) == (self.text is None):
            raise ValueError("give exactly one of passage_id and text")
        return self

    def check_limits(self, limits: RequestLimits) -> None:
        """Raises :class:`LimitExceeded` for a text that is too long or blank."""
        _check_text(self.text, limits.text_chars, "The text")


class FeedbackOut(BaseModel):
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


class FeedbackList(BaseModel):
    count: int
    feedback: list[FeedbackOut]


class RetrainRequest(Strict):
    evaluate: bool = Field(False, description="Cross-validate too (slow; fills the model "
                           "cards' metrics when training data is present).")


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created: str
    started: str | None = None
    finished: str | None = None
    message: str = ""
    params: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class ModelsResponse(BaseModel):
    available: bool
    reason: str = ""
    models: dict[str, dict[str, Any]]
    feedback_count: int
    jobs: list[JobOut]
