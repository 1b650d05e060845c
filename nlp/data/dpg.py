"""Readers of the digital public goods sets: nominees' descriptions and SDG evidence, labelled
with the goals they declare."""

from __future__ import annotations

import csv
from pathlib import Path

from nlp.data.texts import (
    LabelledText,
    MultiLabelText,
    clean_text,
    require_file,
    sdg_goal,
    sdg_goal_order,
)


def read_dpg_descriptions(data_dir: Path) -> list[MultiLabelText]:
    """Digital public goods as ``name. description`` with their self-declared SDGs.

    The labels are declared by the nominees (noisy, recall-leaning). ``id`` is
    ``dpg-descriptions:<data row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row declares a goal outside 1-17.
    """
    path = require_file(Path(data_dir) / "digital-public-goods/descriptions.csv")
    out: list[MultiLabelText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            where = f"dpg-descriptions row {row_number}"
            goals = [sdg_goal(g, where) for g in (row.get("sdgs") or "").split(";") if g.strip()]
            name, desc = clean_text(row.get("name") or ""), clean_text(row.get("description") or "")
            text = f"{name}. {desc}" if name and not desc.startswith(name) else desc
            if text and goals:
                out.append(MultiLabelText(f"dpg-descriptions:{row_number}", text,
                                          sdg_goal_order(goals), "dpg-descriptions"))
    return out


def read_dpg_evidence_rows(data_dir: Path) -> list[LabelledText]:
    """The DPG evidence file row by row: one nominee's explanation for one goal.

    The same text repeats when a nominee gave one explanation for several goals; use
    :func:`read_dpg_evidence` for one multi-label item per text. ``id`` is
    ``dpg-evidence:<data row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row's goal is outside 1-17.
    """
    path = require_file(Path(data_dir) / "digital-public-goods/sdg-evidence.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            text = clean_text(row.get("evidence_text") or "")
            if text:
                label = sdg_goal(row["sdg"], f"dpg-evidence row {row_number}")
                out.append(LabelledText(f"dpg-evidence:{row_number}", text, label,
                                        "dpg-evidence"))
    return out


def read_dpg_evidence(data_dir: Path) -> list[MultiLabelText]:
    """DPG evidence texts, one item per nominee and text, labelled with every goal it backs.

    Rows of one nominee with the same text are merged (identical texts of different nominees
    stay separate items). ``id`` is the first merged row's ``dpg-evidence:<row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row's goal is outside 1-17.
    """
    path = require_file(Path(data_dir) / "digital-public-goods/sdg-evidence.csv")
    first_id: dict[tuple[str, str], str] = {}
    goals: dict[tuple[str, str], list[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            text = clean_text(row.get("evidence_text") or "")
            if not text:
                continue
            key = (clean_text(row.get("name") or ""), text)
            first_id.setdefault(key, f"dpg-evidence:{row_number}")
            goals.setdefault(key, []).append(sdg_goal(row["sdg"], f"dpg-evidence row {row_number}"))
    return [
        MultiLabelText(first_id[key], key[1], sdg_goal_order(goals[key]), "dpg-evidence")
        for key in first_id
    ]
