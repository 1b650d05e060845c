"""The three label schemes (WSIS Action Lines, SDGs with targets, Global Digital Compact) and
their cross-walks, loaded from ``corpus/taxonomy/`` and, for SDG texts, the data directory.

Every label is a :class:`Label` with the texts the zero-shot prototypes are built from. Label
ids are the strings the tag contract uses: ``"C7.e-learning"``, ``"4"``, ``"4.1"``, ``"GDC-1"``,
``"GDC-1.1"``, ``"GDC-1.1.d"``, ``"GDC-P.a"``.

The GDC scheme has four levels: ``objective`` (the five objectives plus ``GDC-FU``, the
follow-up and review part, which groups its section the same way), ``section``, ``commitment``
(lettered items such as ``GDC-1.1.d`` and paragraph-level items such as ``GDC-4.4.48``) and
``principle`` (the thirteen cross-cutting principles of paragraph 8, ``GDC-P.a`` ...
``GDC-P.m``, without a parent). The vision paragraphs are kept in ``Taxonomy.gdc_preamble``
but are not tag labels. A label's ``sdgs`` are the Compact's own "(SDG n)" tags where the text
gives numbers (``gdc.yaml`` marks where it maps them itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from nlp import data as datasets
from nlp.errors import WsisError

ACTION_LINES = "action-lines"
SDGS = "sdgs"
GDC = "gdc"
SCHEMES: tuple[str, ...] = (ACTION_LINES, SDGS, GDC)
GDC_FOLLOW_UP = "GDC-FU"  # the follow-up and review part: an objective-level group, not one of the 5

# Topic words for the 17 goals, written for this project. They let the SDG tagger work
# zero-shot when the data directory (with the official goal and target texts) is absent.
_GOAL_TOPICS: dict[str, str] = {
    "1": "poverty, social protection and basic services for the poor",
    "2": "hunger, food security, nutrition and sustainable agriculture",
    "3": "health, disease, health care and well-being",
    "4": "education, schools, learning and skills",
    "5": "gender equality and empowerment of women and girls",
    "6": "water, sanitation and hygiene",
    "7": "energy access, renewable energy and energy efficiency",
    "8": "jobs, decent work, productivity and economic growth",
    "9": "infrastructure, industry, innovation and research",
    "10": "inequality within and among countries, inclusion of marginalised groups",
    "11": "cities, housing, urban transport and disaster resilience",
    "12": "consumption, production, waste and resource use",
    "13": "climate change, emissions and adaptation",
    "14": "oceans, seas, fisheries and marine resources",
    "15": "forests, land, biodiversity and ecosystems",
    "16": "peace, justice, rule of law, rights and accountable institutions",
    "17": "partnerships, finance, technology transfer, capacity support and data for development",
}


# Target numbering of the 2030 Agenda: per goal, the last numbered target and the lettered
# (means of implementation) targets. Used for the label set when target texts are absent.
_TARGET_LAYOUT: dict[str, tuple[int, str]] = {
    "1": (5, "ab"), "2": (5, "abc"), "3": (9, "abcd"), "4": (7, "abc"), "5": (6, "abc"),
    "6": (6, "ab"), "7": (3, "ab"), "8": (10, "ab"), "9": (5, "abc"), "10": (7, "abc"),
    "11": (7, "abc"), "12": (8, "abc"), "13": (3, "ab"), "14": (7, "abc"), "15": (9, "abc"),
    "16": (10, "ab"), "17": (19, ""),
}


def sdg_target_ids() -> list[str]:
    """The 169 SDG target ids in official order (``"1.1"`` ... ``"17.19"``)."""
    return [
        f"{goal}.{sub}"
        for goal, (last, letters) in _TARGET_LAYOUT.items()
        for sub in [*map(str, range(1, last + 1)), *letters]
    ]


class TaxonomyError(WsisError):
    """A taxonomy file is missing or malformed."""


@dataclass(frozen=True)
class Label:
    """One label of one scheme with the texts that describe it."""

    id: str
    scheme: str
    # "action_line" | "goal" | "target" | "objective" | "section" | "commitment" | "principle"
    # ("preamble" only for Taxonomy.gdc_preamble, which are not tag labels)
    level: str
    title: str
    texts: tuple[str, ...] = ()  # summary, scope items, indicators ... (prototype material)
    keywords: tuple[str, ...] = ()
    parent: str | None = None
    sdgs: tuple[str, ...] = ()  # linked SDG goals ("1".."17")
    sdg_targets: tuple[str, ...] = ()
    gdc_sections: tuple[str, ...] = ()  # Action Lines: the GDC sections on the same subject

    def prototype_texts(self) -> list[str]:
        """Texts whose mean embedding is this label's zero-shot prototype."""
        out = [self.title, *self.texts]
        if self.keywords:
            out.append(", ".join(self.keywords))
        return [t for t in out if t.strip()]


