"""``devicefit calibrate``, ``predict`` and ``validate``: fit the local devices, predict any device, check."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from devicefit.cli.bench import run_with_progress
from devicefit.cli.catalog import CatalogOption
from devicefit.cli.output import (
    DbOption,
    DeviceOption,
    JsonOption,
    NoCacheOption,
    console,
    error_console,
    print_json,
)
from devicefit.errors import UsageError
from devicefit.store.sqlite import open_store

if TYPE_CHECKING:
    from devicefit.records import DeviceDescription

ThreadsOption = Annotated[
    int | None, typer.Option("--threads", help="CPU threads to predict the local CPU at (default: torch's).")
]


def calibrate(
    ctx: typer.Context,
    device: DeviceOption = "all",
    quick: Annotated[bool, typer.Option("--quick", help="A shorter budget per benchmark.")] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Fit each local device's performance model from micro-benchmarks; predict uses it.

    Matrix products of many shapes, convolutions, memory kernels from cache- to DRAM-sized, layer
    kernels and host costs; on CPUs with one thread and with all. Never a model step.
    """
    from devicefit.devices import select_devices
    from devicefit.measure.plan import plan_calibration
    from devicefit.predict.calibration import calibration_threads, fit_device_model
    from devicefit.predict.plausibility import judge_fit
    from devicefit.report.prediction import calibration_to_dict, render_calibrations

    selected = tuple(d for d in select_devices(device) if d.kind != "fake")
    if not selected:
        raise UsageError("nothing to calibrate: a fake device has no measurements", fix="Pass --device cpu")
    plans = [(d.properties(), threads) for d in selected for threads in calibration_threads(d.properties())]
    cases = [
        case
        for description, threads in plans
        for case in plan_calibration(description, num_threads=threads, quick=quick)
    ]
    with open_store(db) as store:
        debug = bool(ctx.parent and ctx.parent.params.get("debug"))
        outcome = run_with_progress(cases, selected, store, quick=quick, label="calibrate", debug=debug)
        if outcome.interrupted:
            error_console().print(
                f"interrupted: run {outcome.run_id} keeps its {len(outcome.results)} results; "
                "no calibration stored"
            )
            raise typer.Exit(130)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        fitted = []
        for description, threads in plans:
            model = fit_device_model(
                outcome.results,
                description,
                num_threads=threads,
                source=f"devicefit calibrate, run {outcome.run_id}, {created[:10]}",
                created_at=created,
            )
            mine = [r for r in outcome.results if r.device == description.id and r.num_threads == threads]
            earlier = store.earlier_results(outcome.run_id, description.id, (r.case_id for r in mine))
            model = judge_fit(model, mine, description, earlier=earlier)
            fitted.append((model, store.add_calibration(outcome.run_id, model)))
    if json:
        print_json({"run_id": outcome.run_id, "calibrations": [calibration_to_dict(m, i) for m, i in fitted]})
        return
    console().print(render_calibrations(fitted))
    error_console().print(f"[dim]stored with run {outcome.run_id} in {store.path}[/]")


