"""The registry of third-party data files: where each comes from (repository, pinned commit,
upstream path), its SHA-256 and licence, and how a derived file was made."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path


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
