"""The ``clhoi`` command: one subcommand per stage, each calling one function.

Nothing imports this module. Heavy imports happen inside the commands so that
``clhoi --help`` is instant. Each subcommand turns a user error into a clear
message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="clhoi",
    help="CL-HOI: human-object interaction detection distilled from vision large language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """CL-HOI: human-object interaction detection distilled from vision large language models."""


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the clhoi version."""
    from clhoi import __version__

    typer.echo(__version__)


# --- commands are added below, one block per stage -------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
