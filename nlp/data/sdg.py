"""Readers of the SDG sets: the official goals, targets and indicators (Open SDG), the JRC,
Aurora and OSDG keywords, the qu-sdg-sentences and the TRAIL22 sentences."""

from __future__ import annotations

import ast
import csv
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from nlp.data.texts import LabelledText, clean_text, require_file, sdg_goal


@dataclass(frozen=True)
class SdgGoalText:
    number: str
    short: str
    title: str


@dataclass(frozen=True)
class AuroraTarget:
    target: str
    descriptions: tuple[str, ...]  # the target and indicator texts as written in the query file
    phrases: tuple[str, ...]  # quoted search phrases without wildcards


def read_sdg_goals(data_dir: Path) -> dict[str, SdgGoalText]:
    import yaml

    raw = yaml.load(require_file(Path(data_dir) / "sdg-taxonomy/global_goals.yml").read_text(),
                    Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~10x faster
    goals = {
        str(n): SdgGoalText(str(n), clean_text(raw[f"{n}-short"]), clean_text(raw[f"{n}-title"]))
        for n in range(1, 18)
    }
    return goals


def _target_sort_key(target: str) -> tuple[int, int, str]:
    goal, _, sub = target.partition(".")
    return (int(goal), 0 if sub.isdigit() else 1, sub.zfill(3))


def read_sdg_targets(data_dir: Path) -> dict[str, str]:
    """``{"1.1": text, ..., "17.19": text}`` in official order."""
    import yaml

    path = require_file(Path(data_dir) / "sdg-taxonomy/global_targets.yml")
    raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    targets = {k.removesuffix("-title").replace("-", "."): clean_text(v) for k, v in raw.items()}
    return dict(sorted(targets.items(), key=lambda kv: _target_sort_key(kv[0])))


def read_sdg_indicators(data_dir: Path) -> dict[str, list[str]]:
    """``{target: [indicator text, ...]}`` from the Open SDG indicator list."""
    import yaml

    path = require_file(Path(data_dir) / "sdg-taxonomy/global_indicators.yml")
    out: dict[str, list[str]] = {}
    raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key, value in raw.items():
        parts = key.removesuffix("-title").split("-")
        out.setdefault(f"{parts[0]}.{parts[1]}", []).append(clean_text(value))
    return out


def read_jrc_keywords(data_dir: Path) -> dict[str, list[str]]:
    """``{target: [keyword, ...]}`` from the JRC SDG Mapper column of the UNSD 2023 CSV."""
    path = require_file(Path(data_dir) / "sdg-taxonomy/SDG_Target_Indicator_UNSD_2023.csv")
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            target = row["TargetsNumber"].strip()
            cell = (row.get("JRCKeywords") or "").strip()
            if not target or not cell:
                continue
            try:
                words = ast.literal_eval(cell)  # a Python list literal; literal_eval runs no code
            except (ValueError, SyntaxError):
                continue
            bucket = out.setdefault(target, [])
            for word in words:
                word = clean_text(str(word))
                if word and word not in bucket:
                    bucket.append(word)
    return out


def read_aurora_queries(data_dir: Path) -> dict[str, AuroraTarget]:
    """Per-target descriptions and plain search phrases from the Aurora SDG queries."""
    ns = {"aqd": "http://aurora-network.global/queries/namespace/",
          "dc": "http://dublincore.org/documents/dcmi-namespace/"}
    out: dict[str, AuroraTarget] = {}
    for goal in range(1, 18):
        path = require_file(Path(data_dir) / f"sdg-queries-aurora/query_SDG{goal}.xml")
        root = ET.fromstring(path.read_bytes())
        for definition in root.iter(f"{{{ns['aqd']}}}query-definition"):
            uri = definition.find("dc:identifier", ns)
            if uri is None or not uri.text:
                continue
            target = uri.text.strip().rsplit("/", 1)[-1]
            descriptions = tuple(
                clean_text(d.text or "")
                for d in definition.iter(f"{{{ns['aqd']}}}subquery-description")
                if (d.text or "").strip()
            )
            phrases: list[str] = []
            for line in definition.iter(f"{{{ns['aqd']}}}query-line"):
                for phrase in re.findall(r'"([^"]+)"', line.text or ""):
                    phrase = clean_text(phrase)
                    plain = "*" not in phrase and "?" not in phrase and len(phrase) > 2
                    if plain and phrase.lower() not in (p.lower() for p in phrases):
                        phrases.append(phrase)
            out[target] = AuroraTarget(target, descriptions, tuple(phrases))
    return out


def read_osdg_keywords(data_dir: Path) -> dict[str, list[str]]:
    """``{"1": [keyword, ...], ...}`` from the OSDG ontology map (uneven; weak evidence only)."""
    path = require_file(Path(data_dir) / "sdg-keywords-osdg/OSDG-kw-mapping.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {key.removeprefix("SDG_"): [str(w) for w in words] for key, words in raw.items()}


def read_sdg_sentences(data_dir: Path) -> list[LabelledText]:
    """Single-label SDG sentences (goal ``"1"``..``"17"``), duplicates dropped."""
    path = require_file(Path(data_dir) / "qu-sdg-sentences/original_data.csv")
    out: list[LabelledText] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row_number, row in enumerate(reader, start=1):
            if len(row) < 2 or not row[0].strip().isdigit():
                continue
            text = clean_text(row[1])
            if not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            out.append(LabelledText(f"qu-sdg-sentences:{row_number}", text, str(int(row[0])),
                                    "qu-sdg-sentences"))
    return out


# TRAIL22 ``origin`` column -> source name (the additional set has no origin).
_TRAIL22_SOURCES = {"UN": "trail22-un", "paper": "trail22-paper", "": "trail22-additional"}


def read_trail22_sentences(data_dir: Path) -> list[LabelledText]:
    """TRAIL22 SDG sentences and abstracts (filtered copy), single-label by goal ``"1".."17"``.

    ``source`` keeps the origin so evaluation can hold out each sub-source: ``"trail22-un"``
    (UN report sentences), ``"trail22-paper"`` (paper abstracts) and ``"trail22-additional"``
    (the mixed additional set). ``id`` is ``trail22:<data row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row has an unknown origin or a label outside 1-17.
    """
    path = require_file(Path(data_dir) / "sdg-sentences-trail22/sentences.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            origin = (row.get("origin") or "").strip()
            if origin not in _TRAIL22_SOURCES:
                raise ValueError(f"Unknown TRAIL22 origin {origin!r} in row {row_number}")
            text = clean_text(row.get("text") or "")
            if text:
                label = sdg_goal(row["sdg"], f"trail22 row {row_number}")
                out.append(LabelledText(f"trail22:{row_number}", text, label,
                                        _TRAIL22_SOURCES[origin]))
    return out
