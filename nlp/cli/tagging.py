"""``wsis train``, ``wsis evaluate`` and ``wsis tag``: thin wrappers over :mod:`nlp.training`
and :mod:`nlp.tagging`. Heavy imports happen inside the commands; failures go through
:func:`nlp.cli.common.fail` (or a :class:`nlp.errors.WsisError`), never printed here."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from nlp.cli.common import PARTIAL, fail, say

# The repository root, as nlp.config.PROJECT_ROOT, without importing nlp.config here:
# pydantic-settings was most of `wsis --help`.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SchemeChoice(str, Enum):
    action_lines = "action-lines"
    sdgs = "sdgs"
    gdc = "gdc"
    all = "all"


class TrainChoice(str, Enum):
    """What ``wsis train`` builds: a tagger scheme, all of them, or the fine-tuned body."""

    action_lines = "action-lines"
    sdgs = "sdgs"
    gdc = "gdc"
    all = "all"
    encoder = "encoder"


class EvaluateChoice(str, Enum):
    """What ``wsis evaluate`` measures: a tagger scheme, all of them, or search."""

    action_lines = "action-lines"
    sdgs = "sdgs"
    gdc = "gdc"
    all = "all"
    search = "search"


def _schemes(choice: SchemeChoice) -> list[str]:
    from nlp.taxonomy import SCHEMES

    return list(SCHEMES) if choice is SchemeChoice.all else [choice.value]


def _training_settings(settings: Any) -> Any:
    """Training and evaluation embed with torch (sentence-transformers), as the shipped models
    were trained, unless ``WSIS_EMBEDDING_BACKEND`` asks otherwise; serving defaults to ONNX."""
    if "embedding_backend" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"embedding_backend": "torch"})


def _embedder(settings: Any) -> Any:
    """The taggers' encoder (the fine-tuned body when one is shipped), for training."""
    from nlp.workspace import Workspace

    return Workspace(_training_settings(settings), progress=say).tag_embedder


def train_command(
    scheme: Annotated[TrainChoice, typer.Argument(
        help="Which tagger to build, or `encoder`: fine-tune the taggers' MiniLM body "
             "(saved under models/encoders/; WSIS_TAGGING_MODEL=<that folder> then trains "
             "taggers on it).")] = TrainChoice.all,
    feedback: Annotated[Path | None, typer.Option(
        "--feedback", help="Extra labelled examples (CSV or JSONL: text, scheme, label, positive)."
    )] = None,
    version: Annotated[str | None, typer.Option(help="Model version directory name.")] = None,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip cross-validation.")] = False,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    report_dir: Annotated[Path, typer.Option(help="Where evaluation reports go.")] = (
        PROJECT_ROOT / "reports"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    epochs: Annotated[int | None, typer.Option(help="Encoder: training epochs [4].")] = None,
    texts_per_label: Annotated[int | None, typer.Option(
        help="Encoder: texts per label per epoch [48].")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        help="Encoder: tokens kept per text while training [128].")] = None,
    seed: Annotated[int | None, typer.Option(help="Encoder: random seed [0].")] = None,
    anchor_weight: Annotated[float | None, typer.Option(
        help="Encoder: keep UN policy prose at the base embeddings with this weight [0: off].")
    ] = None,
    interpolate: Annotated[float | None, typer.Option(
        help="Encoder: save base + this share of the fine-tuning step (WiSE-FT) [1].")] = None,
) -> None:
    """Train taggers from the data directory (+ feedback) and save them under models/."""
    from nlp.config import get_settings

    recipe = {"epochs": epochs, "per_label_cap": texts_per_label, "max_seq_length": max_tokens,
              "seed": seed, "anchor_weight": anchor_weight, "interpolate": interpolate}
    recipe = {k: v for k, v in recipe.items() if v is not None}
    if scheme is TrainChoice.encoder:
        if feedback is not None:
            fail("--feedback trains taggers; the encoder learns from the data directory only")
        _train_encoder(get_settings(), recipe, version, as_json)
        return
    if recipe:
        fail(f"--{next(iter(recipe)).replace('_', '-')} and the other encoder options apply "
             "to `wsis train encoder` only")
    from nlp.training.trainers import run_training

    if feedback is not None and not feedback.exists():
        fail(f"feedback file {str(feedback)!r} does not exist")
    settings = get_settings()
    summary = run_training(settings, _embedder(settings),
                           _schemes(SchemeChoice(scheme.value)), feedback, version,
                           not no_eval, folds, report_dir, progress=say)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_metrics(summary.get("metrics", {}))
    for name, path in summary["models"].items():
        typer.echo(f"{name}: {path}")


