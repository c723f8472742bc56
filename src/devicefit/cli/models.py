"""``devicefit models`` and ``profile``: the workload zoo, and a model's compute and memory needs."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devicefit.cli.output import (
    ChannelsLastOption,
    JsonOption,
    NoCacheOption,
    PrecisionOption,
    console,
    error_console,
    print_json,
)
from devicefit.errors import UsageError
from devicefit.report.models import render_models, render_profile

if TYPE_CHECKING:
    from devicefit.records import ModelCost

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1e3,
    "kb": 1e3,
    "m": 1e6,
    "mb": 1e6,
    "g": 1e9,
    "gb": 1e9,
    "t": 1e12,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str) -> float:
    """``24GiB``, ``80GB``, ``512MiB``, ``1e9`` -> bytes (GB = 1e9, GiB = 2**30)."""
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise UsageError(f"cannot read the size {text!r}", fix="Write it like 24GiB, 80GB or 512MiB")
    try:
        return float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    except ValueError:
        raise UsageError(
            f"cannot read the size {text!r}", fix="Write it like 24GiB, 80GB or 512MiB"
        ) from None


def models(
    pattern: Annotated[str, typer.Argument(help="Shell-style filter: 'resnet*', '*gpt*'.")] = "*",
    json: JsonOption = False,
) -> None:
    """List the reference models: architectures faithful to their papers, random weights, synthetic inputs."""
    from devicefit.app.profile import parameter_counts
    from devicefit.workloads import list_models

    infos = list_models(pattern)
    counts = parameter_counts([i.name for i in infos])
    if json:
        print_json(
            {
                "models": [
                    {**dataclasses.asdict(i), "num_parameters": n} for i, n in zip(infos, counts, strict=True)
                ]
            }
        )
        return
    console().print(
        render_models([(i.name, i.family, n, i.description) for i, n in zip(infos, counts, strict=True)])
    )


def profile(
    model: Annotated[
        str, typer.Argument(help="Zoo name, decoder:key=value,..., file.py:factory, module:factory.")
    ],
    batch: Annotated[int | None, typer.Option(help="Samples per step (default: the model's).")] = None,
    precision: PrecisionOption = "fp32",
    optimizer: Annotated[
        str | None, typer.Option(help="sgd, sgd-momentum, adam, adamw (default: the model's).")
    ] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per sample, for sequence models.")] = None,
    target: Annotated[
        str, typer.Option("--for", help="Device kind the memory is for: cuda, cpu or mps.")
    ] = "cuda",
    memory: Annotated[
        str | None, typer.Option(help="Also find the largest batch that trains in this much: 24GiB.")
    ] = None,
    layers: Annotated[int, typer.Option(help="Show the N costliest layers; 0 for all.")] = 25,
    channels_last: ChannelsLastOption = False,
    no_cache: NoCacheOption = False,
    json: JsonOption = False,
) -> None:
    """Count a model's parameters, FLOPs, bytes and memory on fake tensors: no real memory is used."""
    from devicefit.app.profile import profile as run_profile

    outcome = run_profile(
        model,
        batch,
        precision=precision,
        optimizer=optimizer,
        sequence_length=seq_len,
        memory_kind=target,
        memory_bytes=parse_size(memory) if memory else None,
        use_cache=not no_cache,
        channels_last=channels_last,
    )
    for note in outcome.notes:
        error_console().print(f"[yellow]note:[/] {note}")
    fitting = None if outcome.memory_bytes is None else (outcome.memory_bytes, outcome.max_batch_size or 0)
    if json:
        print_json(_profile_json(outcome.cost, fitting))
    else:
        console().print(render_profile(outcome.cost, max_batch=fitting, layers=layers))


def _profile_json(cost: ModelCost, fitting: tuple[float, int] | None) -> dict[str, Any]:
    data = dataclasses.asdict(cost)
    for internal in ("ops", "infer_ops", "traced_memory"):
        data.pop(internal)
    data["train_flops"] = cost.train_flops
    data["forward_intensity"] = cost.forward_intensity
    data["memory"] = dataclasses.asdict(cost.memory)
    if fitting:
        data["max_batch_size"] = {"memory_bytes": fitting[0], "batch_size": fitting[1]}
    return data
