"""Consoles and options shared by the commands: tables to stdout, progress and errors to stderr."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from devicefit.store.sqlite import DB_ENV

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON alone on stdout.")]
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        dir_okay=False,
        show_default="user data dir",
        help=f"Results database (default: devicefit.db in the user data dir; or ${DB_ENV}).",
    ),
]
NoCacheOption = Annotated[
    bool,
    typer.Option("--no-cache", help="Trace the model again, ignoring (and not writing) the cached analysis."),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        "--device", "-d", help="cpu, cuda, cuda:N, mps, all, or fake (a simulated GPU); comma-separated."
    ),
]


def console() -> Console:
    """The stdout console; a fixed width when ``COLUMNS`` is set (tests, snapshots)."""
    return Console(
        highlight=False,
        soft_wrap=False,
        width=int(os.environ["COLUMNS"]) if "COLUMNS" in os.environ else None,
    )


def error_console() -> Console:
    """The stderr console, for progress bars and errors."""
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Writes ``data`` as JSON to stdout, nothing else."""
    typer.echo(json.dumps(data, indent=2, allow_nan=False))