def predict(
    model: Annotated[
        str, typer.Argument(help="Zoo name, decoder:key=value,..., file.py:factory, module:factory.")
    ],
    device: Annotated[
        str,
        typer.Option(
            "--device",
            "-d",
            help="local, all, a local id (cpu, cuda:0) or catalog names ('h100', 'a100 80gb pcie'); "
            "comma-separated.",
        ),
    ] = "local",
    batch: Annotated[int | None, typer.Option(help="Samples per step (default: the model's).")] = None,
    precision: Annotated[str, typer.Option(help="fp32, or bf16/fp16 autocast mixed precision.")] = "fp32",
    train: Annotated[bool, typer.Option("--train/--infer", help="A training step, or inference.")] = True,
    optimizer: Annotated[
        str | None, typer.Option(help="sgd, sgd-momentum, adam, adamw (default: the model's).")
    ] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per sample, for sequence models.")] = None,
    threads: ThreadsOption = None,
    catalog: CatalogOption = None,
    no_cache: NoCacheOption = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Predict step time, throughput, memory fit and the largest batch on local or catalog devices."""
    from devicefit.analyze.cache import analyze_model_cached
    from devicefit.catalog import load_catalog
    from devicefit.predict.roofline import predict_step
    from devicefit.predict.targets import needs_local_devices, resolve_targets
    from devicefit.report.prediction import prediction_to_dict, render_prediction, render_ranking

    loaded = load_catalog(catalog or ())
    with open_store(db) as store:
        host = socket.gethostname()
        local: tuple[DeviceDescription, ...] = ()
        if needs_local_devices(device, store.calibrated_devices(host)):
            from devicefit.devices import discover_devices

            local = tuple(d.properties() for d in discover_devices())
        stored = {d.id: store.calibrations(d.id, device_name=d.name, hostname=host) for d in local}
        resolution = resolve_targets(
            device, local_devices=local, catalog=loaded, calibrations=stored, num_threads=threads
        )
    costs = {}
    predictions = []
    mode = "train" if train else "infer"
    for target in resolution.targets:
        if target.memory_kind not in costs:
            costs[target.memory_kind], note = analyze_model_cached(
                model,
                batch,
                precision=precision,
                optimizer=optimizer,
                sequence_length=seq_len,
                device_kind=target.memory_kind,
                use_cache=not no_cache,
            )
            if note:
                error_console().print(f"[yellow]note:[/] {note}")
        cost = costs[target.memory_kind]
        predictions.append(
            (predict_step(cost, target.model, mode=mode, device_kind=target.memory_kind), target)
        )
    first = predictions[0][0]
    if json:
        print_json(
            {
                "model": first.model,
                "batch_size": first.batch_size,
                "precision": first.precision,
                "mode": mode,
                "predictions": [prediction_to_dict(p, notes=t.notes) for p, t in predictions],
                "skipped": [{"device": d, "reason": r} for d, r in resolution.skipped],
            }
        )
    elif len(predictions) == 1:
        console().print(render_prediction(first, notes=predictions[0][1].notes))
    else:
        console().print(render_ranking([p for p, _ in predictions], resolution.skipped))
        for _, target in predictions:
            for note in target.notes:
                error_console().print(f"[yellow]note:[/] {note}")


def validate(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None, typer.Argument(help="Models to check (default: the benchmarked zoo).")
    ] = None,
    device: DeviceOption = "cpu",
    batch: Annotated[
        list[int] | None, typer.Option(help="Batch sizes; repeatable (default: each model's sweep).")
    ] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per sample, for sequence models.")] = None,
    threads: ThreadsOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Predict, then measure, each model's steps on local devices: the model's error on this machine."""
    from devicefit.catalog import load_catalog
    from devicefit.devices import select_devices
    from devicefit.predict.targets import local_target
    from devicefit.predict.validate import compare, plan_validation, validation_points
    from devicefit.report.prediction import error_summary, render_validation
    from devicefit.workloads import list_models

    names = list(models or [i.name for i in list_models() if i.benchmark_batch_sizes])
    points = validation_points(names, batch or (), sequence_length=seq_len)
    selected = tuple(d for d in select_devices(device) if d.kind != "fake")
    loaded = load_catalog()
    comparisons = []
    with open_store(db) as store:
        targets = []
        for d in selected:
            described = d.properties()
            stored = store.calibrations(
                described.id, device_name=described.name, hostname=socket.gethostname()
            )
            target = local_target(described, loaded, stored, num_threads=threads)
            if target.model.origin == "defaults":
                raise UsageError(
                    f"{d.id} has no calibration on this machine",
                    fix=f"Run 'devicefit calibrate --device {d.id}' first",
                )
            targets.append(target)
        cases = [
            case
            for d, t in zip(selected, targets, strict=True)
            for case in plan_validation(d.properties(), points, num_threads=t.model.num_threads)
        ]
        debug = bool(ctx.parent and ctx.parent.params.get("debug"))
        outcome = run_with_progress(cases, selected, store, quick=True, label="validate", debug=debug)
    for index, target in enumerate(targets):
        done = outcome.results[index * len(points) : (index + 1) * len(points)]
        comparisons += compare(points, done, target.model, memory_kind=target.memory_kind)
    summary = error_summary([c.error for c in comparisons if c.error is not None])
    if json:
        print_json(
            {
                "run_id": outcome.run_id,
                **summary,
                "comparisons": [
                    {
                        "device": c.device,
                        "num_threads": c.num_threads,
                        "model": c.model,
                        "batch_size": c.batch_size,
                        "mode": c.mode,
                        "predicted_s": c.predicted_s,
                        "measured_s": c.measured_s,
                        "error": c.error,
                        "status": c.status,
                    }
                    for c in comparisons
                ],
            }
        )
    else:
        console().print(render_validation(comparisons, summary))
    if outcome.interrupted:
        error_console().print(
            f"interrupted: run {outcome.run_id} keeps its {len(outcome.results)} finished results"
        )
        raise typer.Exit(130)
