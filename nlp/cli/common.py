"""What every ``wsis`` command shares: the one way to fail, JSON lines, the workspace.

Kept apart from :mod:`nlp.cli` (which builds the app from the command modules) so a command
module can import it without an import circle.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from nlp.workspace import Workspace

# Exit codes (README, "The command line").
BAD_INPUT = 2  # bad arguments, missing files, a refusal of the library (WsisError)
PARTIAL = 1  # some items failed, the others were done; also "no such document" for remove

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line (stable).")]


class CommandError(Exception):
    """A command cannot go on (or went on, but some items failed).

    :mod:`nlp.cli` prints ``error: <message>`` on stderr and exits with ``code``.
    """

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """Stop the command: ``error: <message>`` on stderr, exit ``code``.

    Raises:
        CommandError: always; the app turns it into the message and the exit code.
    """
    raise CommandError(message, code)


def say(message: str) -> None:
    """Progress and notes for people: stderr, so stdout stays parseable."""
    typer.echo(message, err=True)


def emit(obj: dict[str, Any]) -> None:
    """One JSON object on one line of stdout, keys sorted (the stable ``--json`` format)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")


def workspace() -> Workspace:
    """The workspace of the environment's settings (imported here: it maps numpy), telling
    stderr when a slow one-off step (the first ONNX export) starts."""
    from nlp.workspace import Workspace

    return Workspace(progress=say)
