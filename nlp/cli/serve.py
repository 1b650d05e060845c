"""``wsis export-onnx`` and ``wsis serve``: what serving needs."""

from __future__ import annotations

from typing import Annotated

import typer

from nlp.cli.common import fail, say


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
    from nlp.onnx_export import export_onnx
    from nlp.onnx_format import check_source, is_export_dir, model_source

    settings = get_settings()
    specs = [model] if model else list(dict.fromkeys(
        [settings.embedding_model, settings.tagging_model_spec]))
    for spec in specs:
        if spec.startswith("hash"):  # the test fake: nothing to export
            continue
        try:
            source, name = model_source(spec)
        except FileNotFoundError:
            fail(f"{spec}: not the bundled model nor a model directory")
        target = settings.onnx_dir / name
        try:
            if is_export_dir(target) and not force:
                check_source(target, source)
                typer.echo(f"ONNX export of {name} is up to date at {target}")
                continue
            say(f"exporting {name} to ONNX (one-off, about 30 s) ...")
            export_onnx(source, target, name=name, replace=True)
        except ValueError as exc:  # a directory that is no sentence-transformers model
            fail(str(exc))
        typer.echo(f"exported {name} to {target}")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the web page and the API (builds the index and models on first run)."""
    import os

    import uvicorn

    # numpy's BLAS (OpenBLAS) on one thread, whatever ONNX Runtime is given: idle OpenBLAS
    # threads spin after every product and a /v1/tag call makes a dozen small ones (example
    # banks, heads). With ONNX Runtime on two threads, a call cost 80 server CPU ms with
    # OpenBLAS on two threads and 47 with it on one (bench_api, concurrency 1).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # One ONNX Runtime thread per encoder call unless told otherwise: concurrent requests
    # still use both cores, and the same vectors come out.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)