@dataclass
class Taxonomy:
    """All labels, their versions and the cross-walks between schemes."""

    labels: dict[str, list[Label]]  # scheme -> labels (goals then targets for SDGs)
    versions: dict[str, str]
    sdg_source: str = "built-in topics"  # "data-dir" when official texts were read
    gdc_preamble: tuple[Label, ...] = ()  # GDC vision paragraphs (GDC-V.*): context, not labels
    _by_id: dict[tuple[str, str], Label] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {(lab.scheme, lab.id): lab for labs in self.labels.values() for lab in labs}

    # --- access ---------------------------------------------------------------------------
    def get(self, scheme: str, label_id: str) -> Label:
        try:
            return self._by_id[(scheme, label_id)]
        except KeyError:
            raise KeyError(f"Label {label_id!r} is not in scheme {scheme!r}") from None

    def level(self, scheme: str, level: str) -> list[Label]:
        return [lab for lab in self.labels[scheme] if lab.level == level]

    def ids(self, scheme: str, level: str | None = None) -> list[str]:
        labs = self.labels[scheme] if level is None else self.level(scheme, level)
        return [lab.id for lab in labs]

    def children(self, scheme: str, parent: str) -> list[Label]:
        return [lab for lab in self.labels[scheme] if lab.parent == parent]

    @property
    def action_lines(self) -> list[Label]:
        return self.labels[ACTION_LINES]

    @property
    def sdg_goals(self) -> list[Label]:
        return self.level(SDGS, "goal")

    @property
    def sdg_targets(self) -> list[Label]:
        return self.level(SDGS, "target")

    # --- cross-walks ------------------------------------------------------------------------
    def action_line_sdgs(self, action_line: str) -> tuple[str, ...]:
        """SDG goals linked to an Action Line by the ITU WSIS-SDG Matrix.

        C7 itself has no links in the Matrix; it inherits the union of its sub-lines'.
        """
        label = self.get(ACTION_LINES, action_line)
        if label.sdgs or label.parent is not None:
            return label.sdgs
        merged = {g for child in self.children(ACTION_LINES, action_line) for g in child.sdgs}
        return tuple(sorted(merged, key=int))

    def action_line_sdg_targets(self, action_line: str) -> tuple[str, ...]:
        label = self.get(ACTION_LINES, action_line)
        if label.sdg_targets or label.parent is not None:
            return label.sdg_targets
        merged: list[str] = []
        for child in self.children(ACTION_LINES, action_line):
            merged += [t for t in child.sdg_targets if t not in merged]
        return tuple(merged)

    def gdc_commitment_sdgs(self, commitment: str) -> tuple[str, ...]:
        return self.get(GDC, commitment).sdgs

    def gdc_objective_of(self, label_id: str) -> str:
        """The objective a GDC commitment (or section) sits under; an objective is its own.

        ``GDC-FU`` is returned for the follow-up and review items.

        Raises:
            KeyError: the id is not a GDC label.
            ValueError: the label is a cross-cutting principle, which belongs to no objective.
        """
        label = self.get(GDC, label_id)
        if label.level == "principle":
            raise ValueError(f"GDC principle {label_id!r} belongs to no objective")
        while label.level != "objective":
            if label.parent is None:
                raise ValueError(f"GDC label {label.id!r} ({label.level}) has no objective")
            label = self.get(GDC, label.parent)
        return label.id

    def gdc_section_links(self) -> dict[str, tuple[str, ...]]:
        """GDC section -> the Action Lines on the same subject (``gdc_sections`` in
        ``action-lines.yaml``), for sections that have any."""
        links: dict[str, tuple[str, ...]] = {}
        for line in self.action_lines:
            for section in line.gdc_sections:
                links[section] = (*links.get(section, ()), line.id)
        return links

    def matrix_consistency(
        self, action_lines: list[str], sdgs: list[str]
    ) -> dict[str, list[str]]:
        """Which predicted SDGs each predicted Action Line is linked to in the Matrix.

        Returns ``{action_line: [linked predicted SDGs]}``; an empty list means the Action Line
        was predicted without any of its Matrix SDGs.
        """
        predicted = set(sdgs)
        return {
            al: [g for g in self.action_line_sdgs(al) if g in predicted] for al in action_lines
        }

    def fingerprint(self, scheme: str) -> str:
        """Hash of the label set and prototype texts of a scheme (detects taxonomy edits)."""
        digest = hashlib.sha256()
        for lab in self.labels[scheme]:
            digest.update("\x1f".join([lab.id, *lab.prototype_texts()]).encode("utf-8"))
        if scheme == GDC:  # the GDC tagger also decides linked sections from Action Lines
            for section, lines in sorted(self.gdc_section_links().items()):
                digest.update("\x1e".join([section, *lines]).encode("utf-8"))
        return digest.hexdigest()[:16]


