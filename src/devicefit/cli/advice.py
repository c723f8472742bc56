"""``devicefit crossover`` and ``plan``: where the CPU stops winning, and which device or instance to use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devicefit.cli.bench import progress
from devicefit.cli.catalog import CatalogOption
from devicefit.cli.output import DbOption, JsonOption, NoCacheOption, PrecisionOption, console, print_json
from devicefit.store.sqlite import open_store

ModelArgument = Annotated[
    str, typer.Argument(help="Zoo name, decoder:key=value,..., file.py:factory, module:factory.")
]
TrainOption = Annotated[bool, typer.Option("--train/--infer", help="Training steps, or inference.")]
SeqLenOption = Annotated[int | None, typer.Option(help="Tokens per sample, for sequence models.")]
HostOption = Annotated[
    str | None,
    typer.Option(help="The catalog CPU that launches the GPUs' work (default: each GPU's usual host)."),
]


def crossover(
    ctx: typer.Context,
    model: ModelArgument,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            "-d",
            help="local, all, local ids and catalog names, comma-separated "
            "(default: local, T4, A100 80GB SXM4, H100 SXM5).",
        ),
    ] = "local,nvidia-t4,nvidia-a100-80gb-sxm4,nvidia-h100-sxm5-80gb",
    batch: Annotated[
        str | None,
        typer.Option(
            help="Batch sizes, comma-separated (default: 1,2,4,...,256); "
            "one with --sweep width (default: the model's)."
        ),
    ] = None,
    sweep: Annotated[
        str,
        typer.Option(
            help="batch, or width: the model's width at one batch (the zoo's mlp, a decoder such as "
            "gpt2 or decoder:..., or a file.py:factory taking width)."
        ),
    ] = "batch",
    widths: Annotated[
        str | None,
        typer.Option(help="Widths of --sweep width, comma-separated (default: 128,256,...,4096)."),
    ] = None,
    train: TrainOption = True,
    measure: Annotated[
        bool, typer.Option("--measure", help="Also time the local devices at each batch (a stored run).")
    ] = False,
    precision: PrecisionOption = "fp32",
    seq_len: SeqLenOption = None,
    host: HostOption = None,
    catalog: CatalogOption = None,
    no_cache: NoCacheOption = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Where each GPU overtakes the CPU, by batch or model width, and why (launch-, copy-, compute-bound...).

    The answer is stored as a run, which 'devicefit show' prints again.
    """
    from devicefit.app.crossover import crossover as run_crossover
    from devicefit.app.crossover import parse_batch_sizes, parse_widths
    from devicefit.report.advice import crossover_to_dict, render_crossover

    sizes = parse_batch_sizes(batch) if batch else None
    with open_store(db) as store, progress(ctx) as (on_case, debug):
        outcome = run_crossover(
            model,
            device,
            batch_sizes=sizes,
            sweep=sweep,
            widths=parse_widths(widths),
            train=train,
            precision=precision,
            sequence_length=seq_len,
            measure=measure,
            store=store,
            catalog_files=catalog or (),
            host=host,
            use_cache=not no_cache,
            on_case=on_case,
            raise_errors=debug,
        )
    if json:
        print_json(crossover_to_dict(outcome))
    else:
        console().print(render_crossover(outcome))


def plan(
    model: ModelArgument,
    samples: Annotated[int | None, typer.Option(help="Samples per epoch (to serve, with --infer).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the samples.")] = 1.0,
    deadline: Annotated[
        str | None, typer.Option(help="The longest the job may take: 36h, 3d, 90min.")
    ] = None,
    budget: Annotated[str | None, typer.Option(help="The most it may cost, in US dollars.")] = None,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            "-d",
            help="all (local devices and every priced instance), or local ids, catalog GPU names and "
            "instance ids (aws/p4d.24xlarge), comma-separated.",
        ),
    ] = "all",
    objective: Annotated[str, typer.Option(help="What the pick minimizes: cost, time or energy.")] = "cost",
    train: TrainOption = True,
    rate: Annotated[float | None, typer.Option(help="Samples per second to sustain, with --infer.")] = None,
    batch: Annotated[
        int | None,
        typer.Option(help="Samples per step (default: each device's largest that fits, at most 256)."),
    ] = None,
    prices: Annotated[
        list[Path] | None,
        typer.Option("--prices", help="A price file over the packaged prices (repeatable)."),
    ] = None,
    kwh_price: Annotated[
        float | None,
        typer.Option("--kwh-price", help="Electricity in US dollars per kWh (default: prices.toml's)."),
    ] = None,
    top: Annotated[int, typer.Option(help="Candidates shown in the table (all in --json).")] = 15,
    precision: PrecisionOption = "fp32",
    seq_len: SeqLenOption = None,
    host: HostOption = None,
    catalog: CatalogOption = None,
    no_cache: NoCacheOption = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Which local device or cloud instance meets a deadline and budget at least cost, time or energy.

    The answer is stored as a run, which 'devicefit show' prints again.
    """
    from devicefit.app.plan import plan as run_plan
    from devicefit.report.advice import plan_to_dict, render_plan

    with open_store(db) as store:
        outcome = run_plan(
            model,
            samples=samples,
            epochs=epochs,
            deadline=deadline,
            budget=budget,
            devices=device,
            objective=objective,
            train=train,
            rate_per_s=rate,
            batch_size=batch,
            precision=precision,
            sequence_length=seq_len,
            price_files=prices or (),
            catalog_files=catalog or (),
            store=store,
            host=host,
            use_cache=not no_cache,
            usd_per_kwh=kwh_price,
        )
    if json:
        print_json(plan_to_dict(outcome))
    else:
        console().print(render_plan(outcome, limit=top))
