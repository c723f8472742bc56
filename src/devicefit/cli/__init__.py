"""The ``devicefit`` command line: parse, call the library, render. Nothing imports this package."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from devicefit import __version__
from devicefit.cli import bench, catalog, devices, history, models, predict
from devicefit.cli.output import error_console
from devicefit.errors import DevicefitError


class _Group(TyperGroup):
    """Turns ``DevicefitError`` into one line on stderr and its exit code (a traceback with ``--debug``)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DevicefitError as error:
            if ctx.params.get("debug"):
                raise
            error_console().print(
                f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True
            )
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    name="devicefit",
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="CPU or GPU? Which GPU? Measure how fast your devices really are, and keep the results.",
)


def _version(value: bool) -> None:
    if value:
        print(f"devicefit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """CPU or GPU? Which GPU? Measure how fast your devices really are, and keep the results."""


app.command("devices")(devices.devices)
app.command("bench")(bench.bench)
app.command("models")(models.models)
app.command("profile")(models.profile)
app.command("calibrate")(predict.calibrate)
app.command("predict")(predict.predict)
app.command("validate")(predict.validate)
app.command("history")(history.history)
app.command("show")(history.show)
app.command("export")(history.export)
app.add_typer(catalog.app, name="catalog")


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="devicefit", standalone_mode=True))
