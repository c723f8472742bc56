"""``devicefit history``, ``show`` and ``export``: the stored runs."""

from __future__ import annotations

import difflib
import enum
import re
from pathlib import Path
from typing import Annotated

import typer

from devicefit.cli.output import DbOption, JsonOption, click_exceptions, console, error_console, print_json
from devicefit.errors import UsageError
from devicefit.report.advice import render_crossover, render_plan
from devicefit.report.export import run_to_csv, run_to_dict
from devicefit.report.history import render_runs
from devicefit.report.results import render_details, render_results, render_run_header
from devicefit.report.watch import render_watch, watch_to_dict
from devicefit.store.sqlite import open_store


def _run_reference(ctx: typer.Context, value: str) -> str:
    """Lets ``-N`` through as a run reference; any other word starting with ``-`` is an unknown option.

    ``show`` and ``export`` accept unknown options as arguments so that ``-1`` reaches RUN.
    """
    if value.startswith("-") and not re.fullmatch(r"-\d+", value):
        names = [name for param in ctx.command.get_params(ctx) for name in param.opts if name.startswith("-")]
        raise click_exceptions.NoSuchOption(
            value, possibilities=difflib.get_close_matches(value, names), ctx=ctx
        )
    return value


#: Candidates of a stored plan shown without --details, as 'plan' shows by default.
PLAN_ROWS = 15

RunArgument = Annotated[
    str,
    typer.Argument(help="Run id, 'latest', or -N for the N-th latest.", callback=_run_reference),
]


class ExportFormat(str, enum.Enum):
    """Formats ``devicefit export`` writes."""

    JSON = "json"
    CSV = "csv"


def history(
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many runs; 0 shows them all.")] = 20,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """List stored runs, newest first.

    A run whose process died without ending it (kill -9) shows as abandoned, with the results it had
    finished; a run still running shows its host, since only its own host can tell whether it lives.
    """
    with open_store(db) as store:
        runs = store.list_runs(limit or None)
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
                        "hostname": r.hostname,
                        "pid": r.pid,
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
        bool, typer.Option("--details", help="Statistics and warnings of every case; every plan candidate.")
    ] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Print one stored run: its results, and the answer of a crossover or plan run."""
    with open_store(db) as store:
        record = store.load_run(store.resolve_run_id(run))
        session = store.load_watch_session(record.run_id)
    if json:
        print_json(run_to_dict(record) | ({"watch": watch_to_dict(session)} if session else {}))
        return
    out = console()
    out.print(render_run_header(record))
    if session is not None:
        out.print(render_watch(session))
        return
    if record.results or not (record.crossover or record.plan):
        out.print(render_results(record.results, record.run_id))
        if details:
            out.print(render_details(record.results))
    if record.crossover:
        out.print(render_crossover(record.crossover))
    if record.plan:
        out.print(render_plan(record.plan, limit=None if details else PLAN_ROWS))


def export(
    run: RunArgument = "latest",
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json (with raw samples) or csv.")
    ] = ExportFormat.JSON,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout.")
    ] = None,
    db: DbOption = None,
    json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON alone on stdout: the run (as --format json), or with --output what was written.",
        ),
    ] = False,
) -> None:
    """Write one stored run as JSON (every raw sample included) or CSV (one row per result)."""
    import json as json_module

    if json and output is None and format is ExportFormat.CSV:
        raise UsageError(
            "--json prints the run as JSON on stdout, so it cannot also print CSV",
            fix="Drop --json, or add --output FILE to write the CSV there",
        )
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
    if json:
        print_json({"run_id": record.run_id, "format": format.value, "output": str(output)})
    else:
        error_console().print(f"wrote run {record.run_id} to {output}")