def _train_encoder(settings: Any, recipe: dict[str, Any], version: str | None,
                   as_json: bool) -> None:
    from nlp.embed import bundled_model_path
    from nlp.taxonomy import load_taxonomy
    from nlp.training.encoder import EncoderRecipe, train_encoder

    name = version or "wsis-minilm-al4"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        fail(f"--version {name!r}: use letters, digits, '-', '_' and '.' only")
    out = settings.models_dir / "encoders" / name
    taxonomy = load_taxonomy(settings.taxonomy_dir, settings.data_dir)

    def progress(p: Any) -> None:
        if p.step == p.steps:
            say(f"[encoder] epoch {p.epoch}/{p.epochs}: last step loss {p.loss:.3f}")

    say(f"[encoder] fine-tuning {name} (about 3 minutes on 2 free cores with the default recipe)")
    manifest = train_encoder(settings.data_dir, taxonomy, bundled_model_path(), out,
                             EncoderRecipe(**recipe), progress)
    if as_json:
        typer.echo(json.dumps({"path": str(out), "manifest": manifest}, indent=2))
        return
    typer.echo(f"encoder: {out}")
    typer.echo(f"train taggers on it: WSIS_TAGGING_MODEL={out} wsis train all")


def _print_metrics(metrics: dict[str, Any]) -> None:
    """One table per entry of ``{title: {row: {figure: value}}}``."""
    from rich.console import Console
    from rich.table import Table

    columns = (("top-1", "top1"), ("top-3", "top3"), ("P", "precision"), ("R", "recall"),
               ("micro-F1", "micro_f1"), ("macro-F1", "macro_f1"),
               ("macro-F1 top-1", "macro_f1_top1"), ("decision acc.", "decision_accuracy"))
    for title, rows in metrics.items():
        shown = [(name, key) for name, key in columns
                 if any(key in figures for figures in rows.values())]
        table = Table(title=title if " " in title else f"{title} (cross-validated)")
        for col in ("system", *(name for name, _ in shown)):
            table.add_column(col)
        for row, figures in rows.items():
            table.add_row(row, *(f"{figures[key]:.3f}" if key in figures else "–"
                                 for _, key in shown))
        Console(stderr=False).print(table)


def evaluate_command(
    scheme: Annotated[EvaluateChoice, typer.Argument(
        help="Which scheme to evaluate, or `search` (the reviewer query set).")
    ] = EvaluateChoice.all,
    folds: Annotated[int, typer.Option(help="In-source cross-validation folds.")] = 5,
    report_dir: Annotated[Path | None, typer.Option(
        help="Where reports go (default: reports/; with --smoke: <WSIS_HOME>/reports-smoke).")
    ] = None,
    smoke: Annotated[bool, typer.Option(
        "--smoke", "--quick",
        help="CI path: 3 folds, 60 texts per source, 2 held-out SDG sources.")] = False,
    jobs: Annotated[int, typer.Option(help="Worker processes for fitting.", min=1)] = 1,
    fit_cache: Annotated[bool, typer.Option(
        help="Reuse component fits of earlier runs (<WSIS_HOME>/cache/evaluation).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print headline figures as JSON.")] = False,
    record: Annotated[bool, typer.Option(
        help="Full runs: write the figures into the shipped models' manifests and cards.")
    ] = True,
    queries: Annotated[Path | None, typer.Option(
        help="search: the query set (default corpus/gold/search-queries.jsonl).")] = None,
    tune: Annotated[bool, typer.Option(
        "--tune", help="search: also choose the hybrid fusion by cross-validation.")] = False,
) -> None:
    """Evaluate the taggers: in-source k-fold, held-out sources, gold set and ablation.

    Writes tagger-eval.md, tagger-eval.json and confusion PNGs. `wsis evaluate search`
    scores search instead (recall@5, MRR@10, nDCG@10 per mode): search-eval.md and .json.
    """
    if scheme is EvaluateChoice.search:
        from nlp.cli.quality import evaluate_search_command

        evaluate_search_command(queries, report_dir, tune, as_json)
        return
    from nlp import data as datasets
    from nlp.config import get_settings
    from nlp.training.evaluation.config import EvalConfig
    from nlp.training.evaluation.run import run_evaluation
    from nlp.training.reports import summary_figures, write_reports

    settings = get_settings()
    if not datasets.data_available(settings.data_dir):
        fail(f"no labelled data in {settings.data_dir}; set WSIS_DATA_DIR")
    if report_dir is None:
        report_dir = settings.home / "reports-smoke" if smoke else PROJECT_ROOT / "reports"
    cache = settings.home / "cache" / "evaluation" if fit_cache else None
    config = (EvalConfig.smoke(jobs, cache) if smoke
              else EvalConfig(folds=folds, jobs=jobs, fit_cache=cache))
    result = run_evaluation(settings, _embedder(settings), _schemes(SchemeChoice(scheme.value)),
                            config, progress=say)
    paths = write_reports(result.schemes, report_dir, result.run, result.gold)
    if record and not smoke and result.gold.get("available"):
        from nlp.taxonomy import load_taxonomy
        from nlp.training.cards import evaluation_figures, record_evaluation
        from nlp.training.reports import model_card

        for path in record_evaluation(
                evaluation_figures(result.schemes, result.gold, result.run),
                result.gold["models"], load_taxonomy(settings.taxonomy_dir, settings.data_dir),
                model_card):
            say(f"model card updated: {path}")
    figures = summary_figures(result.schemes, result.gold)
    if as_json:
        typer.echo(json.dumps({"metrics": figures, "run": result.run,
                               "gold": {k: v for k, v in result.gold.items() if k != "per_label"},
                               "reports": {k: str(v) for k, v in paths.items()}}, indent=2))
    else:
        _print_metrics(figures)
        if not result.gold.get("available"):
            say(f"gold set: {result.gold.get('reason')}")
        for path in paths.values():
            typer.echo(str(path))


