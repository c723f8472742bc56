"""``devicefit bench``: measure each selected device and store the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from devicefit.cli.output import DbOption, DeviceOption, JsonOption, console, error_console, print_json

if TYPE_CHECKING:
    from devicefit.devices.base import Device
    from devicefit.measure.case import Case
    from devicefit.measure.session import BenchOutcome
    from devicefit.records import DeviceModel
    from devicefit.store.sqlite import Store

_MODEL_HELP = "Models suite: "


def bench(
    ctx: typer.Context,
    device: DeviceOption = "all",
    suite: Annotated[str, typer.Option(help="micro, models or all.")] = "micro",
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
    precision: Annotated[str, typer.Option(help=_MODEL_HELP + "fp32, or bf16/fp16 autocast.")] = "fp32",
    seq_len: Annotated[
        int | None, typer.Option(help=_MODEL_HELP + "tokens per sample of sequence models.")
    ] = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help=_MODEL_HELP + "channels-last memory format.")
    ] = False,
    compile: Annotated[
        bool, typer.Option("--compile", help=_MODEL_HELP + "torch.compile the models.")
    ] = False,
    label: Annotated[str | None, typer.Option(help="A note stored with the run.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Measure matmul FLOP/s, bandwidth, transfers, launch latency, scaling, and model steps."""
    # Imported here, so that other commands do not pay for the measuring code.
    from devicefit.devices import select_devices
    from devicefit.measure.bench_plan import ModelPlan
    from devicefit.measure.session import plan_cases
    from devicefit.report.export import result_to_dict
    from devicefit.report.prediction import fit_warnings, render_fit_checks
    from devicefit.report.terminal import render_results
    from devicefit.store.sqlite import open_store

    selected = select_devices(device)
    plan = ModelPlan(
        models=tuple(model or ()),
        batch_sizes=tuple(batch or ()),
        precision=precision,
        sequence_length=seq_len,
        channels_last=channels_last,
        compile=compile,
    )
    with open_store(db) as store:
        cases = plan_cases(selected, suite="models" if model else suite, quick=quick, only=only, models=plan)
        debug = bool(ctx.parent and ctx.parent.params.get("debug"))
        outcome = run_with_progress(cases, selected, store, quick=quick, label=label, debug=debug)
        fitted = [] if outcome.interrupted else _store_bench_calibrations(outcome, selected, store)
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


def run_with_progress(
    cases: list[Case],
    devices: tuple[Device, ...],
    store: Store,
    *,
    quick: bool,
    label: str | None,
    debug: bool,
) -> BenchOutcome:
    """Runs ``cases`` into a new stored run with a progress bar on stderr."""
    from devicefit.measure.session import run_benchmarks
    from devicefit.report.terminal import progress_bar

    with progress_bar(error_console()) as progress:
        task = progress.add_task("starting", total=len(cases))

        def on_case(case: Case, num_done: int) -> None:
            progress.update(task, description=f"{case.device} {case.id}", completed=num_done)

        return run_benchmarks(
            cases, devices, store, quick=quick, label=label, on_case=on_case, raise_errors=debug
        )


def _store_bench_calibrations(
    outcome: BenchOutcome, devices: tuple[Device, ...], store: Store
) -> list[DeviceModel]:
    """Fits each device's model from the micro suite's results, for predict until ``calibrate`` runs.

    Each fit is judged against the device's peak, its noise and this machine's earlier runs, and
    stored with the verdict: a rejected one is kept for the record but never predicts.
    """
    from devicefit.predict.calibration import fit_bench_model
    from devicefit.predict.plausibility import judge_fit

    fitted = []
    for device in devices:
        description = device.properties()
        measured = {r.benchmark for r in outcome.results if r.device == device.id and r.status == "ok"}
        if device.kind == "fake" or not {"matmul", "triad", "launch"} <= measured:
            continue
        model = fit_bench_model(
            outcome.results,
            description,
            source=f"devicefit bench, run {outcome.run_id} (micro suite; 'devicefit calibrate' fits more)",
        )
        earlier = store.earlier_results(
            outcome.run_id, device.id, (r.case_id for r in outcome.results if r.device == device.id)
        )
        model = judge_fit(model, outcome.results, description, earlier=earlier)
        store.add_calibration(outcome.run_id, model, origin="bench")
        fitted.append(model)
    return fitted
