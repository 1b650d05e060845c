"""The hand-labelled tagging gold set: loading, validation and scoring.

The gold set (``corpus/gold/tagging-gold.jsonl``, guide in ``corpus/gold/GUIDE.md``) holds
verbatim passages of the WSIS+20 corpus with their Action Line, SDG and GDC labels. Each row
points back into its source file by character offsets, so ``load_gold(corpus_dir=...)`` can
prove that every passage is still exactly where it claims to be.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from nlp.config import PROJECT_ROOT
from nlp.errors import WsisError

GOLD_PATH = PROJECT_ROOT / "corpus" / "gold" / "tagging-gold.jsonl"

LABEL_FIELDS = ("action_lines", "sdgs", "gdc_objectives", "gdc_commitments", "gdc_principles")

# Gold field -> key of the tagger output (see nlp.classify): the taggers call GDC objectives
# "gdc", so the mapping is not the identity.
GOLD_KEYS: Mapping[str, str] = MappingProxyType({
    "action_lines": "action_lines",
    "sdgs": "sdgs",
    "gdc_objectives": "gdc",
    "gdc_commitments": "gdc_commitments",
    "gdc_principles": "gdc_principles",
})

_REQUIRED = ("id", "doc_file", "start", "end", "text", *LABEL_FIELDS)
_OPTIONAL = ("note",)


class GoldSetError(WsisError):
    """A gold-set row is malformed or no longer matches its source document."""


@dataclass(frozen=True)
class GoldPassage:
    """One labelled passage: ``text == source_text[start:end]`` of ``doc_file``."""

    id: str
    doc_file: str
    start: int
    end: int
    text: str
    action_lines: tuple[str, ...] = ()
    sdgs: tuple[str, ...] = ()
    gdc_objectives: tuple[str, ...] = ()
    gdc_commitments: tuple[str, ...] = ()
    gdc_principles: tuple[str, ...] = ()
    note: str = ""

    def labels(self, field: str) -> tuple[str, ...]:
        """The labels of one gold field (one of ``LABEL_FIELDS``)."""
        if field not in LABEL_FIELDS:
            raise KeyError(f"Unknown gold label field {field!r}; expected one of {LABEL_FIELDS}")
        return getattr(self, field)


def load_gold(path: Path | None = None, corpus_dir: Path | None = None) -> list[GoldPassage]:
    """Read and validate the gold set.

    Args:
        path: JSONL file, one passage per line; defaults to the shipped gold set.
        corpus_dir: directory of the source documents. When given, every row's ``text`` must
            equal ``Path(corpus_dir, doc_file).read_text(encoding="utf-8")[start:end]``.

    Returns:
        The passages in file order.

    Raises:
        GoldSetError: the file is missing, a line is not a JSON object, a key is missing,
            unknown or of the wrong type, an id repeats, or a text does not match its source.
            The message names the row id (or line number) and the problem.
    """
    path = Path(path) if path is not None else GOLD_PATH
    if not path.is_file():
        raise GoldSetError(f"Gold set {str(path)!r} does not exist")
    passages: list[GoldPassage] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldSetError(f"{path.name} line {lineno}: not valid JSON ({exc.msg})") from exc
        passage = _parse_row(row, f"{path.name} line {lineno}")
        if passage.id in seen:
            raise GoldSetError(f"Row {passage.id!r}: id occurs more than once")
        seen.add(passage.id)
        passages.append(passage)
    if corpus_dir is not None:
        _check_offsets(passages, Path(corpus_dir))
    return passages


def _parse_row(row: object, where: str) -> GoldPassage:
    if not isinstance(row, dict):
        raise GoldSetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    row_id = row.get("id")
    if not isinstance(row_id, str) or not row_id.strip():
        raise GoldSetError(f"{where}: 'id' must be a non-empty string, got {row_id!r}")
    name = f"Row {row_id!r}"
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        raise GoldSetError(f"{name}: missing key(s) {missing}")
    unknown = sorted(set(row) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise GoldSetError(f"{name}: unknown key(s) {unknown}")
    for key in ("doc_file", "text"):
        if not isinstance(row[key], str) or not row[key]:
            raise GoldSetError(f"{name}: {key!r} must be a non-empty string, got {row[key]!r}")
    for key in ("start", "end"):
        # bool is an int subclass; true/false in the file is a typo, not an offset
        if not isinstance(row[key], int) or isinstance(row[key], bool) or row[key] < 0:
            raise GoldSetError(f"{name}: {key!r} must be a non-negative integer, got {row[key]!r}")
    if row["end"] - row["start"] != len(row["text"]):
        raise GoldSetError(
            f"{name}: end - start = {row['end'] - row['start']} but the text has "
            f"{len(row['text'])} characters"
        )
    labels: dict[str, tuple[str, ...]] = {}
    for key in LABEL_FIELDS:
        value = row[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise GoldSetError(f"{name}: {key!r} must be a list of non-empty strings, got {value!r}")
        if len(set(value)) != len(value):
            raise GoldSetError(f"{name}: {key!r} repeats a label: {value!r}")
        labels[key] = tuple(value)
    note = row.get("note")
    if note is not None and not isinstance(note, str):
        raise GoldSetError(f"{name}: 'note' must be a string or null, got {note!r}")
    return GoldPassage(
        id=row_id, doc_file=row["doc_file"], start=row["start"], end=row["end"],
        text=row["text"], note=note or "", **labels,
    )


def _check_offsets(passages: Sequence[GoldPassage], corpus_dir: Path) -> None:
    sources: dict[str, str] = {}
    for p in passages:
        if p.doc_file not in sources:
            source = corpus_dir / p.doc_file
            if not source.is_file():
                raise GoldSetError(f"Row {p.id!r}: source {str(source)!r} does not exist")
            sources[p.doc_file] = source.read_text(encoding="utf-8")
        found = sources[p.doc_file][p.start:p.end]
        if found != p.text:
            raise GoldSetError(
                f"Row {p.id!r}: text differs from {p.doc_file}[{p.start}:{p.end}], "
                f"which reads {found[:60]!r}"
            )


def _ratio(num: float, den: float) -> float:
    # zero_division=0, as in scikit-learn's default: an undefined ratio counts as 0
    return num / den if den else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def score_gold(
    gold: Sequence[GoldPassage], predicted: Sequence[Mapping[str, Iterable[str]]]
) -> dict:
    """Score predictions against the gold set, per tagger output key.

    Args:
        gold: the gold passages.
        predicted: ``predicted[i]`` maps a tagger output key (a value of ``GOLD_KEYS``) to the
            labels predicted for ``gold[i]``; a missing key means "nothing predicted".

    Returns:
        ``{output_key: scores}`` for every key in ``GOLD_KEYS``, where ``scores`` has micro
        ``precision``, ``recall``, ``f1``; ``macro_f1`` (mean F1 over the labels that occur in
        the gold set); ``n_passages``; ``n_gold_labels`` (gold label assignments);
        ``n_gold_label_types`` (distinct gold labels); ``n_predicted_labels``; and
        ``per_label`` ``{label: {support, tp, fp, fn, precision, recall, f1}}`` for every label
        in the gold set or the predictions. Undefined ratios (0/0) are 0.0.

    Raises:
        ValueError: ``gold`` and ``predicted`` differ in length.
    """
    if len(gold) != len(predicted):
        raise ValueError(
            f"{len(predicted)} predictions for {len(gold)} gold passages; they must pair up"
        )
    report: dict[str, dict] = {}
    for field, key in GOLD_KEYS.items():
        tp: Counter[str] = Counter()
        fp: Counter[str] = Counter()
        fn: Counter[str] = Counter()
        n_pred = 0
        counts = []  # per passage (tp, fp, fn), for the bootstrap interval
        for passage, pred in zip(gold, predicted):
            truth = set(passage.labels(field))
            guess = set(pred.get(key, ()))
            n_pred += len(guess)
            hit, extra, missed = truth & guess, guess - truth, truth - guess
            tp.update(hit)
            fp.update(extra)
            fn.update(missed)
            counts.append((len(hit), len(extra), len(missed)))
        support = tp + fn  # Counter addition drops zeros: exactly the labels seen in gold
        per_label = {}
        for label in sorted(set(support) | set(fp)):
            t, f_pos, f_neg = tp[label], fp[label], fn[label]
            per_label[label] = {
                "support": t + f_neg, "tp": t, "fp": f_pos, "fn": f_neg,
                "precision": _ratio(t, t + f_pos), "recall": _ratio(t, t + f_neg),
                "f1": _f1(t, f_pos, f_neg),
            }
        all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
        gold_f1s = [per_label[label]["f1"] for label in support]
        report[key] = {
            "precision": _ratio(all_tp, all_tp + all_fp),
            "recall": _ratio(all_tp, all_tp + all_fn),
            "f1": _f1(all_tp, all_fp, all_fn),
            "f1_ci95": bootstrap_f1_interval(counts),
            "macro_f1": _ratio(sum(gold_f1s), len(gold_f1s)),
            "n_passages": len(gold),
            "n_gold_labels": all_tp + all_fn,
            "n_gold_label_types": len(support),
            "n_predicted_labels": n_pred,
            "per_label": per_label,
        }
    return report


def gold_matrix(gold: Sequence[GoldPassage], field: str, labels: Sequence[str]) -> np.ndarray:
    """``(n passages, len(labels))`` boolean matrix of the gold labels of ``field``."""
    column = {lab: j for j, lab in enumerate(labels)}
    y = np.zeros((len(gold), len(labels)), bool)
    for i, passage in enumerate(gold):
        for label in passage.labels(field):
            if label in column:
                y[i, column[label]] = True
    return y


def score_calibration(
    gold: Sequence[GoldPassage], field: str, labels: Sequence[str], scores: np.ndarray,
    predicted: np.ndarray,
) -> dict[str, float]:
    """How well scores mean what they say on the gold passages, over every (passage, label)
    pair of ``labels`` (``C7`` left out: the gold set labels its sub-lines).

    Returns:
        ``mean_predicted_score`` (mean score of the predicted labels) beside their
        ``precision`` (a calibrated tagger's two are close); ``log_loss`` and ``brier`` of
        every pair's score; ``n_predicted``.
    """
    keep = [j for j, lab in enumerate(labels) if lab != "C7"]
    y = gold_matrix(gold, field, [labels[j] for j in keep])
    p = np.clip(np.asarray(scores, np.float64)[:, keep], 1e-12, 1 - 1e-12)
    pred = np.asarray(predicted, bool)[:, keep]
    return {
        "mean_predicted_score": float(p[pred].mean()) if pred.any() else 0.0,
        "precision": float(y[pred].mean()) if pred.any() else 0.0,
        "log_loss": float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))),
        "brier": float(np.mean((p - y) ** 2)),
        "n_predicted": int(pred.sum()),
    }


def bootstrap_f1_interval(counts: Sequence[tuple[int, int, int]], resamples: int = 2000,
                          seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of micro-F1 over passages.

    ``counts[i]`` is passage ``i``'s ``(tp, fp, fn)``; each resample draws as many passages
    with replacement. With about a hundred passages the interval is wide (about +-0.05 at
    F1 0.65): differences smaller than that between two models are not evidence.
    """
    if not counts:
        return (0.0, 0.0)
    table = np.asarray(counts, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(table), size=(resamples, len(table)))
    tp, fp, fn = (table[:, k][draws].sum(axis=1) for k in range(3))
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    low, high = np.percentile(f1, [2.5, 97.5])
    return (round(float(low), 4), round(float(high), 4))


def gold_label_counts(gold: Iterable[GoldPassage]) -> dict[str, dict[str, int]]:
    """How many passages carry each label, per gold field.

    Returns:
        ``{field: {label: count}}`` for every field in ``LABEL_FIELDS``, labels ordered by
        falling count, then by id.
    """
    counts = {field: Counter() for field in LABEL_FIELDS}
    for passage in gold:
        for field in LABEL_FIELDS:
            counts[field].update(passage.labels(field))
    return {
        field: dict(sorted(c.items(), key=lambda item: (-item[1], item[0])))
        for field, c in counts.items()
    }
