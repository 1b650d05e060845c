"""``wsis``: the command line, one typer app over the library.

The commands live by group (:mod:`nlp.cli.corpus`, :mod:`nlp.cli.tagging`,
:mod:`nlp.cli.serve`); each parses its arguments and calls the library. Heavy imports (torch,
sentence-transformers, faiss) happen inside the commands so ``wsis --help`` starts instantly.

Errors take one path, :class:`WsisGroup`: a :class:`nlp.errors.WsisError` or a
:func:`nlp.cli.common.fail` prints ``error: <message>`` on stderr and exits non-zero
(2 for bad arguments and missing files, 1 when some items failed).
"""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from nlp.cli import corpus, insights, serve, tagging
from nlp.cli.common import BAD_INPUT, CommandError
from nlp.errors import WsisError

__all__ = ["app", "main"]


class WsisGroup(TyperGroup):
    """The ``wsis`` group: runs a command and turns its failure into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommandError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.code) from None
        except WsisError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(BAD_INPUT) from None


app = typer.Typer(
    name="wsis",
    cls=WsisGroup,
    help="WSIS Lens: search, compare and tag WSIS+20 review documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# In the order `wsis --help` lists them.
_COMMANDS = (
    ("ingest", corpus.ingest),
    ("index", corpus.index),
    ("search", corpus.search),
    ("passages", corpus.passages),
    ("documents", corpus.documents),
    ("remove", corpus.remove),
    ("export-onnx", serve.export_onnx_command),
    ("serve", serve.serve),
    ("train", tagging.train_command),
    ("evaluate", tagging.evaluate_command),
    ("tag", tagging.tag_command),
)
for _name, _command in _COMMANDS:
    app.command(_name)(_command)
app.add_typer(insights.report_app, name="report")  # wsis report corpus


def main() -> None:
    """The ``wsis`` entry point (``[project.scripts]`` in pyproject.toml)."""
    app()
