"""``devicefit fleet bench``: the same benchmark on every node of a Ray cluster, outliers flagged."""

from __future__ import annotations

from typing import Annotated

import typer

from devicefit.cli.output import DbOption, DeviceOption, JsonOption, console, error_console, print_json

app = typer.Typer(no_args_is_help=True, help="Benchmark every node of a Ray cluster and flag the slow ones.")


@app.command("bench")
def bench(
    address: Annotated[
        str, typer.Option(help="The Ray cluster (ray://HOST:10001, HOST:6379), or 'local' to start one here.")
    ],
    suite: Annotated[
        str, typer.Option(help="quick (the micro suite's --quick sweep), micro, models, all or comm.")
    ] = "quick",
    quick: Annotated[bool, typer.Option("--quick", help="The reduced sweep of the suite.")] = False,
    only: Annotated[
        str | None, typer.Option(help="Only benchmarks matching these patterns: 'matmul,triad'.")
    ] = None,
    device: DeviceOption = "all",
    label: Annotated[str | None, typer.Option(help="A note stored with the run.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Run a bench suite on every alive node (one Ray task each), store it as one run, flag slow nodes."""
    from devicefit.app.fleet import NodeRequest, fleet_bench
    from devicefit.report.fleet import fleet_to_dict, render_fleet
    from devicefit.store.sqlite import open_store

    request = NodeRequest(suite=suite, quick=quick, only=only, device=device)
    with open_store(db) as store:
        outcome = fleet_bench(address, store, request, label=label)
    if json:
        print_json(fleet_to_dict(outcome))
        return
    console().print(render_fleet(outcome))
    error_console().print(f"[dim]stored as run {outcome.run_id} in {store.path}[/]")
