"""``wsis``: the command line. Commands parse arguments and call the library; heavy imports
happen inside the commands so ``wsis --help`` starts instantly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="wsis",
    help="WSIS Lens: search, compare and tag WSIS+20 review documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line (stable).")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _workspace():
    from nlp.workspace import Workspace

    return Workspace()


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (txt, md, pdf, docx, html).")],
    no_index: Annotated[bool, typer.Option("--no-index", help="Store only; index later.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read documents into the store and update the index. A folder's manifest.csv gives metadata.

    Files that fail are reported and the rest still load; the exit code is 1 if any failed.
    """
    for path in paths:
        if not path.exists():
            _fail(f"{path}: no such file or directory")
    from nlp.errors import WsisError

    try:
        result = _workspace().ingest(paths, update_index=not no_index, show_progress=not as_json)
    except WsisError as exc:
        _fail(str(exc))
    if as_json:
        for doc in result.added:
            _emit({"event": "added", "doc_id": doc.id, "title": doc.meta.title,
                   "source": doc.meta.source})
        for doc in result.existing:
            _emit({"event": "exists", "doc_id": doc.id, "title": doc.meta.title,
                   "source": doc.meta.source})
        for err in result.errors:
            _emit({"event": "error", "path": err.path, "reason": err.reason})
    else:
        typer.echo(f"added {len(result.added)} document(s), {result.passages} passage(s); "
                   f"{len(result.existing)} already stored; index version {result.index_version}")
        for err in result.errors:
            typer.echo(f"error: {err.path}: {err.reason}", err=True)
    if result.errors:
        raise typer.Exit(1)


@app.command()
def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything.")] = False,
    corpus: Annotated[Path | None, typer.Option(help="Corpus to load if the store is empty.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the index, or bring it up to date with the store (only new passages are embedded)."""
    from nlp.errors import WsisError

    ws = _workspace()
    try:
        if rebuild:
            update = ws.update_index(rebuild=True, show_progress=not as_json)
        else:
            update = ws.ensure_ready(corpus, show_progress=not as_json)
    except WsisError as exc:
        _fail(str(exc))
    if as_json:
        _emit(update.to_dict())
    else:
        typer.echo(f"index v{update.version}: {update.passage_count} passages "
                   f"(+{update.added_documents} / -{update.removed_documents} documents, "
                   f"{update.embedded_passages} embedded)")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Number of results.")] = 10,
    mode: Annotated[str, typer.Option(help="semantic | lexical | hybrid")] = "hybrid",
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", help="key=value; keys: organization, kind, doc_id, source, "
        "date_from, date_to. Repeat a key for alternatives.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find passages similar to QUERY."""
    from nlp.errors import WsisError
    from nlp.search import MODES, SearchFilters

    if mode not in MODES:
        _fail(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if not query.strip():
        _fail("the query is empty")
    try:
        filters = SearchFilters.parse(filter_ or [])
        ws = _workspace()
        ws.ensure_ready()
        hits = ws.search(query, k=k, mode=mode, filters=filters)
    except WsisError as exc:
        _fail(str(exc))
    if as_json:
        for hit in hits:
            _emit(hit.to_dict())
        return
    if not hits:
        typer.echo("no results")
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    for hit in hits:
        meta = hit.meta
        console.print(f"[bold]{hit.rank}.[/bold] [cyan]{hit.score:.3f}[/cyan]  "
                      f"[bold]{escape(meta.organization)}[/bold] — {escape(meta.title)} "
                      f"({escape(meta.date)}) [dim]{hit.passage.id} "
                      f"[{hit.passage.start}:{hit.passage.end}][/dim]")
        text = " ".join(hit.passage.text.split())
        console.print("   " + escape(text[:400] + ("…" if len(text) > 400 else "")) + "\n")


@app.command()
def passages(
    doc_id: Annotated[str | None, typer.Option("--doc", help="Only this document.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored passages with their offsets."""
    ws = _workspace()
    ws.ensure_ready()
    rows = ws.store.passages([doc_id] if doc_id else None)
    if doc_id and not rows:
        _fail(f"no document {doc_id!r}")
    for p in rows:
        if as_json:
            _emit(p.to_dict())
        else:
            text = " ".join(p.text.split())
            typer.echo(f"{p.id}\t{p.start}:{p.end}\t{text[:100]}")


@app.command()
def documents(as_json: JsonOpt = False) -> None:
    """List stored documents."""
    ws = _workspace()
    ws.ensure_ready()
    for doc in ws.store.list_documents():
        row = {"doc_id": doc.id, "chars": len(doc.text), **doc.meta.to_dict()}
        if as_json:
            _emit(row)
        else:
            typer.echo(f"{doc.id}\t{doc.meta.organization}\t{doc.meta.date}\t{doc.meta.title}")


@app.command()
def remove(doc_id: Annotated[str, typer.Argument(help="Document id (see `wsis documents`).")]) -> None:
    """Delete a document from the store and the index."""
    if not _workspace().remove(doc_id):
        _fail(f"no document {doc_id!r}", code=1)
    typer.echo(f"removed {doc_id}")


@app.command("export-onnx")
def export_onnx_command(
    model: Annotated[str | None, typer.Option(
        help="Bundled model name or a sentence-transformers directory (default: the search "
             "model and the taggers' encoder).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Export again even if present.")] = False,
) -> None:
    """Export the embedding models to ONNX so serving with WSIS_EMBEDDING_BACKEND=onnx never
    imports torch (needs torch once, here)."""
    from nlp.config import get_settings
    from nlp.embed import BUNDLED_MODEL, bundled_model_path
    from nlp.errors import WsisError
    from nlp.onnx_embed import check_source, export_onnx, is_export_dir

    settings = get_settings()
    specs = [model] if model else list(dict.fromkeys(
        [settings.embedding_model, settings.tagging_model_spec]))
    for spec in specs:
        if spec.startswith("hash"):
            continue
        source = bundled_model_path() if spec == BUNDLED_MODEL else Path(spec).expanduser()
        if not source.is_dir():
            _fail(f"{spec}: not the bundled model nor a model directory")
        name = BUNDLED_MODEL if spec == BUNDLED_MODEL else source.name
        target = settings.home / "onnx" / name
        try:
            if is_export_dir(target) and not force:
                check_source(target, source)
                typer.echo(f"ONNX export of {name} is up to date at {target}")
                continue
            typer.echo(f"exporting {name} to ONNX (one-off, about 30 s) ...", err=True)
            export_onnx(source, target, name=name, replace=True)
        except (WsisError, ValueError) as exc:
            _fail(str(exc))
        typer.echo(f"exported {name} to {target}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the web page and the API (builds the index and models on first run)."""
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)


def _register_optional() -> None:
    """Commands that live in their own modules (taggers); absent modules are skipped."""
    try:
        from nlp.tagging_cli import register
    except ModuleNotFoundError as exc:
        if exc.name != "nlp.tagging_cli":
            raise
        return
    register(app)


_register_optional()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
