"""Consoles and options shared by the commands: tables to stdout, progress and errors to stderr."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from devicefit.store.location import DB_ENV

#: The parser's exceptions: recent typer carries its own copy of click, older typer uses click's.
click_exceptions = importlib.import_module(
    "typer._click.exceptions" if importlib.util.find_spec("typer._click") else "click.exceptions"
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON alone on stdout.")]
# A path, not a typer Path: the store checks it (and $DEVICEFIT_DB, which it reads itself, so that an
# error names where the bad value came from).
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="FILE|URL",
        show_default="user data dir",
        help=f"Results database: a .db file (SQLite) or a postgresql:// URL (default: devicefit.db in the "
        f"user data dir, or ${DB_ENV}).",
    ),
]
NoCacheOption = Annotated[
    bool,
    typer.Option("--no-cache", help="Trace the model again, ignoring (and not writing) the cached analysis."),
]
PrecisionOption = Annotated[
    str,
    typer.Option(
        help="fp32 (PyTorch's defaults: IEEE products, TF32 convolutions), tf32 (products too), "
        "bf16 or fp16 autocast, amp (fp16 autocast with loss scaling, as fp16 trains)."
    ),
]
ChannelsLastOption = Annotated[
    bool,
    typer.Option("--channels-last", help="The model and its inputs in channels-last memory format."),
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
        width=int(columns) if (columns := os.environ.get("COLUMNS", "")).isdecimal() else None,
    )


def error_console() -> Console:
    """The stderr console, for progress bars and errors."""
    return Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """Writes ``error: message`` to stderr as one line."""
    error_console().print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )


def print_json(data: Any) -> None:
    """Writes ``data`` as JSON to stdout, nothing else."""
    typer.echo(json.dumps(data, indent=2, allow_nan=False))
