"""``plan``: which local device or cloud instance trains (or serves) a model within a deadline and budget.

Candidates are the local devices (costed at the electricity their modelled power draws) and the cloud
instances of the price table whose GPUs ``--device`` names. Each device runs at ``--batch``, or at the
largest power of two that fits its memory, capped at ``DEFAULT_MAX_BATCH``; its step is predicted as
``predict`` does (for training on an instance of k GPUs, as ``predict --gpus k``: k GPUs data
parallel, that batch on each), and ``advise.plan`` costs and ranks the candidates.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import cast

from devicefit.advise.plan import Option, make_plan
from devicefit.app.predict import ScaleOut, predict_targets, resolve
from devicefit.catalog import load_catalog
from devicefit.catalog.prices import load_prices
from devicefit.errors import UsageError
from devicefit.predict.parallel import Layout
from devicefit.predict.targets import Target
from devicefit.records import InstancePrice, Prediction
from devicefit.records.advice import Objective, PlanConstraints, PlanOutcome
from devicefit.store.sqlite import Store

#: The largest batch a plan picks by itself: beyond it, larger batches change training (the learning
#: rate schedule must be retuned, Goyal et al. 2017) more than they speed it up on most GPUs.
DEFAULT_MAX_BATCH = 256
OBJECTIVES: tuple[Objective, ...] = ("cost", "time", "energy")
_UNITS_S = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)?\s*")


def parse_duration(text: str) -> float:
    """``36h``, ``3d``, ``90min``, ``1.5w`` -> seconds (a bare number is hours).

    Raises:
        UsageError: When ``text`` is not such a duration, or is not positive.
    """
    match = _DURATION.fullmatch(text)
    seconds = float(match.group(1)) * _UNITS_S[match.group(2) or "h"] if match else 0.0
    if not match or seconds <= 0:
        raise UsageError(
            f"deadline {text!r} is not a duration",
            fix="Give a positive number with s, min, h, d or w: 36h, 3d",
        )
    return seconds


def parse_budget(text: str) -> float:
    """``200``, ``$1,500`` -> US dollars.

    Raises:
        UsageError: When ``text`` is not a positive amount.
    """
    try:
        value = float(text.strip().lstrip("$").replace(",", ""))
    except ValueError:
        value = math.nan
    if not value > 0 or not math.isfinite(value):
        raise UsageError(f"budget {text!r} is not an amount", fix="Give a positive number of US dollars: 200")
    return value


def _instance_items(
    items: list[str], instances: Sequence[InstancePrice]
) -> tuple[list[str], list[InstancePrice]]:
    """Splits ``--device`` items into device names and named instances (``provider/instance``)."""
    by_id = {i.id: i for i in instances}
    named: list[InstancePrice] = []
    devices: list[str] = []
    for item in items:
        if "/" not in item:
            devices.append(item)
            continue
        found = by_id.get(item.lower())
        if found is None:
            raise UsageError(
                f"unknown instance {item!r}",
                fix="See 'devicefit catalog prices' for the instances, or --prices FILE",
            )
        named.append(found)
    return devices, named


def plan(
    model: str,
    *,
    samples: int | None,
    epochs: float = 1.0,
    deadline: str | None = None,
    budget: str | None = None,
    devices: str = "all",
    objective: str = "cost",
    train: bool = True,
    rate_per_s: float | None = None,
    batch_size: int | None = None,
    precision: str = "fp32",
    sequence_length: int | None = None,
    price_files: Sequence[Path] = (),
    catalog_files: Sequence[Path] = (),
    store: Store | None = None,
    host: str | None = None,
    use_cache: bool = True,
    usd_per_kwh: float | None = None,
    today: date | None = None,
) -> PlanOutcome:
    """Costs the job on each candidate and picks the best feasible one by ``objective``.

    Args:
        model: As ``predict``.
        samples: Samples per epoch (training), or to serve (inference; optional with a rate).
        epochs: Passes over the samples.
        deadline: The longest the job may take (``36h``, ``3d``).
        budget: The most it may cost, in US dollars.
        devices: ``all`` (local devices and every priced instance), or local ids, catalog GPU names
            (each priced instance that carries it) and instance ids (``aws/p4d.24xlarge``), comma-separated.
        objective: ``cost``, ``time`` or ``energy``.
        train: Training, else inference (serving, with ``rate_per_s``).
        rate_per_s: Samples per second to sustain when serving.
        batch_size: Samples per step on every device (default: each one's largest that fits, capped).
        precision: As ``predict``.
        sequence_length: Tokens per sample, for sequence models.
        price_files: User price files (``--prices``), over the packaged table and the config dir's.
        catalog_files: User catalog files.
        store: This machine's calibrations, and where the answer is stored as a run (``None``: not
            stored).
        host: The catalog CPU hosting the GPUs.
        use_cache: Read and write the analysis cache.
        usd_per_kwh: The electricity price (default: the price table's).
        today: The day prices are judged stale on.

    Raises:
        UsageError: On bad input, each naming the fix.
    """
    if objective not in OBJECTIVES:
        raise UsageError(f"unknown objective {objective!r}", fix=f"Choose from: {', '.join(OBJECTIVES)}")
    if samples is not None and samples <= 0:
        raise UsageError(
            f"--samples must be positive, not {samples}", fix="Give the samples per epoch: 1281167"
        )
    if samples is None and not (not train and rate_per_s):
        raise UsageError("plan needs --samples", fix="Give the samples per epoch (--samples 1281167)")
    if epochs <= 0:
        raise UsageError(
            f"--epochs must be positive, not {epochs:g}", fix="Give the passes over the data: 90"
        )
    if rate_per_s is not None and (rate_per_s <= 0 or train):
        raise UsageError("--rate needs --infer and a positive rate", fix="Use --infer --rate 500")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch must be positive, not {batch_size}", fix="Give samples per step: 64")
    constraints = PlanConstraints(
        samples=samples,
        epochs=epochs if train else 1.0,
        deadline_s=parse_duration(deadline) if deadline else None,
        budget_usd=parse_budget(budget) if budget else None,
        rate_per_s=rate_per_s,
        batch_size=batch_size,
        mode="train" if train else "infer",
    )
    catalog = load_catalog(catalog_files)
    prices = load_prices(price_files, catalog=catalog, today=today)
    electricity = prices.electricity
    if usd_per_kwh is not None:
        if not usd_per_kwh > 0:
            raise UsageError(
                f"--kwh-price must be positive, not {usd_per_kwh}", fix="Give US dollars per kWh: 0.15"
            )
        electricity = dataclasses.replace(
            electricity,
            usd_per_kwh=usd_per_kwh,
            source="--kwh-price",
            observed="given",
            quality="user",
            date=(today or date.today()).isoformat(),
            stale=False,
        )
    items = [i.strip() for i in devices.split(",") if i.strip()] or ["all"]
    names, named_instances = _instance_items(items, prices.instances)
    everything = any(n.lower() == "all" for n in names)
    query = ",".join(n if n.lower() != "all" else "local" for n in names)
    priced = sorted({i.device for i in (prices.instances if everything else named_instances)})
    _, local, resolution = resolve(
        query, catalog_files=catalog_files, store=store, host=host, optional=priced
    )
    if not names:
        # Only instances were named: an empty query resolves to the local devices, which were not asked for.
        resolution.targets = [t for t in resolution.targets if not t.local]
    notes = [f"{device} left out: {why}" for device, why in resolution.skipped]
    predict = functools.partial(
        predict_targets,
        model,
        catalog=catalog,
        local=local,
        precision=precision,
        train=train,
        sequence_length=sequence_length,
        use_cache=use_cache,
    )
    predictions = _at_chosen_batch(predict, resolution.targets, batch_size)
    named_devices = {i.device for i in named_instances}
    options = []
    for target, prediction in zip(resolution.targets, predictions, strict=True):
        if target.local:
            options.append(Option(prediction=prediction))
            continue
        device = target.model.device
        # A GPU named through an instance is that instance; a GPU named itself is every instance of it.
        pool = named_instances if device in named_devices and not everything else prices.instances
        carriers = [i for i in pool if i.device == device]
        if not carriers:
            notes.append(f"{device} left out: no instance in the price table carries it")
        for instance in carriers:
            scaled = prediction
            if train and instance.num_gpus > 1 and target.model.kind == "gpu":
                scale = ScaleOut(gpus=instance.num_gpus, layout=Layout(kind="ddp"))
                (scaled,), _ = predict([target], batch_size=prediction.batch_size, scale=scale)
            options.append(Option(prediction=scaled, instance=instance))
    if not options:
        raise UsageError(
            "no candidate to plan with", fix="Name local devices, priced GPUs or instances in --device"
        )
    outcome = make_plan(
        predictions[0].model,
        options,
        constraints,
        objective=cast(Objective, objective),
        electricity=electricity,
        notes=notes,
    )
    if store is None:
        return outcome
    from devicefit.app.advice_runs import record_advice

    return record_advice(store, outcome, local)


def _largest_power_of_two(limit: int) -> int:
    return 1 << (limit.bit_length() - 1)


def _at_chosen_batch(
    predict: Callable[..., tuple[list[Prediction], list[str]]],
    targets: Sequence[Target],
    batch_size: int | None,
) -> list[Prediction]:
    """Each target's prediction at ``batch_size``, or at its largest power-of-two batch that fits.

    The model's default batch is predicted first to learn each device's largest batch; targets that
    settle on the same batch share its trace. A device where not even one sample fits is predicted at
    batch 1 (and does not fit).
    """
    if batch_size is not None:
        return predict(targets, batch_size=batch_size)[0]
    first, _ = predict(targets, batch_size=None)
    chosen = []
    for p in first:
        largest = DEFAULT_MAX_BATCH if p.max_batch_size is None else min(p.max_batch_size, DEFAULT_MAX_BATCH)
        chosen.append(1 << (largest.bit_length() - 1) if largest >= 1 else 1)
    results: list[Prediction | None] = [
        p if p.batch_size == b else None for p, b in zip(first, chosen, strict=True)
    ]
    for batch in sorted(set(chosen)):
        indices = [i for i, b in enumerate(chosen) if b == batch and results[i] is None]
        if indices:
            found, _ = predict([targets[i] for i in indices], batch_size=batch)
            for i, p in zip(indices, found, strict=True):
                results[i] = p
    return [p for p in results if p is not None]
