"""Third-party reference data: where each file comes from, how to fetch it, how to read it.

The files are never copied into the repository. They live in ``Settings.data_dir`` (env
``WSIS_DATA_DIR``); :func:`fetch` downloads them from the public GitHub repositories at the
commits recorded in each folder's ``SOURCE.md`` and refuses any file whose SHA-256 differs from
the registry. Some shared files are *derived*: filtered or extracted from upstream files with
steps a download cannot repeat (see :class:`Derivation`); :func:`fetch` never downloads those but
reports them as ``"manual"`` and :func:`manual_instructions` says which file goes where and why.
Readers return plain typed values (dicts, lists, frozen dataclasses), never DataFrames, so the
taxonomy and the trainers do not depend on pandas.

The package's modules: :mod:`.registry` (the files and where they come from),
:mod:`.checksums` (SHA-256 checks), :mod:`.download` (:func:`fetch` and the manual steps), and
one reader module per family of sets (:mod:`.sdg`, :mod:`.wsis`, :mod:`.dpg`, :mod:`.gdc`, with
the records they share in :mod:`.texts`). ``nlp.data`` names their public API, so
``nlp.data.fetch()`` and ``from nlp import data as datasets`` work as they always have.
"""

from nlp.data.checksums import dataset_hashes, sha256_file, verify
from nlp.data.download import Opener, fetch, manual_instructions
from nlp.data.dpg import read_dpg_descriptions, read_dpg_evidence, read_dpg_evidence_rows
from nlp.data.gdc import GdcParagraph, read_gdc_text
from nlp.data.registry import (
    PRIZES_2021_SAMPLE,
    PRIZES_2021_SAMPLE_SHA256,
    REGISTRY,
    DataFile,
    Derivation,
    data_available,
)
from nlp.data.sdg import (
    AuroraTarget,
    SdgGoalText,
    read_aurora_queries,
    read_jrc_keywords,
    read_osdg_keywords,
    read_sdg_goals,
    read_sdg_indicators,
    read_sdg_sentences,
    read_sdg_targets,
    read_trail22_sentences,
)
from nlp.data.texts import LabelledText, MultiLabelText
from nlp.data.wsis import (
    MATRIX_ACTION_LINE_IDS,
    MatrixActionLine,
    MatrixLink,
    action_line_from_category,
    read_wsis_matrix,
    read_wsis_prizes_2021,
    read_wsis_projects_2015,
)

__all__ = [
    "MATRIX_ACTION_LINE_IDS", "PRIZES_2021_SAMPLE", "PRIZES_2021_SAMPLE_SHA256", "REGISTRY",
    "AuroraTarget", "DataFile", "Derivation", "GdcParagraph", "LabelledText", "MatrixActionLine",
    "MatrixLink", "MultiLabelText", "Opener", "SdgGoalText",
    "action_line_from_category", "data_available", "dataset_hashes", "fetch",
    "manual_instructions", "read_aurora_queries", "read_dpg_descriptions", "read_dpg_evidence",
    "read_dpg_evidence_rows", "read_gdc_text", "read_jrc_keywords", "read_osdg_keywords",
    "read_sdg_goals", "read_sdg_indicators", "read_sdg_sentences", "read_sdg_targets",
    "read_trail22_sentences", "read_wsis_matrix", "read_wsis_prizes_2021",
    "read_wsis_projects_2015", "sha256_file", "verify",
]