def _strs(values: object) -> tuple[str, ...]:
    if not values:
        return ()
    return tuple(str(v).strip() for v in values if str(v).strip())  # type: ignore[union-attr]


# libyaml's safe loader when PyYAML was built with it: the same documents, parsed ~10x faster
# (the pure-Python parser took most of a `wsis tag` start-up reading the taxonomy files).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise TaxonomyError(f"Taxonomy file {str(path)!r} is missing")
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    if not isinstance(loaded, dict):
        raise TaxonomyError(f"Taxonomy file {str(path)!r} is not a mapping")
    return loaded


def _load_action_lines(path: Path) -> tuple[list[Label], str]:
    raw = _read_yaml(path)
    labels = []
    for item in raw.get("action_lines") or []:
        texts = [item.get("short", ""), item.get("summary", ""), *(item.get("scope") or [])]
        labels.append(
            Label(
                id=str(item["id"]),
                scheme=ACTION_LINES,
                level="action_line",
                title=str(item.get("title", "")),
                texts=_strs(texts),
                keywords=_strs(item.get("keywords")),
                parent=item.get("parent"),
                sdgs=_strs(item.get("sdgs")),
                sdg_targets=_strs(item.get("sdg_targets")),
                gdc_sections=_strs(item.get("gdc_sections")),
            )
        )
    if not labels:
        raise TaxonomyError(f"No action_lines in {str(path)!r}")
    return labels, str(raw.get("version", "unversioned"))


@dataclass(frozen=True)
class _GdcFile:
    labels: list[Label]
    version: str
    preamble: tuple[Label, ...]


def _sorted_goals(goals: set[str]) -> tuple[str, ...]:
    return tuple(sorted(goals, key=int))


