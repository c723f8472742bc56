"""``devicefit doctor`` and ``devicefit watch``: is the GPU usable, and is a job using it."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Annotated

import typer

from devicefit.cli.output import DbOption, JsonOption, console, error_console, print_json


def doctor(
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Time limit of each framework's probe, in seconds.")
    ] = 60.0,
    proof: Annotated[
        bool,
        typer.Option("--proof/--no-proof", help="Time a product and a copy on each device PyTorch sees."),
    ] = True,
    json: JsonOption = False,
) -> None:
    """Check that PyTorch, JAX, TensorFlow, CuPy and ONNX Runtime see and use the GPU; the fix when not.

    Exits 1 when a problem is found, so it can gate a CI job.
    """
    from devicefit.app.doctor import doctor as run_doctor
    from devicefit.report.doctor import doctor_to_dict, render_doctor

    status = nullcontext() if json or not sys.stderr.isatty() else error_console().status("probing...")
    with status:
        outcome = run_doctor(timeout_s=timeout, proof=proof)
    if json:
        print_json(doctor_to_dict(outcome))
    else:
        console().print(render_doctor(outcome))
    if not outcome.ok:
        raise typer.Exit(1)


def watch(
    command: Annotated[
        list[str] | None, typer.Argument(help="The command to run and watch, after '--'.")
    ] = None,
    pid: Annotated[int | None, typer.Option("--pid", help="Attach to this running process instead.")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between samples.")] = 0.2,
    steps_regex: Annotated[
        str | None,
        typer.Option(
            "--steps-regex", help="A pattern the job prints once per step; its first group, the step."
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Steps the whole job makes, when it prints none.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The model the job trains, to predict its step time.")
    ] = None,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Its batch size.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Run a command (or attach to --pid) and sample its CPU, memory and GPU use; then say what held it back.

    Ctrl-C stops the command, keeps the samples and marks the session interrupted. Exits with the
    command's status (130 when interrupted).
    """
    from rich.live import Live

    from devicefit.app.watch import watch as run_watch
    from devicefit.report.watch import render_sample, render_watch, watch_to_dict
    from devicefit.store.sqlite import open_store

    live = Live(console=error_console(), auto_refresh=False, transient=True)
    show_live = not json and error_console().is_terminal

    def on_sample(sample: object) -> None:
        live.update(render_sample(sample), refresh=True)  # type: ignore[arg-type]

    with open_store(db) as store, live if show_live else nullcontext():
        outcome = run_watch(
            command or [],
            store,
            pid=pid,
            interval_s=interval,
            steps_regex=steps_regex,
            num_steps=steps,
            model=model,
            batch_size=batch,
            quiet_output=json,
            on_sample=on_sample if show_live else None,
        )
    if json:
        print_json(watch_to_dict(outcome))
    else:
        console().print(render_watch(outcome))
    if outcome.status == "interrupted":
        error_console().print(
            f"interrupted: watch {outcome.session_id} keeps its {len(outcome.samples)} samples"
        )
        raise typer.Exit(130)
    if outcome.exit_code:
        # A child killed by signal N reads -N; a shell says 128 + N.
        raise typer.Exit(outcome.exit_code if outcome.exit_code > 0 else 128 - outcome.exit_code)
