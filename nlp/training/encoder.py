"""``wsis train encoder``: the taggers' fine-tuned MiniLM body, rebuilt from the data directory.

The body is fine-tuned with the supervised-contrastive loss on every Action Line example of
the data directory (WSIS Prizes 2021, WSIS projects 2015, WSIS-SDG Matrix plan items and
rationales, the taxonomy's scope items), the recipe measured in ``bench/results/finetune.md``.
Two optional guards against losing the base model's behaviour on other genres are recorded
in the manifest with the rest of the recipe: anchoring UN policy prose to the base
embeddings (``anchor_weight``) and saving a weight-space average with the base
(``interpolate``). With the same data, recipe, seed and thread count the weights come out the
same, bit for bit.

Taggers use the body only when asked (``WSIS_TAGGING_MODEL=<body dir> wsis train all``), and
``wsis evaluate all`` then scores them; nothing here changes the shipped taggers.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nlp import data as datasets
from nlp.errors import WsisError
from nlp.labelled import action_line_examples
from nlp.taxonomy import Taxonomy
from nlp.training.finetune import (
    FinetuneProgress,
    check_recipe,
    finetune_encoder,
    interpolate_encoder,
    read_manifest,
)
from nlp.training.schemes.common import AL_FILES


class EncoderTrainingError(WsisError):
    """The body cannot be trained (no data directory, or a bad recipe)."""


@dataclass(frozen=True)
class EncoderRecipe:
    """How the body is fine-tuned; the defaults are the recipe measured as ``al4``."""

    epochs: int = 4
    per_label_cap: int = 48  # texts per label per epoch
    max_seq_length: int = 128  # tokens kept per text while training
    lr: float = 3e-5
    temperature: float = 0.07
    batch_size: int = 32
    seed: int = 0
    anchor_weight: float = 0.0  # UN policy prose kept at the base embeddings (0: off)
    interpolate: float = 1.0  # share of the tuned weights in the saved body (1: as tuned)

    def check(self) -> None:
        """Raise :class:`EncoderTrainingError` with the first bad field."""
        try:
            check_recipe(epochs=self.epochs, batch_size=self.batch_size,
                         max_seq_length=self.max_seq_length, per_label_cap=self.per_label_cap,
                         temperature=self.temperature)
        except ValueError as exc:
            raise EncoderTrainingError(str(exc)) from None
        if not self.anchor_weight >= 0:
            raise EncoderTrainingError(f"anchor weight must be >= 0, got {self.anchor_weight}")
        if not 0 < self.interpolate <= 1:
            raise EncoderTrainingError(
                f"interpolate must be in (0, 1] (the tuned body's share), got {self.interpolate}")


def policy_anchor_texts(data_dir: Path) -> list[str]:
    """UN policy prose used without Action Line labels, for ``anchor_weight``: the Compact's
    paragraphs, the SDG targets and the TRAIL22 UN-document sentences (no text of the WSIS
    founding documents, which the gold set is drawn from)."""
    return ([p.text for p in datasets.read_gdc_text(data_dir)]
            + list(datasets.read_sdg_targets(data_dir).values())
            + [x.text for x in datasets.read_trail22_sentences(data_dir)
               if x.source == "trail22-un"])


def train_encoder(
    data_dir: Path | None, taxonomy: Taxonomy, base_model: Path, out_dir: Path,
    recipe: EncoderRecipe | None = None,
    progress: Callable[[FinetuneProgress], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``base_model`` on the Action Line examples and save it to ``out_dir``.

    Returns:
        The saved body's manifest.

    Raises:
        EncoderTrainingError: no usable data directory, or a bad recipe.
    """
    recipe = recipe or EncoderRecipe()
    recipe.check()
    if data_dir is None or not datasets.data_available(data_dir):
        raise EncoderTrainingError(
            "the fine-tuned body is trained on the labelled data sets: set WSIS_DATA_DIR to a "
            f"data directory (now {str(data_dir) if data_dir else 'unset'!r}; "
            "`nlp.data.fetch()` downloads one)")
    # The Compact's paragraphs, which now also train the Action Line layer, stay out: they are
    # anchor prose ("with no Action Line labels" in policy_anchor_texts), and the shipped body
    # is rebuilt from the same texts it was measured on.
    examples = [e for e in action_line_examples(data_dir, taxonomy)
                if e.positive and e.source != "gdc-text"]
    anchors = policy_anchor_texts(data_dir) if recipe.anchor_weight > 0 else []
    settings = {k: v for k, v in asdict(recipe).items()
                if k not in ("anchor_weight", "interpolate")}
    extra = {"trained_by": "wsis train encoder",
             "texts_per_source": dict(sorted(Counter(e.source for e in examples).items()))}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tuned-", dir=out_dir.parent) as scratch:
        tuned = out_dir if recipe.interpolate == 1 else Path(scratch) / "tuned"
        finetune_encoder(
            [e.text for e in examples], [[f"al:{lab}" for lab in e.labels] for e in examples],
            base_model, tuned, progress=progress, name=out_dir.name,
            data_files=datasets.dataset_hashes(
                data_dir, [f for f in AL_FILES if not f.startswith("gdc-text/")]),
            extra_manifest=extra,
            anchor_texts=anchors, anchor_weight=recipe.anchor_weight, **settings)
        if tuned != out_dir:
            interpolate_encoder(base_model, tuned, recipe.interpolate, out_dir)
            shutil.rmtree(tuned, ignore_errors=True)
    return read_manifest(out_dir)
