"""Upload, list, inspect, report on and delete documents."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import service
from api.deps import Context, ReadAccess, WriteAccess
from api.schemas import DocumentDetail, DocumentList, UploadResponse
from nlp import reports
from nlp.search import date_range
from nlp.types import DocumentMeta

router = APIRouter(prefix="/v1/documents", tags=["documents"], dependencies=[ReadAccess])

DocId = Path(..., pattern=r"^[0-9a-f]{16}$", description="Document id (16 hex digits).")
_META_FIELDS = ("title", "organization", "kind", "date")

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "pdf, docx, txt, md or html"},
                "title": {"type": "string"}, "organization": {"type": "string"},
                "kind": {"type": "string", "description": "e.g. input, outcome, resolution"},
                "date": {"type": "string", "description": "YYYY, YYYY-MM or YYYY-MM-DD"},
            }}}},
    }
}


def safe_filename(name: str | None) -> str:
    """The last path component of a client-supplied name, stripped of control characters.

    The name is only used to check the extension and as the document's ``source``; it never
    becomes a path on this machine.
    """
    raw = name or ""
    base = PureWindowsPath(PurePosixPath(raw).name).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    base = re.sub(r"\s+", " ", base)[:200]
    return base if base and base not in {".", ".."} else "upload"


def check_archive(data: bytes, limit_bytes: int, max_entries: int = 10_000) -> None:
    """Refuse a ZIP-based upload (docx) that would expand far beyond its own size.

    The readers unpack the archive in memory, so a small "zip bomb" could exhaust it; the
    sizes the archive declares are checked before anything is unpacked.

    Raises:
        HTTPException: 422 when the archive declares too much content or too many entries.
    """
    if not data.startswith(b"PK\x03\x04"):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile:
        return  # not a readable archive: the reader reports it as corrupt
    expanded = sum(entry.file_size for entry in entries)
    if len(entries) > max_entries or expanded > limit_bytes:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the document expands to {expanded / 2**20:.0f} MB in {len(entries)} parts, more "
            f"than the {limit_bytes / 2**20:.0f} MB this server unpacks")


def _too_large(limit_bytes: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"The upload is larger than the {limit_bytes / 2**20:g} MB limit")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UploadResponse,
             dependencies=[WriteAccess], openapi_extra=_UPLOAD_BODY,
             responses={200: {"description": "The same text was already stored"},
                        413: {"description": "Too large"},
                        415: {"description": "Unsupported file type (checked by content)"},
                        422: {"description": "Empty, corrupt or encrypted document"}},
             summary="Upload a document: it is read, indexed and tagged")
async def upload(request: Request, response: Response, ctx: Context) -> dict:
    # The body is parsed here, after the token check, so an anonymous client cannot make the
    # server read a large upload. The ASGI size guard in api.app also stops chunked bodies.
    limits = ctx.limits
    limit = limits.upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + limits.multipart_slack:
        raise _too_large(limit)
    async with request.form(max_files=1, max_fields=len(_META_FIELDS) + 2,
                            max_part_size=limits.form_field_bytes) as form:
        upload_file = form.get("file")
        if not isinstance(upload_file, UploadFile):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "Send the document as a multipart form field named 'file'")
        if upload_file.size is not None and upload_file.size > limit:
            raise _too_large(limit)
        data = await upload_file.read(limit + 1)
        if len(data) > limit:
            raise _too_large(limit)
        fields: dict[str, str] = {}
        for name in _META_FIELDS:
            value = form.get(name)
            value = value.strip() if isinstance(value, str) else ""
            if len(value) > limits.meta_chars:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                    f"The {name} is longer than {limits.meta_chars} characters")
            fields[name] = value
        filename = safe_filename(upload_file.filename)
    if fields["date"] and date_range(fields["date"]) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"date {fields['date']!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    check_archive(data, limits.unpacked_bytes)
    meta = DocumentMeta(title=fields["title"], organization=fields["organization"],
                        kind=fields["kind"], date=fields["date"], source=filename)
    document, created = await run_in_threadpool(ctx.workspace.ingest_bytes, data, filename, meta)
    detail = await run_in_threadpool(service.document_detail, ctx.workspace, ctx.tagging,
                                     document.id)
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"created": created, "index_version": ctx.workspace.index().version,
            "document": detail}


@router.get("", response_model=DocumentList, summary="List documents")
def list_documents(ctx: Context) -> dict:
    counts = ctx.workspace.index().passage_counts()
    return {"documents": [{"id": d.id, **d.meta.to_dict(), "passages": counts.get(d.id, 0)}
                          for d in ctx.workspace.store.list_documents()]}


@router.get("/{doc_id}", response_model=DocumentDetail,
            summary="A document's passages with tags, and its tag summary")
def get_document(ctx: Context, doc_id: str = DocId, passages: bool = True) -> dict:
    return service.document_detail(ctx.workspace, ctx.tagging, doc_id, with_passages=passages)


@router.delete("/{doc_id}", dependencies=[WriteAccess], summary="Delete a document")
def delete_document(ctx: Context, doc_id: str = DocId) -> dict[str, Any]:
    if not ctx.workspace.remove(doc_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No document {doc_id!r}")
    return {"deleted": doc_id, "index_version": ctx.workspace.index().version}


def _report(ctx: Context, doc_id: str) -> dict[str, Any]:
    ctx.tagging.suite()  # a report without tags is not a report: 503 when taggers are missing
    return service.document_detail(ctx.workspace, ctx.tagging, doc_id)


@router.get("/{doc_id}/report.json", summary="Tag report (JSON)")
def report_json(ctx: Context, doc_id: str = DocId) -> Response:
    detail = _report(ctx, doc_id)
    body = json.dumps(detail, ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="wsis-report-{doc_id}.json"'})


@router.get("/{doc_id}/report.csv", summary="Tag report (CSV, one row per passage)")
def report_csv(ctx: Context, doc_id: str = DocId) -> Response:
    detail = _report(ctx, doc_id)
    keys = list(ctx.tagging.key_schemes())
    return Response(reports.report_csv(detail, keys), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="wsis-report-{doc_id}.csv"'})
