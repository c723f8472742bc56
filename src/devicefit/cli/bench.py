"""``devicefit bench``: measure each selected device and store the run."""

from __future__ import annotations

from typing import Annotated

import typer

from devicefit.cli.output import DbOption, DeviceOption, JsonOption, console, error_console, print_json
from devicefit.devices import select_devices
from devicefit.measure.micro import Case
from devicefit.measure.session import plan_cases, run_benchmarks
from devicefit.report.export import result_to_dict
from devicefit.report.terminal import progress_bar, render_results
from devicefit.store.sqlite import open_store


def bench(
    ctx: typer.Context,
    device: DeviceOption = "all",
    suite: Annotated[str, typer.Option(help="Which benchmarks: micro or all.")] = "all",
    quick: Annotated[
        bool, typer.Option("--quick", help="A reduced sweep: under a minute on a 2-core CPU.")
    ] = False,
    only: Annotated[
        str | None, typer.Option(help="Only benchmarks matching these patterns: 'matmul,triad'.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note stored with the run.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Measure matmul FLOP/s, memory bandwidth, transfers, launch latency and scaling on each device."""
    selected = select_devices(device)
    with open_store(db) as store:
        cases = plan_cases(selected, suite=suite, quick=quick, only=only)
        with progress_bar(error_console()) as progress:
            task = progress.add_task("starting", total=len(cases))

            def on_case(case: Case, num_done: int) -> None:
                progress.update(task, description=f"{case.device} {case.id}", completed=num_done)

            outcome = run_benchmarks(
                cases,
                selected,
                store,
                quick=quick,
                label=label,
                on_case=on_case,
                raise_errors=bool(ctx.parent and ctx.parent.params.get("debug")),
            )
    if json:
        print_json(
            {
                "run_id": outcome.run_id,
                "status": "interrupted" if outcome.interrupted else "complete",
                "results": [result_to_dict(r) for r in outcome.results],
            }
        )
    else:
        console().print(render_results(outcome.results, outcome.run_id))
    if outcome.interrupted:
        error_console().print(
            f"interrupted: run {outcome.run_id} keeps its {len(outcome.results)} finished results"
        )
        raise typer.Exit(130)
    if not json:
        error_console().print(f"[dim]stored as run {outcome.run_id} in {store.path}[/]")
