"""What the readers share: labelled-text records, the missing-file check and text cleaning."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nlp.errors import DataMissingError

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class LabelledText:
    """A text with one label of one scheme. ``id`` is ``<source>:<row>`` and stable per file."""

    id: str
    text: str
    label: str
    source: str


@dataclass(frozen=True)
class MultiLabelText:
    """A text with one or more labels of one scheme (``labels`` sorted, no duplicates)."""

    id: str
    text: str
    labels: tuple[str, ...]
    source: str


def require_file(path: Path) -> Path:
    """``path`` itself, when it exists.

    Raises:
        DataMissingError: it does not.
    """
    if not path.exists():
        raise DataMissingError(str(path))
    return path


def clean_text(text: str) -> str:
    """White space folded to single spaces, ends stripped."""
    return _SPACE.sub(" ", text).strip()


SDG_GOALS = frozenset(str(n) for n in range(1, 18))


def sdg_goal(value: str, where: str) -> str:
    """A goal number ``"1"``..``"17"`` from a cell.

    Raises:
        ValueError: the cell is no goal number (``where`` says which row).
    """
    goal = value.strip()
    if goal not in SDG_GOALS:
        raise ValueError(f"SDG {value!r} at {where} is not a goal number 1-17")
    return goal


def sdg_goal_order(goals: Iterable[str]) -> tuple[str, ...]:
    """Distinct goal numbers in numeric order."""
    return tuple(sorted(set(goals), key=int))
