"""The ``devicefit`` command line: parse, call the library, render. Nothing imports this package."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from devicefit import __version__
from devicefit.cli import (
    advice,
    bench,
    catalog,
    devices,
    diagnose,
    fleet,
    history,
    models,
    predict,
    report,
)
from devicefit.cli.output import click_exceptions, print_error
from devicefit.errors import DevicefitError


class _Group(TyperGroup):
    """The single translation point of errors, and switches shown without a value type.

    A ``DevicefitError`` or a usage error of the parser (an unknown option, a value of the wrong
    type) becomes one line on stderr with its exit code; ``--debug`` shows a ``DevicefitError``'s
    traceback instead.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DevicefitError as error:
            if ctx.find_root().params.get("debug"):
                raise
            print_error(str(error))
            raise typer.Exit(error.exit_code) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        main = partial(
            super().main,
            args,
            prog_name,
            complete_var,
            standalone_mode=False,
            windows_expand_args=windows_expand_args,
            **extra,
        )
        if not standalone_mode:
            return main()
        try:
            code = main()
        except click_exceptions.ClickException as error:
            sys.exit(_report_click_error(error))
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_switches(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _bare_switches(command.get_params(ctx))
        return command


def _report_click_error(error: Any) -> int:
    """Prints a parser error as one line with the way to the command's help; returns its exit code."""
    if type(error).__name__ == "NoArgsIsHelpError":
        # The help was printed instead (typer's rich help prints it while the error is made).
        if error.format_message():
            error.show()
        return error.exit_code
    message = " ".join(error.format_message().split()).rstrip(".")
    rejected = _rejected_value(error)
    if rejected is not None:
        message = message.replace("Invalid value for", f"Invalid value {rejected!r} for", 1)
    ctx = getattr(error, "ctx", None)
    command = ctx.command_path if ctx is not None else "devicefit"
    fix = f"See '{command} --help'" if isinstance(error, click_exceptions.UsageError) else ""
    print_error(f"{message[:1].lower()}{message[1:]}" + (f". {fix}" if fix else ""))
    return error.exit_code


def _rejected_value(error: Any) -> Any:
    """The value typer failed to convert, when it says (its pydantic error keeps the input)."""
    errors = getattr(error.__cause__, "errors", None)
    if not callable(errors):
        return None
    details = errors()
    return details[0].get("input") if details else None


def _bare_switches(params: list[Any]) -> list[Any]:
    """Shows on/off options (``--json``, ``--help``) without the ``<bool>`` typer writes beside them."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


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
app.command("crossover")(advice.crossover)
app.command("plan")(advice.plan)
app.command("doctor")(diagnose.doctor)
# Everything after '--' (or after the first word that is no option) is the watched command's.
app.command("watch", context_settings={"allow_interspersed_args": False})(diagnose.watch)
app.command("history")(history.history)
# RUN may be -N, which the parser would otherwise read as an unknown option.
app.command("show", context_settings={"ignore_unknown_options": True})(history.show)
app.command("export", context_settings={"ignore_unknown_options": True})(history.export)
app.command("report", context_settings={"ignore_unknown_options": True})(report.report)
app.add_typer(catalog.app, name="catalog", cls=_Group)
app.add_typer(fleet.app, name="fleet", cls=_Group)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="devicefit", standalone_mode=True))
