"""Third-party reference data: where each file comes from, how to fetch it, how to read it.

The files are never copied into the repository. They live in ``Settings.data_dir`` (env
``WSIS_DATA_DIR``); :func:`fetch` downloads them from the public GitHub repositories at the
commits recorded in each folder's ``SOURCE.md`` and refuses any file whose SHA-256 differs from
the registry. Some shared files are *derived*: filtered or extracted from upstream files with
steps a download cannot repeat (see :class:`Derivation`); :func:`fetch` never downloads those but
reports them as ``"manual"`` and :func:`manual_instructions` says which file goes where and why.
Readers return plain typed values (dicts, lists, frozen dataclasses), never DataFrames, so the
taxonomy and the trainers do not depend on pandas.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nlp.errors import DataChecksumError, DataMissingError

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Derivation:
    """How a derived file was made from upstream files that a plain download cannot reproduce.

    ``sources`` are the upstream files (pinned URLs or ``repo@commit:path``), ``filtering`` the
    steps applied (as in the folder's ``SOURCE.md``) and ``why_manual`` why :func:`fetch` cannot
    rebuild the file byte for byte, so that it has to be copied in by hand.
    """

    sources: tuple[str, ...]
    filtering: str
    why_manual: str


@dataclass(frozen=True)
class DataFile:
    """One raw file of a data set: where it lives upstream and where it goes locally."""

    dataset: str
    path: str  # relative to the data directory
    repo: str
    commit: str
    upstream_path: str
    sha256: str | None  # None: the local copy is derived (sampled), so no upstream hash applies
    license: str
    # Set for a file that is not an upstream file verbatim: fetch() reports it as "manual".
    derived_from: Derivation | None = None

    @property
    def url(self) -> str | None:
        """Raw download URL at the pinned commit; None for a derived file (nothing to download)."""
        if self.derived_from is not None:
            return None
        quoted = urllib.parse.quote(self.upstream_path)
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{quoted}"


_AURORA_COMMIT = "9acd03d00b6c54cede19f5eb0b45eec193e5724b"
_AURORA_SHA = {
    1: "b85efc973cdd10334a98dc91f5ff176d7c09e10679d8bc87bf9a5e5d24fa54cb",
    2: "499d9a057e2e0a6d1dc46c3b03621c3d9b0db79e11fbda685de7036e28fca3fe",
    3: "153584d552420ce4f8f930f82db9c9e37435fbeee2d7a7f0727125dd95bb29e0",
    4: "4e181f8b42f36f2d62fcf88fd77a99e669a05b17a27aefb2c5704e028afb56dd",
    5: "5314dcafcbb791b207b513893fd5536991b0c428f079f95ca63d7bcfa1b26390",
    6: "eef9cc8bbe258386b332d2346b29ec9b2de748c0017e8700fff47ed9ef943215",
    7: "65f1ecdddee3281fc6ded1c1f151188327216b3fa0ce967b7c3d71c63e1e294c",
    8: "b62ad5c08af4becac60a6c07720765435bca58047d3d722dd3f3155fc85681f0",
    9: "b0ed8cfb4e6973ca3e4dbaac720a08ad9d23960652d04bc5a68c39dbc3996db6",
    10: "4271017b83209f8b4982970ac392b23db6b1552a2d6e04b5022d4c39bd548051",
    11: "a329b59d250105a447ef62f076cf579f0aee892b9715d722fb4e8d5ec7f48814",
    12: "7a0e809a530507fe78207137fba17ffe9caf7075f30cb951d944706ee54a63c8",
    13: "926ab2bb013d2c74d962142ab7811ff6435e3b84e5bfc61317ea6548d3fa0a52",
    14: "cbc84413b112227d3b714ae30ecb26636951dea987cc4e11763c07eb55c251ce",
    15: "d0cb38f53ed3e1514dd04fd98c69a075367ff30ca5fbe747a8f4721bba24a2aa",
    16: "3d000d86f216c8b478ce23ad00ae83ce39857b7985f2c38b11d0f21151288a90",
    17: "93e13b276323993682fa2e27176ba7359ca5fc3c9c170562b43d3c4cdd756b9c",
}
_OPEN_SDG = ("open-sdg/sdg-translations", "0cda585851a5c6f04040a9a2755fbb4496c4eead")
_DO_ME = ("do-me/SDG", "2a3803236e62c42dbf053ab0cbbccd451f3e245c")
_MATRIX = ("uwidcit/WSIS-SDG-Matrix", "4c488d2bc9321eac28bcede05d3867a92c2ef04a")
_TRAIL22 = ("DelinteNicolas/TRAIL22-SDG", "21321389ba20865fa11ab0832a3a5f547912828c")
_DPG_CANDIDATES = ("DPGAlliance/publicgoods-candidates", "a1d99f08b175143bb562f7377beefb1de41a6186")
# SOURCE.md pins the PDF by git blob; cc2bd86c is the commit that added it (gdc.yaml, source S1).
_MANDATE_PIPELINE = ("wannli/mandate-pipeline", "cc2bd86c")

REGISTRY: tuple[DataFile, ...] = (
    DataFile(
        "qu-sdg-sentences", "qu-sdg-sentences/original_data.csv",
        "amrayach/Quality_and_usability_SDG_project", "b90a23781213ee08ce66064c4e7e15d7807c4d8e",
        "Data/original_data.csv",
        "e249c34ee126210402ea989f844dca33bf7a12994f690a3e2b3c04f09a1b0428", "Apache-2.0",
    ),
    DataFile(
        "sdg-keywords-osdg", "sdg-keywords-osdg/OSDG-kw-mapping.json",
        "osdg-ai/osdg-tool", "15bb59922bc0d5185af89a413ace46547b29a4a4",
        "osdg/core/sdg/data_files/OSDG-kw-mapping.json",
        "eb04af16fc3617804696629ba2da7d97a42df8e2b09ad435fe9692d4ead35242", "LGPL-3.0",
    ),
    DataFile(
        "sdg-queries-aurora", "sdg-queries-aurora/LICENSE.md",
        "Aurora-Network-Global/sdg-queries", _AURORA_COMMIT, "LICENSE.md",
        "bb5e0179a1e9bdb55634a4303784cf73c297a1dcee27b92cd546bf398075531c", "CC-BY-4.0",
    ),
    *(
        DataFile(
            "sdg-queries-aurora", f"sdg-queries-aurora/query_SDG{n}.xml",
            "Aurora-Network-Global/sdg-queries", _AURORA_COMMIT, f"query_SDG{n}.xml",
            sha, "CC-BY-4.0",
        )
        for n, sha in _AURORA_SHA.items()
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/global_goals.yml", *_OPEN_SDG,
        "translations/en/global_goals.yml",
        "1dfd6cb9dd4dfde38f83bec8c562090eae6c2683c0f5ab6b99ed142d297f7b2d", "MIT",
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/global_targets.yml", *_OPEN_SDG,
        "translations/en/global_targets.yml",
        "955313c5f0e7d4ff830f6df56d3124ca08e8a319be12267cdcaab1023942ea92", "MIT",
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/global_indicators.yml", *_OPEN_SDG,
        "translations/en/global_indicators.yml",
        "968789185544b7ff0350586c88750a34b21e732b514a837c4c0ce29f8d7c5f62", "MIT",
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/SDG_Target_Indicator_UNSD_2023.csv", *_DO_ME,
        "SDG_Target_Indicator_UNSD_2023.csv",
        "a02b3d3096fa8f176f3555f12213c1914761579e09e7d466678de51495b1c2a7", "MIT",
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/JRC_term_matrix.xlsx", *_DO_ME, "JRC_term_matrix.xlsx",
        "df264f23da86fdcf25dab543328ed42ca73c5aa07ba4422ea401d4a0c8cc39f2", "MIT",
    ),
    DataFile(
        "sdg-taxonomy", "sdg-taxonomy/Global Indicator Framework after 2023 refinement.English.xlsx",
        *_DO_ME, "Global Indicator Framework after 2023 refinement.English.xlsx",
        "1514f68d420336af01e9e17f475ce2152ef30edcc216dcd7cc7d21e7e3d6239f", "MIT",
    ),
    DataFile(
        "sdg-taxonomy",
        "sdg-taxonomy/Global-Indicator-Framework-after-2025-review-English - A.RES.71.313 Annex.csv",
        "mahnoor-zamir/sdg-framework", "d0ac92ddfab32af9920c18e6b00a6bff6544cd8e",
        "data/raw/Global-Indicator-Framework-after-2025-review-English - A.RES.71.313 Annex.csv",
        "c4117425bcde94165e2e3d9579844cb087b701774bad141f1e09f729081586de", "MIT",
    ),
    DataFile(
        "wsis-sdg-matrix", "wsis-sdg-matrix/actions.json", *_MATRIX,
        "src/assets/data/en/actions.json",
        "a06e0730829d99bd25bc818d98aa66324faff4e1447d1c0be8724d8e0aac4c9f", "unstated (ITU)",
    ),
    DataFile(
        "wsis-sdg-matrix", "wsis-sdg-matrix/sdgs.json", *_MATRIX, "src/assets/data/en/sdgs.json",
        "80a827d087de0f9b5c0af5629e3824455928dc2831007ae4d309af9512e90c96", "unstated (ITU)",
    ),
    # The shared copy of the 2021 prizes is a fixed 180-row sample of this upstream file, so the
    # fetched file keeps its upstream name and has no pinned hash; the reader uses all of it.
    DataFile(
        "wsis-stocktaking", "wsis-stocktaking/nominations2.csv",
        "desertSniper87/wsis-2021-nomination-scraper", "a61dac9c9dc3c389455187ba741b49a6764f3f32",
        "nominations2.csv", None, "unstated (ITU WSIS Prizes site)",
    ),
    DataFile(
        "wsis-stocktaking", "wsis-stocktaking/wsis-projects-data.csv",
        "anjesh/wsis-projects-2015", "b2117f96b7c4283e3fa051053939f0caefb90e4b",
        "scrapper/wsis-projects-data.csv",
        "a448c369edaef7dd8bf63466a9100a18dea3015bdf42fb3982e0d97adcfbd9de", "MIT",
    ),
    # The next four are filtered or extracted copies (see each folder's SOURCE.md). Their hashes
    # pin the shared copies; fetch() cannot rebuild them and reports them as "manual".
    DataFile(
        "sdg-sentences-trail22", "sdg-sentences-trail22/sentences.csv", *_TRAIL22, "data/",
        "1273797a25c32837179c5026b05eeb7df29a72f9ad14810e8592ebdb8fa5cb6c", "CC-BY-4.0",
        derived_from=Derivation(
            sources=tuple(
                f"https://raw.githubusercontent.com/{_TRAIL22[0]}/{_TRAIL22[1]}/data/{name}"
                for name in ("Train_data.csv", "Test_data.csv", "Final_Additional_Data.csv")
            ),
            filtering=(
                "the three tab-separated files joined (7,367 rows; columns split, origin, header, "
                "text, sdg), then removed: 742 rows repeating qu-sdg-sentences, 467 rows that are "
                "SDG target texts, 1,445 internal duplicates and 59 rows sharing a run of eight "
                "words with texts kept aside for independent evaluation (lower-cased text, "
                "punctuation folded); 4,654 rows remain"
            ),
            why_manual=(
                "the last filter needs the held-out evaluation texts, which are not published; "
                "the unfiltered upstream rows would leak into that evaluation"
            ),
        ),
    ),
    DataFile(
        "digital-public-goods", "digital-public-goods/descriptions.csv", *_DPG_CANDIDATES, "",
        "36bf3291aad992959666cbb9696801f88794849d56fbd8f3fc9202298a373591", "Unlicense",
        derived_from=Derivation(
            sources=(
                (f"{_DPG_CANDIDATES[0]}@{_DPG_CANDIDATES[1]}: one JSON file per nominee "
                 "(current and archive)"),
                "DPGAlliance/publicgoods-api@454a4e9: registration status",
            ),
            filtering=(
                "one row per nominee (739): name, is_registered_dpg, description, sdgs "
                "(semicolon-separated), stage, type, sectors, joined from the per-nominee JSON "
                "files and the API's registration status"
            ),
            why_manual=(
                "it is built from hundreds of per-nominee files in two repositories, not one "
                "file a download can fetch"
            ),
        ),
    ),
    DataFile(
        "digital-public-goods", "digital-public-goods/sdg-evidence.csv", *_DPG_CANDIDATES, "",
        "c8c1e148fdb0a0104ccea6c7765e6bf190c2194e4a55c590a0f9620725ffed7b", "Unlicense",
        derived_from=Derivation(
            sources=(
                (f"{_DPG_CANDIDATES[0]}@{_DPG_CANDIDATES[1]}: the per-SDG evidence texts of "
                 "each nominee's JSON file"),
            ),
            filtering=(
                "one row per nominee and declared goal (name, sdg, evidence_text); one evidence "
                "text sharing a run of eight words with texts kept aside for independent "
                "evaluation removed; 631 rows remain"
            ),
            why_manual=(
                "it is built from per-nominee files, and the filter needs the held-out "
                "evaluation texts, which are not published"
            ),
        ),
    ),
    DataFile(
        "gdc-text", "gdc-text/gdc-paragraphs.jsonl", *_MANDATE_PIPELINE, "data/pdfs/A_RES_79_1.pdf",
        "65ef8653de080ff9f2f6876204b763085fd6d8b2391dafebd4a3e8994048d659",
        "UN official document (cite A/RES/79/1, Annex I)",
        derived_from=Derivation(
            sources=(
                (f"{_MANDATE_PIPELINE[0]}@{_MANDATE_PIPELINE[1]}:data/pdfs/A_RES_79_1.pdf "
                 "(git blob b382e5b7eaebf5a863b3def67c4a6bbbb5da4ee7; official PDF of A/RES/79/1)"),
            ),
            filtering=(
                "Annex I (pages 37-52) extracted with pypdf, split into one record per paragraph "
                "or lettered item (163), footnote markers removed, whitespace normalised, each "
                "record mapped to its corpus/taxonomy/gdc.yaml id and its '(SDG n)' tags parsed"
            ),
            why_manual=(
                "the records come from a PDF extraction checked by hand against the adopted "
                "text and from the taxonomy's ids, not from a file that can be downloaded"
            ),
        ),
    ),
)

# Hash of the derived 180-row sample in the shared data directory (used to record provenance).
PRIZES_2021_SAMPLE = "wsis-stocktaking/wsis-prizes-2021-train.csv"
PRIZES_2021_SAMPLE_SHA256 = "5e33941da91ce083aca98a2c693edee2e15402fa3662916a2dd8b819e331ca93"

Opener = Callable[[str], BinaryIO]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _default_opener(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=60)


def fetch(
    dest_dir: Path,
    files: Iterable[DataFile] = REGISTRY,
    opener: Opener | None = None,
    overwrite: bool = False,
) -> dict[str, str]:
    """Download the registry's files into ``dest_dir`` and verify their SHA-256.

    Each file is written to a temporary file in the target folder, fsynced, checked, then
    renamed into place, so an interrupted or corrupted download never replaces a good file.
    A derived file (``derived_from`` set) is never downloaded: a valid copy is ``"present"``,
    a missing or differing one is ``"manual"`` (left untouched, a warning logged) and
    :func:`manual_instructions` says what to copy where; the other files are fetched as usual.

    Args:
        dest_dir: the data directory to fill (created if needed).
        files: which registry entries to fetch (all by default).
        opener: ``url -> readable binary stream``; ``urllib.request.urlopen`` by default
            (tests pass a local opener).
        overwrite: re-download files that are already present and valid.

    Returns:
        ``{relative path: "downloaded" | "present" | "downloaded-unverified" | "manual"}``.

    Raises:
        DataChecksumError: a downloaded file's hash differs from the registry (file removed).
    """
    open_url = opener or _default_opener
    report: dict[str, str] = {}
    for item in files:
        target = Path(dest_dir) / item.path
        if item.derived_from is not None:
            report[item.path] = "present" if _valid(target, item) else "manual"
            if report[item.path] == "manual":
                log.warning("%s", _manual_note(item, Path(dest_dir)))
            continue
        if target.exists() and not overwrite and _valid(target, item):
            report[item.path] = "present"
            continue
        url = item.url
        assert url is not None  # only derived files have no URL
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open_url(url) as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
            actual = sha256_file(tmp)
            if item.sha256 is not None and actual != item.sha256:
                raise DataChecksumError(item.path, expected=item.sha256, actual=actual)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        report[item.path] = "downloaded" if item.sha256 else "downloaded-unverified"
    return report


def _valid(path: Path, item: DataFile) -> bool:
    return path.exists() and (item.sha256 is None or sha256_file(path) == item.sha256)


def _manual_note(item: DataFile, dest_dir: Path) -> str:
    derivation = item.derived_from
    assert derivation is not None
    target = dest_dir / item.path
    state = "differs from the registry" if target.exists() else "is missing"
    return (
        f"{str(target)!r} {state}. Copy the derived file {item.path!r} "
        f"(sha256 {item.sha256}) from the project's shared data directory (default "
        f"../shared/data beside the checkout) to {str(target)!r}. It cannot "
        f"be fetched verbatim because {derivation.why_manual}. It was made from "
        f"{'; '.join(derivation.sources)} as follows: {derivation.filtering}."
    )


def manual_instructions(dest_dir: Path, files: Iterable[DataFile] = REGISTRY) -> dict[str, str]:
    """What to copy by hand: ``{relative path: instruction}`` for each derived file that is
    missing from ``dest_dir`` or differs from its registry hash (empty when all are in place).
    """
    return {
        item.path: _manual_note(item, Path(dest_dir))
        for item in files
        if item.derived_from is not None and not _valid(Path(dest_dir) / item.path, item)
    }


def verify(data_dir: Path) -> dict[str, bool | None]:
    """``{relative path: True (hash ok) | False (differs) | None (missing)}`` for the registry."""
    result: dict[str, bool | None] = {}
    for item in REGISTRY:
        path = Path(data_dir) / item.path
        if not path.exists():
            result[item.path] = None
        elif item.sha256 is not None:
            result[item.path] = sha256_file(path) == item.sha256
        else:
            result[item.path] = True
    return result


def dataset_hashes(data_dir: Path, relative_paths: Iterable[str]) -> dict[str, str]:
    """SHA-256 of the given data files that exist (recorded in model manifests)."""
    out: dict[str, str] = {}
    for rel in relative_paths:
        path = Path(data_dir) / rel
        if path.exists():
            out[rel] = sha256_file(path)
    return out


# --------------------------------------------------------------------------------------------
# Readers


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
_SPACE = re.compile(r"\s+")


def _require(path: Path) -> Path:
    if not path.exists():
        raise DataMissingError(str(path))
    return path


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


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


def read_sdg_goals(data_dir: Path) -> dict[str, SdgGoalText]:
    import yaml

    raw = yaml.safe_load(_require(Path(data_dir) / "sdg-taxonomy/global_goals.yml").read_text())
    goals = {
        str(n): SdgGoalText(str(n), _clean(raw[f"{n}-short"]), _clean(raw[f"{n}-title"]))
        for n in range(1, 18)
    }
    return goals


def _target_sort_key(target: str) -> tuple[int, int, str]:
    goal, _, sub = target.partition(".")
    return (int(goal), 0 if sub.isdigit() else 1, sub.zfill(3))


def read_sdg_targets(data_dir: Path) -> dict[str, str]:
    """``{"1.1": text, ..., "17.19": text}`` in official order."""
    import yaml

    raw = yaml.safe_load(_require(Path(data_dir) / "sdg-taxonomy/global_targets.yml").read_text())
    targets = {k.removesuffix("-title").replace("-", "."): _clean(v) for k, v in raw.items()}
    return dict(sorted(targets.items(), key=lambda kv: _target_sort_key(kv[0])))


def read_sdg_indicators(data_dir: Path) -> dict[str, list[str]]:
    """``{target: [indicator text, ...]}`` from the Open SDG indicator list."""
    import yaml

    path = _require(Path(data_dir) / "sdg-taxonomy/global_indicators.yml")
    out: dict[str, list[str]] = {}
    for key, value in yaml.safe_load(path.read_text()).items():
        parts = key.removesuffix("-title").split("-")
        out.setdefault(f"{parts[0]}.{parts[1]}", []).append(_clean(value))
    return out


def read_jrc_keywords(data_dir: Path) -> dict[str, list[str]]:
    """``{target: [keyword, ...]}`` from the JRC SDG Mapper column of the UNSD 2023 CSV."""
    path = _require(Path(data_dir) / "sdg-taxonomy/SDG_Target_Indicator_UNSD_2023.csv")
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
                word = _clean(str(word))
                if word and word not in bucket:
                    bucket.append(word)
    return out


def read_aurora_queries(data_dir: Path) -> dict[str, AuroraTarget]:
    """Per-target descriptions and plain search phrases from the Aurora SDG queries."""
    ns = {"aqd": "http://aurora-network.global/queries/namespace/",
          "dc": "http://dublincore.org/documents/dcmi-namespace/"}
    out: dict[str, AuroraTarget] = {}
    for goal in range(1, 18):
        path = _require(Path(data_dir) / f"sdg-queries-aurora/query_SDG{goal}.xml")
        root = ET.fromstring(path.read_bytes())
        for definition in root.iter(f"{{{ns['aqd']}}}query-definition"):
            uri = definition.find("dc:identifier", ns)
            if uri is None or not uri.text:
                continue
            target = uri.text.strip().rsplit("/", 1)[-1]
            descriptions = tuple(
                _clean(d.text or "")
                for d in definition.iter(f"{{{ns['aqd']}}}subquery-description")
                if (d.text or "").strip()
            )
            phrases: list[str] = []
            for line in definition.iter(f"{{{ns['aqd']}}}query-line"):
                for phrase in re.findall(r'"([^"]+)"', line.text or ""):
                    phrase = _clean(phrase)
                    plain = "*" not in phrase and "?" not in phrase and len(phrase) > 2
                    if plain and phrase.lower() not in (p.lower() for p in phrases):
                        phrases.append(phrase)
            out[target] = AuroraTarget(target, descriptions, tuple(phrases))
    return out


def read_osdg_keywords(data_dir: Path) -> dict[str, list[str]]:
    """``{"1": [keyword, ...], ...}`` from the OSDG ontology map (uneven; weak evidence only)."""
    path = _require(Path(data_dir) / "sdg-keywords-osdg/OSDG-kw-mapping.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {key.removeprefix("SDG_"): [str(w) for w in words] for key, words in raw.items()}


def read_sdg_sentences(data_dir: Path) -> list[LabelledText]:
    """Single-label SDG sentences (goal ``"1"``..``"17"``), duplicates dropped."""
    path = _require(Path(data_dir) / "qu-sdg-sentences/original_data.csv")
    out: list[LabelledText] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row_number, row in enumerate(reader, start=1):
            if len(row) < 2 or not row[0].strip().isdigit():
                continue
            text = _clean(row[1])
            if not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            out.append(LabelledText(f"qu-sdg-sentences:{row_number}", text, str(int(row[0])),
                                    "qu-sdg-sentences"))
    return out


def read_wsis_matrix(data_dir: Path) -> list[MatrixActionLine]:
    """The 18 Action Lines of the ITU WSIS-SDG Matrix with Plan of Action text and SDG links."""
    path = _require(Path(data_dir) / "wsis-sdg-matrix/actions.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out: list[MatrixActionLine] = []
    for entry in sorted(raw, key=lambda e: int(e["id"])):
        al_id = MATRIX_ACTION_LINE_IDS[int(entry["id"])]
        html = entry.get("desc") or ""
        items = [_clean(_TAG.sub(" ", chunk)) for chunk in re.split(r"</li>|</p>", html)]
        links: list[MatrixLink] = []
        for goal in entry.get("goals", []):
            goal_number = str(int(goal["goalId"]) + 1)  # goalId is 0-based
            for sub in goal.get("subgoals", []):
                refs = [r.strip() for r in str(sub.get("subId", "")).split(",") if r.strip()]
                targets = tuple(r for r in refs if "." in r)
                links.append(MatrixLink(goal_number, targets, _clean(sub.get("rationale") or "")))
        out.append(MatrixActionLine(al_id, _clean(entry["name"]), tuple(i for i in items if i),
                                    tuple(links)))
    return out


def read_wsis_prizes_2021(data_dir: Path) -> list[LabelledText]:
    """WSIS Prizes 2021 nominees as ``title. description`` labelled by Action Line.

    Uses the shared 180-row sample when present, else the fetched upstream ``nominations2.csv``.
    """
    base = Path(data_dir) / "wsis-stocktaking"
    path = base / "wsis-prizes-2021-train.csv"
    if not path.exists():
        path = _require(base / "nominations2.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                label = action_line_from_category(row["cat"])
            except ValueError:
                continue
            title, desc = _clean(row.get("title") or ""), _clean(row.get("desc") or "")
            text = f"{title}. {desc}" if desc else title
            out.append(LabelledText(f"wsis-prizes-2021:{row_number}", text, label,
                                    "wsis-prizes-2021"))
    return out


def read_wsis_projects_2015(data_dir: Path) -> list[LabelledText]:
    """WSIS Project Prizes 2015 nominee titles labelled by Action Line (file is latin-1)."""
    path = _require(Path(data_dir) / "wsis-stocktaking/wsis-projects-data.csv")
    raw = path.read_bytes().decode("latin-1")
    out: list[LabelledText] = []
    for row_number, row in enumerate(csv.DictReader(io.StringIO(raw)), start=1):
        try:
            label = action_line_from_category(row["Category"])
        except (ValueError, KeyError):
            continue
        title = _clean(row.get("Project") or "")
        if title:
            out.append(LabelledText(f"wsis-projects-2015:{row_number}", title, label,
                                    "wsis-projects-2015"))
    return out


# TRAIL22 ``origin`` column -> source name (the additional set has no origin).
_TRAIL22_SOURCES = {"UN": "trail22-un", "paper": "trail22-paper", "": "trail22-additional"}
_GOALS = frozenset(str(n) for n in range(1, 18))


def _goal(value: str, where: str) -> str:
    goal = value.strip()
    if goal not in _GOALS:
        raise ValueError(f"SDG {value!r} at {where} is not a goal number 1-17")
    return goal


def _goal_order(goals: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(goals), key=int))


def read_trail22_sentences(data_dir: Path) -> list[LabelledText]:
    """TRAIL22 SDG sentences and abstracts (filtered copy), single-label by goal ``"1".."17"``.

    ``source`` keeps the origin so evaluation can hold out each sub-source: ``"trail22-un"``
    (UN report sentences), ``"trail22-paper"`` (paper abstracts) and ``"trail22-additional"``
    (the mixed additional set). ``id`` is ``trail22:<data row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row has an unknown origin or a label outside 1-17.
    """
    path = _require(Path(data_dir) / "sdg-sentences-trail22/sentences.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            origin = (row.get("origin") or "").strip()
            if origin not in _TRAIL22_SOURCES:
                raise ValueError(f"Unknown TRAIL22 origin {origin!r} in row {row_number}")
            text = _clean(row.get("text") or "")
            if text:
                label = _goal(row["sdg"], f"trail22 row {row_number}")
                out.append(LabelledText(f"trail22:{row_number}", text, label,
                                        _TRAIL22_SOURCES[origin]))
    return out


def read_dpg_descriptions(data_dir: Path) -> list[MultiLabelText]:
    """Digital public goods as ``name. description`` with their self-declared SDGs.

    The labels are declared by the nominees (noisy, recall-leaning). ``id`` is
    ``dpg-descriptions:<data row number>``.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a row declares a goal outside 1-17.
    """
    path = _require(Path(data_dir) / "digital-public-goods/descriptions.csv")
    out: list[MultiLabelText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            where = f"dpg-descriptions row {row_number}"
            goals = [_goal(g, where) for g in (row.get("sdgs") or "").split(";") if g.strip()]
            name, desc = _clean(row.get("name") or ""), _clean(row.get("description") or "")
            text = f"{name}. {desc}" if name and not desc.startswith(name) else desc
            if text and goals:
                out.append(MultiLabelText(f"dpg-descriptions:{row_number}", text,
                                          _goal_order(goals), "dpg-descriptions"))
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
    path = _require(Path(data_dir) / "digital-public-goods/sdg-evidence.csv")
    out: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            text = _clean(row.get("evidence_text") or "")
            if text:
                label = _goal(row["sdg"], f"dpg-evidence row {row_number}")
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
    path = _require(Path(data_dir) / "digital-public-goods/sdg-evidence.csv")
    first_id: dict[tuple[str, str], str] = {}
    goals: dict[tuple[str, str], list[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            text = _clean(row.get("evidence_text") or "")
            if not text:
                continue
            key = (_clean(row.get("name") or ""), text)
            first_id.setdefault(key, f"dpg-evidence:{row_number}")
            goals.setdefault(key, []).append(_goal(row["sdg"], f"dpg-evidence row {row_number}"))
    return [
        MultiLabelText(first_id[key], key[1], _goal_order(goals[key]), "dpg-evidence")
        for key in first_id
    ]


def read_gdc_text(data_dir: Path) -> list[GdcParagraph]:
    """The adopted Global Digital Compact text, one record per paragraph or lettered item.

    Raises:
        DataMissingError: the file is not in the data directory.
        ValueError: a line is not a JSON object with the documented fields.
    """
    path = _require(Path(data_dir) / "gdc-text/gdc-paragraphs.jsonl")
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
                    text=_clean(raw["text"]),
                ))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path.name} line {line_number} is not a GDC record: "
                                 f"{exc!r}") from exc
    return out


def data_available(data_dir: Path | None) -> bool:
    """True when the data directory holds the files the trainers need.

    The later sets (TRAIL22 sentences, digital public goods, GDC text) are not required: an
    older data directory stays usable, and their readers raise DataMissingError when absent.
    """
    if data_dir is None:
        return False
    needed = ("sdg-taxonomy/global_targets.yml", "wsis-sdg-matrix/actions.json",
              "qu-sdg-sentences/original_data.csv")
    return all((Path(data_dir) / rel).exists() for rel in needed)
