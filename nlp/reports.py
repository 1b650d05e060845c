"""Tag reports of one document: its metadata, passages with their predicted tags and the
per-label summary (the API's document JSON), and the same as a CSV table that is safe to open
in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nlp.types import Document, Passage

if TYPE_CHECKING:
    from nlp.index import VectorIndex
    from nlp.tagging.table import PassageTagTable


def document_report(document: Document, passages: Sequence[Passage], index: VectorIndex,
                    table: PassageTagTable | None, titles: Mapping[str, str] | None = None,
                    with_passages: bool = True) -> dict[str, Any]:
    """Metadata, passages with their tags, and the per-label summary of one document.

    Args:
        passages: the document's stored passages; those missing from ``index`` get no tags.
        table: the tag table of ``index``; ``None`` when no taggers are loaded (the report
            then has ``tags_available: false`` and no summary).
        titles: label id -> title for the summary.
        with_passages: list the passages (``passage_list``), not only the summary.
    """
    report: dict[str, Any] = {"id": document.id, **document.meta.to_dict(),
                              "passages": len(passages), "tags_available": table is not None,
                              "summary": None, "passage_list": []}
    indexed = [p for p in passages if index.has_passage(p.id)]
    tags: dict[str, Any] = {}
    if table is not None and indexed:
        rows = [index.row(p.id) for p in indexed]
        summary = table.summary(rows, [p.id for p in indexed], titles)
        report["summary"] = {key: [s.to_dict() for s in labels] for key, labels in summary.items()}
        tags = {p.id: table.brief(r) for p, r in zip(indexed, rows)}
    if with_passages:
        report["passage_list"] = [
            {"id": p.id, "index": p.index, "start": p.start, "end": p.end, "text": p.text,
             "tags": tags.get(p.id)} for p in passages]
    return report


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula (uploaded
    text is untrusted); a bullet such as ``"- item"`` stays as it is."""
    if isinstance(value, str) and value and (
        value.startswith(_FORMULA_START) or (value.startswith("-") and value[1:2] not in ("", " "))
    ):
        return "'" + value
    return value


def report_csv(report: Mapping[str, Any], keys: Sequence[str]) -> str:
    """One row per passage of a :func:`document_report`: its position, each key's predicted
    labels with scores, the text; every cell through :func:`spreadsheet_safe`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["doc_id", "title", "passage_id", "index", "start", "end", *keys, "text"])
    for passage in report["passage_list"]:
        tags = passage.get("tags") or {}
        cells = ["; ".join(f"{t['label']} ({t['score']:.2f})" for t in tags.get(key, []))
                 for key in keys]
        writer.writerow([spreadsheet_safe(v) for v in (
            report["id"], report["title"], passage["id"], passage["index"], passage["start"],
            passage["end"], *cells, passage["text"])])
    return out.getvalue()
