"""``devicefit calibrate``, ``predict`` and ``validate``: fit the local devices, predict any device, check."""

from __future__ import annotations

from typing import Annotated

import typer

from devicefit.cli.bench import progress
from devicefit.cli.catalog import CatalogOption
from devicefit.cli.output import (
    ChannelsLastOption,
    DbOption,
    DeviceOption,
    JsonOption,
    NoCacheOption,
    PrecisionOption,
    console,
    error_console,
    print_json,
)
from devicefit.store.sqlite import open_store

ThreadsOption = Annotated[
    int | None, typer.Option("--threads", help="CPU threads to predict the local CPU at (default: torch's).")
]


def calibrate(
    ctx: typer.Context,
    device: DeviceOption = "all",
    quick: Annotated[bool, typer.Option("--quick", help="A shorter budget per benchmark.")] = False,
    nproc: Annotated[
        int | None,
        typer.Option(help="Also fit the local link from collectives between this many processes."),
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Fit each local device's performance model from micro-benchmarks; predict uses it.

    Matrix products of many shapes, convolutions, memory kernels from cache- to DRAM-sized, layer
    kernels and host costs; on CPUs with one thread and with all. Never a model step. With
    --nproc, the collectives of 'bench --suite comm' too, for the link between processes.
    """
    from devicefit.app.calibrate import calibrate as run_calibration
    from devicefit.devices import select_devices
    from devicefit.report.prediction import calibration_to_dict, render_calibrations

    selected = select_devices(device)
    with open_store(db) as store, progress(ctx) as (on_case, debug):
        outcome = run_calibration(
            selected, store, quick=quick, on_case=on_case, raise_errors=debug, num_processes=nproc
        )
    if outcome.interrupted:
        error_console().print(
            f"interrupted: run {outcome.run_id} keeps its {len(outcome.results)} results; "
            "no calibration stored"
        )
        raise typer.Exit(130)
    fitted = list(zip(outcome.fits, outcome.calibration_ids, strict=True))
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
    precision: PrecisionOption = "fp32",
    train: Annotated[bool, typer.Option("--train/--infer", help="A training step, or inference.")] = True,
    optimizer: Annotated[
        str | None, typer.Option(help="sgd, sgd-momentum, adam, adamw (default: the model's).")
    ] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per sample, for sequence models.")] = None,
    threads: ThreadsOption = None,
    channels_last: ChannelsLastOption = False,
    host: Annotated[
        str | None,
        typer.Option(
            help="The catalog CPU that launches the GPUs' work ('epyc 7742'); default: each GPU's "
            "usual host (a DGX's CPU), this machine's CPU for local GPUs."
        ),
    ] = None,
    gpus: Annotated[
        int, typer.Option(help="GPUs of each device to train on (data parallel unless --parallel).")
    ] = 1,
    nodes: Annotated[
        int | None,
        typer.Option(help="Machines the GPUs are spread over (default: as few as hold them, 8 a DGX)."),
    ] = None,
    parallel: Annotated[
        str | None,
        typer.Option(help="With --gpus: ddp (default), fsdp, zero1, zero2, or tp=K (decoders)."),
    ] = None,
    catalog: CatalogOption = None,
    no_cache: NoCacheOption = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Predict step time, throughput, memory fit and the largest batch on local or catalog devices.

    With --gpus N: the training step of N GPUs, batch per GPU, collectives over the catalog's links.
    """
    from devicefit.app.predict import predict as run_prediction
    from devicefit.app.predict import scale_out_for
    from devicefit.report.prediction import prediction_to_dict, render_prediction, render_ranking

    scale = scale_out_for(gpus, nodes, parallel)
    with open_store(db) as store:
        outcome = run_prediction(
            model,
            device,
            batch_size=batch,
            precision=precision,
            train=train,
            optimizer=optimizer,
            sequence_length=seq_len,
            num_threads=threads,
            catalog_files=catalog or (),
            store=store,
            use_cache=not no_cache,
            channels_last=channels_last,
            host=host,
            scale=scale,
        )
    for note in outcome.analysis_notes:
        error_console().print(f"[yellow]note:[/] {note}")
    pairs = list(zip(outcome.predictions, outcome.notes, strict=True))
    if json:
        print_json(
            {
                "model": outcome.model,
                "batch_size": outcome.batch_size,
                "precision": outcome.precision,
                "mode": outcome.mode,
                "predictions": [prediction_to_dict(p, notes=n) for p, n in pairs],
                "skipped": [{"device": d, "reason": r} for d, r in outcome.skipped],
            }
        )
    elif len(pairs) == 1:
        console().print(render_prediction(*pairs[0][:1], notes=pairs[0][1]))
    else:
        console().print(render_ranking(outcome.predictions, outcome.skipped))
        for note in (note for notes in outcome.notes for note in notes):
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
    from devicefit.app.validate import validate as run_validation
    from devicefit.devices import select_devices
    from devicefit.report.prediction import render_validation, validation_to_dict

    selected = select_devices(device)
    with open_store(db) as store, progress(ctx) as (on_case, debug):
        outcome = run_validation(
            models,
            selected,
            store,
            batch_sizes=batch or (),
            sequence_length=seq_len,
            num_threads=threads,
            on_case=on_case,
            raise_errors=debug,
        )
    if json:
        print_json(validation_to_dict(outcome))
    else:
        console().print(render_validation(outcome))
    if outcome.interrupted:
        error_console().print(
            f"interrupted: run {outcome.run_id} keeps its {outcome.num_results} finished results"
        )
        raise typer.Exit(130)
