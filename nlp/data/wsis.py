"""Readers of the WSIS sets: the ITU WSIS-SDG Matrix, the WSIS Prizes 2021 nominees and the
WSIS Project Prizes 2015 titles, labelled by Action Line."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nlp.data.texts import LabelledText, clean_text, require_file


@dataclass(frozen=True)
class MatrixLink:
    goal: str  # "1".."17"
    targets: tuple[str, ...]  # e.g. ("9.1", "9.c"); empty for a goal-level link
    rationale: str


@dataclass(frozen=True)
class MatrixActionLine:
    id: str  # our Action Line id, e.g. "C7.e-health"
    name: str
    plan_items: tuple[str, ...]  # Geneva Plan of Action paragraphs, HTML stripped
    links: tuple[MatrixLink, ...]


# Order of the 18 entries in the matrix's actions.json.
MATRIX_ACTION_LINE_IDS: tuple[str, ...] = (
    "C1", "C2", "C3", "C4", "C5", "C6",
    "C7.e-government", "C7.e-business", "C7.e-learning", "C7.e-health", "C7.e-employment",
    "C7.e-environment", "C7.e-agriculture", "C7.e-science",
    "C8", "C9", "C10", "C11",
)
_C7_SUBLINE = re.compile(r"e-?(government|business|learning|health|employment|environment|"
                         r"agriculture|science)", re.IGNORECASE)
_ACTION_LINE = re.compile(r"\bC(\d{1,2})\b")
_TAG = re.compile(r"<[^>]+>")


def action_line_from_category(category: str) -> str:
    """Map a WSIS Prizes / stocktaking category string to an Action Line id.

    Raises:
        ValueError: the string names no Action Line.
    """
    match = _ACTION_LINE.search(category.upper())
    if not match:
        raise ValueError(f"No Action Line in category {category!r}")
    number = int(match.group(1))
    if number == 7:
        sub = _C7_SUBLINE.search(category)
        if not sub:
            raise ValueError(f"C7 category without a sub-line: {category!r}")
        return f"C7.e-{sub.group(1).lower()}"
    return f"C{number}"


def read_wsis_matrix(data_dir: Path) -> list[MatrixActionLine]:
    """The 18 Action Lines of the ITU WSIS-SDG Matrix with Plan of Action text and SDG links."""
    path = require_file(Path(data_dir) / "wsis-sdg-matrix/actions.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out: list[MatrixActionLine] = []
    for entry in sorted(raw, key=lambda e: int(e["id"])):
        al_id = MATRIX_ACTION_LINE_IDS[int(entry["id"])]
        html = entry.get("desc") or ""
        items = [clean_text(_TAG.sub(" ", chunk)) for chunk in re.split(r"</li>|</p>", html)]
        links: list[MatrixLink] = []
        for goal in entry.get("goals", []):
            goal_number = str(int(goal["goalId"]) + 1)  # goalId is 0-based
            for sub in goal.get("subgoals", []):
                refs = [r.strip() for r in str(sub.get("subId", "")).split(",") if r.strip()]
                targets = tuple(r for r in refs if "." in r)
                rationale = clean_text(sub.get("rationale") or "")
                links.append(MatrixLink(goal_number, targets, rationale))
        out.append(MatrixActionLine(al_id, clean_text(entry["name"]), tuple(i for i in items if i),
                                    tuple(links)))
    return out


def read_wsis_prizes_2021(data_dir: Path) -> list[LabelledText]:
    """WSIS Prizes 2021 nominees as ``title. description`` labelled by Action Line.

    Uses the shared 180-row sample when present, else the fetched upstream ``nominations2.csv``.
    """
    base = Path(data_dir) / "wsis-stocktaking"
    path = base / "wsis-prizes-2021-train.csv"
    if not path.exists():
        path = require_file(base / "nominations2.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                label = action_line_from_category(row["cat"])
            except ValueError:
                continue
            title, desc = clean_text(row.get("title") or ""), clean_text(row.get("desc") or "")
            text = f"{title}. {desc}" if desc else title
            out.append(LabelledText(f"wsis-prizes-2021:{row_number}", text, label,
                                    "wsis-prizes-2021"))
    return out


def read_wsis_projects_2015(data_dir: Path) -> list[LabelledText]:
    """WSIS Project Prizes 2015 nominee titles labelled by Action Line (file is latin-1)."""
    path = require_file(Path(data_dir) / "wsis-stocktaking/wsis-projects-data.csv")
    raw = path.read_bytes().decode("latin-1")
    out: list[LabelledText] = []
    for row_number, row in enumerate(csv.DictReader(io.StringIO(raw)), start=1):
        try:
            label = action_line_from_category(row["Category"])
        except (ValueError, KeyError):
            continue
        title = clean_text(row.get("Project") or "")
        if title:
            out.append(LabelledText(f"wsis-projects-2015:{row_number}", title, label,
                                    "wsis-projects-2015"))
    return out