def _line_result(suite: Any, items: list[tuple[Any, str]], explain: bool,
                 batch_size: int) -> list[dict[str, Any]]:
    tagged = suite.tag([text for _, text in items], explain=explain, batch_size=batch_size)
    return [{"id": ident, **t.to_dict(evidence=explain)} for (ident, _), t in zip(items, tagged)]


def tag_file(suite: Any, source: Any, sink: Any, explain: bool = False, *,
             batch_size: int) -> int:
    """Tag a JSONL stream (``{"id", "text"}`` per line) into ``sink``; return failed lines.

    A bad line (invalid JSON, missing or empty text) gets ``{"id": ..., "error": ...}`` and the
    run goes on; outputs keep the input order. Lines are tagged ``batch_size`` at a time
    (``Settings.embedding_batch_size``).
    """
    failed = 0
    pending: list[tuple[int, Any, str]] = []
    out: dict[int, dict[str, Any]] = {}
    order = 0

    def flush() -> None:
        if not pending:
            return
        results = _line_result(suite, [(i, t) for _, i, t in pending], explain, batch_size)
        for (n, _, _), result in zip(pending, results):
            out[n] = result
        pending.clear()

    for order, line in enumerate(source):
        if not line.strip():
            out[order] = {"id": None, "error": "blank line"}
            failed += 1
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            out[order] = {"id": None, "error": f"invalid JSON: {exc.msg}"}
            failed += 1
            continue
        ident = record.get("id") if isinstance(record, dict) else None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            out[order] = {"id": ident, "error": "text is missing, empty or whitespace only"}
            failed += 1
            continue
        pending.append((order, ident, text))
        if len(pending) >= batch_size:
            flush()
    flush()
    for n in sorted(out):
        sink.write(json.dumps(out[n], ensure_ascii=False) + "\n")
    return failed


def tag_command(
    text: Annotated[str | None, typer.Argument(help="Text to tag (omit with --input).")] = None,
    input: Annotated[Path | None, typer.Option(
        "--input", help="JSONL file of {\"id\", \"text\"} lines.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", help="JSONL output (stdout when omitted).")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Add evidence (sentences, examples, keywords) to --input output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON with evidence for one text.")] = False,
) -> None:
    """Tag text with Action Lines, SDGs (goals, targets) and GDC items."""
    if (text is None) == (input is None):
        fail("give either a TEXT argument or --input FILE")
    if input is not None and not input.exists():
        fail(f"input file {str(input)!r} does not exist")
    if text is not None and not text.strip():
        fail("text is empty or whitespace only")
    from nlp.config import get_settings
    from nlp.workspace import Workspace

    settings = get_settings()
    suite = Workspace(settings, progress=say).taggers(build=True, progress=say)
    batch = settings.embedding_batch_size
    if input is not None:
        with open(input, encoding="utf-8") as source:
            if output is None:
                failed = tag_file(suite, source, sys.stdout, explain, batch_size=batch)
            else:
                output.parent.mkdir(parents=True, exist_ok=True)
                with open(output, "w", encoding="utf-8") as sink:
                    failed = tag_file(suite, source, sink, explain, batch_size=batch)
        if failed:
            fail(f"{failed} line(s) failed; see their \"error\" field", PARTIAL)
        return
    assert text is not None
    result = suite.tag([text], explain=True)[0]
    if as_json:
        typer.echo(json.dumps(result.to_dict(evidence=True), ensure_ascii=False, indent=2))
        return
    _print_tags(result)


def _print_tags(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for key, tags in result.tags.items():
        table = Table(title=key)
        for col in ("label", "score", "threshold", "evidence"):
            table.add_column(col)
        shown = [t for t in tags if t.predicted] or tags[:3]
        for t in shown[:10]:
            why = t.sentences[0].text[:120] if t.sentences else ""
            if t.keywords:
                why += f"  [keywords: {', '.join(sorted({k.keyword for k in t.keywords})[:5])}]"
            label = t.label if t.predicted else f"({t.label})"
            table.add_row(label, f"{t.score:.3f}", f"{t.threshold:.3f}", why)
        console.print(table)
    if result.consistency:
        for al, goals in result.consistency.items():
            state = f"consistent with SDG {', '.join(goals)}" if goals else "no Matrix SDG predicted"
            console.print(f"{al}: {state}")
    console.print("(labels in brackets are below their threshold)")
