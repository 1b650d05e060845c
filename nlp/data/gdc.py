"""Reader of the adopted Global Digital Compact text, one record per paragraph or item."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nlp.data.texts import clean_text, require_file


@dataclass(frozen=True)
class GdcParagraph:
    """One paragraph, lead-in or lettered item of the adopted Global Digital Compact text.

    ``id`` is the item's id in ``corpus/taxonomy/gdc.yaml`` (``GDC-1.1.d``, ``GDC-P.a`` for a
    principle, ``GDC-V.1`` for a vision paragraph) or None for a bare lead-in such as "We commit,
    by 2030, to:". ``sdg_tags`` are the Compact's own "(SDG n)" tags (``("all",)`` for
    "(all SDGs)", empty where the text gives none).
    """

    ref: str  # "11" for a paragraph, "11(d)" for a lettered item
    paragraph: int
    letter: str | None
    id: str | None
    objective: str | None
    section: str | None
    section_title: str | None
    sdg_tags: tuple[str, ...]
    text: str


def read_gdc_text(data_dir: Path) -> list[GdcParagraph]:
    """The adopted Global Digital Compact text, one record per paragraph or lettered item.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a line is not a JSON object with the documented fields.
    """
    path = require_file(Path(data_dir) / "gdc-text/gdc-paragraphs.jsonl")
    out: list[GdcParagraph] = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                out.append(GdcParagraph(
                    ref=str(raw["ref"]), paragraph=int(raw["paragraph"]),
                    letter=raw.get("letter"), id=raw.get("id"),
                    objective=raw.get("objective"), section=raw.get("section"),
                    section_title=raw.get("section_title"),
                    sdg_tags=tuple(str(t) for t in raw.get("sdg_tags") or ()),
                    text=clean_text(raw["text"]),
                ))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path.name} line {line_number} is not a GDC record: "
                                 f"{exc!r}") from exc
    return out
