"""``wsis ingest | index | search | passages | documents | remove``: the corpus and its index.

Each command parses its arguments and calls :class:`nlp.workspace.Workspace` once; failures
go through :func:`nlp.cli.common.fail` (or a :class:`nlp.errors.WsisError`), never printed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlp.cli.common import PARTIAL, JsonOpt, emit, fail, workspace


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
            fail(f"{path}: no such file or directory")
    result = workspace().ingest(paths, update_index=not no_index, show_progress=not as_json)
    if as_json:
        for doc in result.added:
            emit({"event": "added", "doc_id": doc.id, "title": doc.meta.title,
                  "source": doc.meta.source})
        for doc in result.existing:
            emit({"event": "exists", "doc_id": doc.id, "title": doc.meta.title,
                  "source": doc.meta.source})
        for err in result.errors:
            emit({"event": "error", "path": err.path, "reason": err.reason})
    else:
        typer.echo(f"added {len(result.added)} document(s), {result.passages} passage(s); "
                   f"{len(result.existing)} already stored; index version {result.index_version}")
        for err in result.errors:
            typer.echo(f"error: {err.path}: {err.reason}", err=True)
    if result.errors:
        fail(f"{len(result.errors)} file(s) could not be read; the others are stored", PARTIAL)


def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything.")] = False,
    corpus: Annotated[Path | None, typer.Option(help="Corpus to load if the store is empty.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the index, or bring it up to date with the store (only new passages are embedded)."""
    ws = workspace()
    if rebuild:
        update = ws.update_index(rebuild=True, show_progress=not as_json)
    else:
        update = ws.ensure_ready(corpus, show_progress=not as_json)
    if update.changed:
        ws.keep_tag_table()  # the server's first search then reads the passages' tags
    if as_json:
        emit(update.to_dict())
    else:
        if update.rebuilt_because:
            typer.echo(f"rebuilt the whole index: {update.rebuilt_because}")
        typer.echo(f"index v{update.version}: {update.passage_count} passages "
                   f"(+{update.added_documents} / -{update.removed_documents} documents, "
                   f"{update.embedded_passages} embedded)")


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
    from nlp.search import MODES, SearchFilters

    if mode not in MODES:
        fail(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if not query.strip():
        fail("the query is empty")
    filters = SearchFilters.parse(filter_ or [])
    ws = workspace()
    ws.ensure_ready()
    hits = ws.search(query, k=k, mode=mode, filters=filters)
    if as_json:
        for hit in hits:
            emit(hit.to_dict())
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
        text = " ".join(hit.passage.clean_text.split())
        console.print("   " + escape(text[:400] + ("…" if len(text) > 400 else "")))
        if hit.also_in_documents:
            names = sorted({meta.organization or meta.title for _, meta in hit.also_in})
            console.print(f"   [dim]also in {hit.also_in_documents} other document(s): "
                          f"{escape(', '.join(names))}[/dim]")
        console.print()


def passages(
    doc_id: Annotated[str | None, typer.Option("--doc", help="Only this document.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored passages with their offsets."""
    ws = workspace()
    ws.ensure_ready()
    rows = ws.store.passages([doc_id] if doc_id else None)
    if doc_id and not rows:
        fail(f"no document {doc_id!r}")
    for p in rows:
        if as_json:
            emit(p.to_dict())
        else:
            text = " ".join(p.text.split())
            typer.echo(f"{p.id}\t{p.start}:{p.end}\t{text[:100]}")


def documents(as_json: JsonOpt = False) -> None:
    """List stored documents."""
    ws = workspace()
    ws.ensure_ready()
    for doc in ws.store.list_documents():
        row = {"doc_id": doc.id, "chars": len(doc.text), **doc.meta.to_dict()}
        if as_json:
            emit(row)
        else:
            typer.echo(f"{doc.id}\t{doc.meta.organization}\t{doc.meta.date}\t{doc.meta.title}")


def remove(doc_id: Annotated[str, typer.Argument(help="Document id (see `wsis documents`).")]) -> None:
    """Delete a document from the store and the index."""
    if not workspace().remove(doc_id):
        fail(f"no document {doc_id!r}", PARTIAL)
    typer.echo(f"removed {doc_id}")