def _load_gdc(path: Path) -> _GdcFile:
    """Objectives (and the follow-up part), sections, commitments, principles and preamble.

    A section may have no commitments (its title and keywords still make a label).

    Raises:
        TaxonomyError: an item has no id, or an id is used twice.
    """
    raw = _read_yaml(path)
    labels: list[Label] = []
    groups = list(raw.get("objectives") or [])
    if raw.get("follow_up"):
        groups.append(raw["follow_up"])
    for objective in groups:
        obj_id = _item_id(objective, path)
        sections = objective.get("sections") or []
        labels.append(
            Label(
                id=obj_id, scheme=GDC, level="objective", title=str(objective.get("title", "")),
                texts=_strs(s.get("title") for s in sections),
            )
        )
        for section in sections:
            sec_id = _item_id(section, path)
            commitments = section.get("commitments") or []
            labels.append(
                Label(
                    id=sec_id, scheme=GDC, level="section", title=str(section.get("title", "")),
                    texts=_strs(c.get("summary") for c in commitments),
                    # one keyword per section even when several commitments list it
                    keywords=tuple(dict.fromkeys(
                        k for c in commitments for k in _strs(c.get("keywords"))
                    )),
                    parent=obj_id,
                    sdgs=_sorted_goals({g for c in commitments for g in _strs(c.get("sdgs"))}),
                )
            )
            for commitment in commitments:
                labels.append(
                    Label(
                        id=_item_id(commitment, path), scheme=GDC, level="commitment",
                        title=str(section.get("title", "")),
                        texts=_strs([commitment.get("summary", "")]),
                        keywords=_strs(commitment.get("keywords")),
                        parent=sec_id,
                        sdgs=_strs(commitment.get("sdgs")),
                    )
                )
    for principle in raw.get("cross_cutting_principles") or []:
        labels.append(
            Label(
                id=_item_id(principle, path), scheme=GDC, level="principle",
                title=str(principle.get("name", "")),
                texts=_strs([principle.get("summary", "")]),
                keywords=_strs(principle.get("keywords")),
                sdgs=_strs(principle.get("sdgs")),
            )
        )
    preamble = tuple(
        Label(
            id=_item_id(item, path), scheme=GDC, level="preamble",
            title=f"Paragraph {item.get('ref', '')}".strip(),
            texts=_strs([item.get("summary", "")]),
        )
        for item in raw.get("preamble") or []
    )
    seen: set[str] = set()
    for lab in [*labels, *preamble]:
        if lab.id in seen:
            raise TaxonomyError(f"GDC id {lab.id!r} appears twice in {str(path)!r}")
        seen.add(lab.id)
    return _GdcFile(labels, str(raw.get("version", "unversioned")), preamble)


def _item_id(item: object, path: Path) -> str:
    if not isinstance(item, dict) or not str(item.get("id") or "").strip():
        raise TaxonomyError(f"An item without an id in {str(path)!r}: {item!r}")
    return str(item["id"]).strip()


def _load_sdgs(data_dir: Path | None) -> tuple[list[Label], str, str]:
    """Goals and targets from the data directory; goal topics only when it is absent."""
    if data_dir is None or not (Path(data_dir) / "sdg-taxonomy/global_targets.yml").exists():
        goals = [
            Label(id=n, scheme=SDGS, level="goal", title=f"SDG {n}: {topic}")
            for n, topic in _GOAL_TOPICS.items()
        ]
        # Without target texts a target only knows its goal's topic (see SdgTagger).
        targets = [
            Label(id=t, scheme=SDGS, level="target", title=f"SDG {t.split('.')[0]}: "
                  f"{_GOAL_TOPICS[t.split('.')[0]]}", parent=t.split(".")[0])
            for t in sdg_target_ids()
        ]
        return goals + targets, "builtin-goal-topics", "built-in topics"
    goal_texts = datasets.read_sdg_goals(data_dir)
    targets = datasets.read_sdg_targets(data_dir)
    indicators = datasets.read_sdg_indicators(data_dir)
    jrc = datasets.read_jrc_keywords(data_dir)
    labels: list[Label] = []
    for n, goal in goal_texts.items():
        labels.append(
            Label(
                id=n, scheme=SDGS, level="goal", title=f"{goal.short}: {goal.title}",
                texts=(_GOAL_TOPICS[n],),
            )
        )
    for target, text in targets.items():
        labels.append(
            Label(
                id=target, scheme=SDGS, level="target", title=text,
                texts=tuple(indicators.get(target, [])),
                keywords=tuple(jrc.get(target, [])),
                parent=target.split(".")[0],
            )
        )
    return labels, "un-global-indicator-framework", "data-dir"


# Parsed taxonomy files by (taxonomy dir, SDG dir), with the digest of the bytes they were
# parsed from: one `wsis tag` or server start loads the taxonomy three times (workspace, model
# check, examples), ~0.2 s of parsing each; hashing the files takes a few milliseconds.
_PARSED: dict[tuple[str, str | None], tuple] = {}
_PARSED_LOCK = threading.Lock()


def _files_digest(files: list[Path], folder: Path | None) -> str:
    """SHA-256 over the names and bytes of ``files`` and of every file in ``folder`` (a missing
    file counts as missing, so its appearance changes the digest)."""
    paths = list(files)
    if folder is not None and folder.is_dir():
        paths += sorted(f for f in folder.iterdir() if f.is_file())
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode("utf-8") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing\0")
    return digest.hexdigest()


