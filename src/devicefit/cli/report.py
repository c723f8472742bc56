"""``devicefit report``: one offline HTML file (or its data as JSON) of the runs, models and devices."""

from __future__ import annotations

import enum
import json as json_module
from pathlib import Path
from typing import Annotated

import typer

from devicefit.cli.catalog import CatalogOption
from devicefit.cli.output import DbOption, JsonOption, NoCacheOption, error_console, print_json
from devicefit.errors import UsageError
from devicefit.store.sqlite import open_store


class ReportFormat(str, enum.Enum):
    """What ``devicefit report`` writes."""

    HTML = "html"
    JSON = "json"


def report(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Run ids, 'latest' or -N (default: the latest benchmark run).", show_default=False
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A model to place on the roofline and predict; repeatable."),
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            "-d",
            help="Devices to predict the models on: local, all, local ids and catalog names, comma-separated "
            "(default: local, T4, A100 80GB SXM4, H100 SXM5).",
        ),
    ] = "local,nvidia-t4,nvidia-a100-80gb-sxm4,nvidia-h100-sxm5-80gb",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="Write here (default: devicefit-report.html or .json)."
        ),
    ] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="html (one offline page) or json (the same data).")
    ] = ReportFormat.HTML,
    catalog: CatalogOption = None,
    no_cache: NoCacheOption = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Write one offline HTML file: the machine, its roofline with the models' operators, the crossover."""
    from devicefit.app.report import report as gather
    from devicefit.measure.environment import command_line
    from devicefit.report.html import render_html, report_to_dict

    for ref in runs or ():
        if ref.startswith("-") and not ref[1:].isdecimal():
            raise UsageError(f"no such option: {ref}", fix="See 'devicefit report --help'")
    target = output or Path(f"devicefit-report.{format.value}")
    with open_store(db) as store:
        content = gather(
            store,
            runs or (),
            models=model or (),
            devices=device,
            command=command_line(),
            catalog_files=catalog or (),
            use_cache=not no_cache,
            on_step=None if json else lambda what: error_console().print(f"gathering {what}..."),
        )
    if format is ReportFormat.HTML:
        text = render_html(content)
    else:
        text = json_module.dumps(report_to_dict(content), indent=1)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"cannot write {target}: {error.strerror}", fix="Choose a writable --output path"
        ) from error
    size = target.stat().st_size
    if json:
        print_json({"output": str(target), "format": format.value, "bytes": size})
    else:
        typer.echo(f"wrote {target} ({size / 2**20:.2f} MiB)")
