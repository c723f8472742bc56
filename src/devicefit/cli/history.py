"""``devicefit history``, ``show`` and ``export``: the stored runs."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from devicefit.cli.output import DbOption, JsonOption, console, error_console, print_json
from devicefit.errors import UsageError
from devicefit.report.export import run_to_csv, run_to_dict
from devicefit.report.terminal import render_details, render_results, render_run_header, render_runs
from devicefit.store.sqlite import open_store

RunArgument = Annotated[str, typer.Argument(help="Run id, 'latest', or -N for the N-th latest.")]


class ExportFormat(str, enum.Enum):
    """Formats ``devicefit export`` writes."""

    JSON = "json"
    CSV = "csv"


def history(
    limit: Annotated[int, typer.Option(help="Show at most this many runs.")] = 20,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """List stored runs, newest first."""
    with open_store(db) as store:
        runs = store.list_runs(limit)
    if json:
        print_json(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "status": r.status,
                        "started_at": r.started_at,
                        "ended_at": r.ended_at,
                        "command": r.command,
                        "label": r.label,
                        "devices": list(r.devices),
                        "num_results": r.num_results,
                    }
                    for r in runs
                ]
            }
        )
    elif runs:
        console().print(render_runs(runs))
    else:
        error_console().print(f"no runs yet in {store.path}; run 'devicefit bench' to measure")


def show(
    run: RunArgument = "latest",
    details: Annotated[
        bool, typer.Option("--details", help="Statistics and warnings of every case.")
    ] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Print one stored run."""
    with open_store(db) as store:
        record = store.load_run(store.resolve_run_id(run))
    if json:
        print_json(run_to_dict(record))
        return
    out = console()
    out.print(render_run_header(record))
    out.print(render_results(record.results, record.run_id))
    if details:
        out.print(render_details(record.results))


def export(
    run: RunArgument = "latest",
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json (with raw samples) or csv.")
    ] = ExportFormat.JSON,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write one stored run as JSON (every raw sample included) or CSV (one row per result)."""
    import json as json_module

    with open_store(db) as store:
        record = store.load_run(store.resolve_run_id(run))
    text = (
        json_module.dumps(run_to_dict(record, samples=True), indent=2)
        if format is ExportFormat.JSON
        else run_to_csv(record)
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"cannot write {output}: {error.strerror}", fix="Choose a writable --output path"
        ) from error
    error_console().print(f"wrote run {record.run_id} to {output}")