# The code that turns the files into labels: a change to it changes the digest too.
_PARSER_FILES = (Path(__file__), *(Path(datasets.__file__).parent / name
                                   for name in ("sdg.py", "texts.py")))
_TUPLE_FIELDS = ("texts", "keywords", "sdgs", "sdg_targets", "gdc_sections")


def _label_from(raw: dict) -> Label:
    return Label(**{k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in raw.items()})


def _read_parsed(path: Path, stamp: str) -> tuple | None:
    """The parse saved by :func:`_write_parsed` when it was made from files of digest
    ``stamp``; ``None`` when missing, stale or unreadable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("digest") != stamp:
            return None
        gdc = raw["gdc"]
        return (stamp,
                ([_label_from(x) for x in raw["action_lines"]], raw["action_lines_version"]),
                _GdcFile([_label_from(x) for x in gdc["labels"]], gdc["version"],
                         tuple(_label_from(x) for x in gdc["preamble"])),
                ([_label_from(x) for x in raw["sdgs"]], raw["sdgs_version"], raw["sdg_source"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_parsed(path: Path, parsed: tuple) -> None:
    stamp, (action_lines, al_version), gdc, (sdgs, sdg_version, sdg_source) = parsed
    raw = {"digest": stamp,
           "action_lines": [asdict(x) for x in action_lines], "action_lines_version": al_version,
           "gdc": {"labels": [asdict(x) for x in gdc.labels], "version": gdc.version,
                   "preamble": [asdict(x) for x in gdc.preamble]},
           "sdgs": [asdict(x) for x in sdgs], "sdgs_version": sdg_version,
           "sdg_source": sdg_source}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one
    except OSError:
        pass  # a read-only home: parse in every process


def load_taxonomy(taxonomy_dir: Path, data_dir: Path | None = None,
                  cache_dir: Path | None = None) -> Taxonomy:
    """Load the three schemes.

    Args:
        taxonomy_dir: folder with ``action-lines.yaml`` and ``gdc.yaml``.
        data_dir: the third-party data directory; SDG goal and target texts are read from it.
            Without it the SDG scheme holds the 17 goals described by built-in topic words.
        cache_dir: keep the parsed labels there between processes (JSON, used while the
            digest of the files and of this parsing code is the same).

    Raises:
        TaxonomyError: a taxonomy file is missing or malformed.
    """
    taxonomy_dir = Path(taxonomy_dir)
    al_path, gdc_path = taxonomy_dir / "action-lines.yaml", taxonomy_dir / "gdc.yaml"
    sdg_dir = None if data_dir is None else Path(data_dir) / "sdg-taxonomy"
    key = (str(taxonomy_dir.resolve()), None if sdg_dir is None else str(sdg_dir.resolve()))
    stamp = _files_digest([al_path, gdc_path, *_PARSER_FILES], sdg_dir)
    with _PARSED_LOCK:
        parsed = _PARSED.get(key)
    if parsed is None or parsed[0] != stamp:
        cache = None if cache_dir is None else Path(cache_dir) / "taxonomy.json"
        parsed = _read_parsed(cache, stamp) if cache is not None else None
        if parsed is None:
            parsed = (stamp, _load_action_lines(al_path), _load_gdc(gdc_path),
                      _load_sdgs(data_dir))
            if cache is not None:
                _write_parsed(cache, parsed)
        with _PARSED_LOCK:
            _PARSED[key] = parsed
    _, (action_lines, al_version), gdc, (sdgs, sdg_version, sdg_source) = parsed
    sections = {lab.id for lab in gdc.labels if lab.level == "section"}
    for line in action_lines:
        unknown = [s for s in line.gdc_sections if s not in sections]
        if unknown:
            raise TaxonomyError(f"Action Line {line.id} in {str(al_path)!r} links to "
                                f"{', '.join(unknown)}, which is not a section of "
                                f"{str(gdc_path)!r}")
    # Labels are frozen and shared; every caller gets its own lists and dicts.
    return Taxonomy(
        labels={ACTION_LINES: list(action_lines), SDGS: list(sdgs), GDC: list(gdc.labels)},
        versions={ACTION_LINES: al_version, SDGS: sdg_version, GDC: gdc.version},
        sdg_source=sdg_source,
        gdc_preamble=gdc.preamble,
    )
