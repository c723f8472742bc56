"""``devicefit bench``: measure each selected device and store the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from devicefit.cli.output import DbOption, DeviceOption, JsonOption, console, error_console, print_json

if TYPE_CHECKING:
    from devicefit.measure.case import Case

_MODEL_HELP = "Models suite: "


def bench(
    ctx: typer.Context,
    device: DeviceOption = "all",
    suite: Annotated[
        str, typer.Option(help="micro, models, all (micro and models) or comm (collectives).")
    ] = "micro",
    quick: Annotated[
        bool, typer.Option("--quick", help="A reduced sweep (micro: under a minute on 2 cores).")
    ] = False,
    only: Annotated[
        str | None, typer.Option(help="Only benchmarks matching these patterns: 'matmul,triad'.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help=_MODEL_HELP + "this model (zoo name, file.py:factory...); repeatable."),
    ] = None,
    batch: Annotated[
        list[int] | None, typer.Option(help=_MODEL_HELP + "these batch sizes; repeatable.")
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            help=_MODEL_HELP
            + "fp32 (PyTorch's defaults), tf32, bf16, fp16 or amp (fp16 autocast, loss scaling)."
        ),
    ] = "fp32",
    seq_len: Annotated[
        int | None, typer.Option(help=_MODEL_HELP + "tokens per sample of sequence models.")
    ] = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help=_MODEL_HELP + "channels-last memory format.")
    ] = False,
    compile: Annotated[
        bool, typer.Option("--compile", help=_MODEL_HELP + "torch.compile the models.")
    ] = False,
    nproc: Annotated[
        int, typer.Option(help="Comm suite: processes in the group (gloo on CPUs, NCCL on GPUs).")
    ] = 2,
    label: Annotated[str | None, typer.Option(help="A note stored with the run.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Measure matmul FLOP/s, bandwidth, transfers, launch latency, scaling, model steps, collectives."""
    # Imported here, so that other commands do not pay for the measuring code.
    from devicefit.app.bench import bench as run_bench
    from devicefit.devices import select_devices
    from devicefit.measure.bench_plan import ModelPlan
    from devicefit.report.export import result_to_dict
    from devicefit.report.prediction import fit_warnings, render_fit_checks
    from devicefit.report.results import render_results
    from devicefit.store.sqlite import open_store

    plan = ModelPlan(
        models=tuple(model or ()),
        batch_sizes=tuple(batch or ()),
        precision=precision,
        sequence_length=seq_len,
        channels_last=channels_last,
        compile=compile,
    )
    selected = select_devices(device)
    with open_store(db) as store, progress(ctx) as (on_case, debug):
        outcome = run_bench(
            selected,
            store,
            suite=suite,
            quick=quick,
            only=only,
            models=plan,
            label=label,
            on_case=on_case,
            raise_errors=debug,
            num_processes=nproc,
        )
    fitted = list(outcome.fits)
    if json:
        status = "interrupted" if outcome.interrupted else "complete"
        print_json(
            {
                "run_id": outcome.run_id,
                "status": status,
                "results": [result_to_dict(r) for r in outcome.results],
                "warnings": fit_warnings(fitted),
            }
        )
    else:
        console().print(render_results(outcome.results, outcome.run_id))
        if fit_warnings(fitted):
            error_console().print(render_fit_checks(fitted))
    if outcome.interrupted:
        error_console().print(
            f"interrupted: run {outcome.run_id} keeps its {len(outcome.results)} finished results"
        )
        raise typer.Exit(130)
    if not json:
        error_console().print(f"[dim]stored as run {outcome.run_id} in {store.path}[/]")


@contextmanager
def progress(ctx: typer.Context) -> Iterator[tuple[Callable[[Case, int, int], None], bool]]:
    """A progress bar on stderr for a measuring command: yields its ``on_case`` callback and ``--debug``."""
    from devicefit.report.progress import progress_bar

    debug = bool(ctx.parent and ctx.parent.params.get("debug"))
    with progress_bar(error_console()) as bar:
        task = bar.add_task("starting", total=None)

        def on_case(case: Case, num_done: int, num_cases: int) -> None:
            bar.update(task, description=f"{case.device} {case.id}", completed=num_done, total=num_cases)

        yield on_case, debug
