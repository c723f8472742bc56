"""``crossover``: a model on each device over a sweep of batch sizes, and where each GPU overtakes the CPU.

Every batch is predicted on every device (one trace per batch and memory kind, served by the analysis
cache); ``--measure`` also times the local devices at each batch, and the crossover on local hardware
then comes from the measurements. ``--sweep width`` sweeps the model's width at one batch instead:
each width is a model of its own (``workloads/widths.py``), traced and cached as any model. The answer
is stored as a run (with the measurements, if any), which ``show`` prints again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from devicefit.advise.crossover import crossover_point, find_crossovers
from devicefit.app.predict import predict_targets, resolve
from devicefit.errors import UsageError
from devicefit.measure.case import Case
from devicefit.records import Prediction, ValidationPoint
from devicefit.records.advice import CrossoverOutcome, DeviceSweep
from devicefit.store.sqlite import Store

#: Powers of two from 1 to 256: from where launch costs dominate to where most GPUs are saturated.
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
#: The local devices and three catalog GPUs: a small inference card, a datacenter one and a large one.
DEFAULT_DEVICES = "local,nvidia-t4,nvidia-a100-80gb-sxm4,nvidia-h100-sxm5-80gb"
#: What a crossover sweeps: the batch size, or the model's width at one batch.
SWEEPS = ("batch", "width")


def parse_batch_sizes(text: str | None) -> tuple[int, ...]:
    """``1,2,4`` -> ``(1, 2, 4)``, ascending and unique; the default sweep when ``None``.

    Raises:
        UsageError: On a value that is not a positive integer.
    """
    if not text:
        return DEFAULT_BATCH_SIZES
    sizes = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        if not item.isdecimal() or int(item) < 1:
            raise UsageError(
                f"batch size {item!r} is not a positive integer", fix="Give sizes such as --batch 1,8,64"
            )
        sizes.append(int(item))
    if not sizes:
        raise UsageError("--batch names no batch size", fix="Give sizes such as --batch 1,8,64")
    return tuple(sorted(set(sizes)))


def parse_widths(text: str | None) -> tuple[int, ...] | None:
    """``128,512`` -> ``(128, 512)``, ascending and unique; ``None`` (each model's default) when empty.

    Raises:
        UsageError: On a value that is not a positive integer.
    """
    if not text:
        return None
    fix = "Give widths such as --widths 128,512,2048"
    widths = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        if not item.isdecimal() or int(item) < 1:
            raise UsageError(f"width {item!r} is not a positive integer", fix=fix)
        widths.append(int(item))
    if not widths:
        raise UsageError("--widths names no width", fix=fix)
    return tuple(sorted(set(widths)))


def crossover(
    model: str,
    devices: str = DEFAULT_DEVICES,
    *,
    batch_sizes: Sequence[int] | None = None,
    sweep: str = "batch",
    widths: Sequence[int] | None = None,
    train: bool = True,
    precision: str = "fp32",
    sequence_length: int | None = None,
    measure: bool = False,
    store: Store | None = None,
    catalog_files: Sequence[Path] = (),
    host: str | None = None,
    num_threads: int | None = None,
    use_cache: bool = True,
    on_case: Callable[[Case, int, int], None] | None = None,
    raise_errors: bool = False,
    record: bool = True,
) -> CrossoverOutcome:
    """Predicts (and with ``measure`` times) ``model`` on each device at each batch size (or width).

    Args:
        model: Zoo name, ``decoder:...``, ``file.py:factory`` or ``module:factory``.
        devices: As ``predict --device``; the local devices and three catalog GPUs by default.
        batch_sizes: The sweep, ascending (default ``DEFAULT_BATCH_SIZES``); in a width sweep, its
            one batch (default: the model's).
        sweep: ``batch``, or ``width``: the model's width at one batch (the zoo's MLP, a decoder, or a
            factory taking ``width``).
        widths: The widths of a width sweep (default ``DEFAULT_WIDTHS``).
        train: Training steps, else inference.
        precision: As ``predict``.
        sequence_length: Tokens per sample, for sequence models.
        measure: Also time the local devices at each batch (zoo models), in the stored run.
        store: Calibrations for the local devices, and where the run and its answer are stored
            (``None``: nothing is stored).
        catalog_files: User catalog files.
        host: The catalog CPU hosting the GPUs (``--host``).
        num_threads: CPU threads to predict (and measure) the local CPU at.
        use_cache: Read and write the analysis cache.
        on_case: Progress callback of the measured cases.
        raise_errors: Stop at the first failing measured case (``--debug``).
        record: Store the run and its answer in ``store``; ``False`` reads calibrations from it
            alone (the report draws a crossover without adding a run to the history).

    Raises:
        UsageError: On an unknown device or sweep, a model without a width in a width sweep, or
            ``measure`` without a local device or a zoo model.
    """
    steps = _steps(model, sweep, batch_sizes, widths)
    catalog, local, resolution = resolve(
        devices, catalog_files=catalog_files, store=store, num_threads=num_threads, host=host
    )
    targets = resolution.targets
    predicted: list[list[Prediction]] = []
    notes: list[str] = [note for t in targets for note in t.notes]
    notes += [f"{device} left out: {why}" for device, why in resolution.skipped]
    for _, name, batch in steps:
        found, analysis_notes = predict_targets(
            name,
            targets,
            batch_size=batch,
            catalog=catalog,
            local=local,
            precision=precision,
            train=train,
            sequence_length=sequence_length,
            use_cache=use_cache,
        )
        predicted.append(found)
        notes += [n for n in analysis_notes if n not in notes]
    measured: dict[tuple[str, str, int], float] = {}
    run_id = None
    if measure:
        local_ids = [t.model.device for t in targets if t.local]
        if not local_ids:
            raise UsageError(
                "--measure needs a local device among --device", fix="Add 'local' or 'cpu' to --device"
            )
        threads = {t.model.device: t.model.num_threads for t in targets if t.local}
        measured, run_id = _measure(
            model,
            local_ids,
            [(name, found[0].batch_size) for (_, name, _), found in zip(steps, predicted, strict=True)],
            train=train,
            sequence_length=sequence_length,
            store=store,
            num_threads=threads,
            on_case=on_case,
            raise_errors=raise_errors,
        )
    by_width = sweep == "width"
    sweeps = []
    for index, target in enumerate(targets):
        cpu = target.model.kind == "cpu"
        points = tuple(
            crossover_point(
                found[index],
                cpu=cpu,
                measured_s=measured.get((target.model.device, name, found[index].batch_size)),
                width=position if by_width else None,
            )
            for (position, name, _), found in zip(steps, predicted, strict=True)
        )
        link = target.model.host_link_bytes_per_s
        sweeps.append(
            DeviceSweep(
                device=target.model.device,
                device_name=target.model.name,
                cpu=cpu,
                origin=target.model.origin,
                error_band=target.model.error_band,
                points=points,
                copy_source="" if cpu or not link else f"{link / 1e9:.3g} GB/s host link",
            )
        )
    first = predicted[0][0]
    outcome = CrossoverOutcome(
        model=model.strip() if by_width else first.model,
        mode="train" if train else "infer",
        precision=first.precision,
        batch_sizes=(first.batch_size,) if by_width else tuple(b for _, _, b in steps if b is not None),
        devices=tuple(sweeps),
        crossovers=find_crossovers(sweeps),
        notes=tuple(notes),
        run_id=run_id,
        sweep=sweep,
        widths=tuple(position for position, _, _ in steps) if by_width else (),
    )
    if store is None or not record:
        return outcome
    from devicefit.app.advice_runs import record_advice

    return record_advice(store, outcome, local, run_id=run_id)


def _steps(
    model: str, sweep: str, batch_sizes: Sequence[int] | None, widths: Sequence[int] | None
) -> list[tuple[int, str, int | None]]:
    """The sweep's points as (batch or width, model name, batch).

    A batch sweep is one model at many batches; a width sweep one model name per width at one batch
    (``None``: the model's default).

    Raises:
        UsageError: On an unknown sweep, several batches in a width sweep, or a model without a width.
    """
    if sweep not in SWEEPS:
        raise UsageError(f"unknown sweep {sweep!r}", fix=f"Choose from: {', '.join(SWEEPS)}")
    if sweep == "batch":
        if widths:
            raise UsageError("--widths needs --sweep width", fix="Add --sweep width, or drop --widths")
        return [(b, model, b) for b in batch_sizes or DEFAULT_BATCH_SIZES]
    if batch_sizes and len(batch_sizes) > 1:
        raise UsageError(
            "a width sweep runs at one batch size", fix="Give one batch (--batch 64), or none for the model's"
        )
    from devicefit.workloads.widths import DEFAULT_WIDTHS, at_width

    batch = batch_sizes[0] if batch_sizes else None
    return [(w, at_width(model, w), batch) for w in widths or DEFAULT_WIDTHS]


def _measure(
    model: str,
    device_ids: Sequence[str],
    steps: Sequence[tuple[str, int]],
    *,
    train: bool,
    sequence_length: int | None,
    store: Store | None,
    num_threads: dict[str, int | None],
    on_case: Callable[[Case, int, int], None] | None,
    raise_errors: bool,
) -> tuple[dict[tuple[str, str, int], float], int | None]:
    """Times each (model name, batch) step on the local devices, as ``validate`` does; a stored run.

    Returns:
        Median step times by (device, model name, batch), and the run's id.
    """
    from devicefit.app.session import run_benchmarks
    from devicefit.app.validate import plan_validation
    from devicefit.devices import select_devices
    from devicefit.workloads import model_info

    if store is None:
        raise UsageError("--measure needs a results store", fix="Pass --db FILE or leave the default")
    try:
        model_info(model)
    except UsageError:
        raise UsageError(
            f"--measure times zoo models only, not {model!r}", fix="Drop --measure, or name a zoo model"
        ) from None
    points = [
        ValidationPoint(model=name, batch_size=b, train=train, sequence_length=sequence_length)
        for name, b in steps
    ]
    devices = select_devices(",".join(device_ids))
    planned = [
        (case, point)
        for device in devices
        for case, point in zip(
            plan_validation(device.properties(), points, num_threads=num_threads.get(device.id)),
            points,
            strict=True,
        )
    ]
    outcome = run_benchmarks(
        [case for case, _ in planned],
        devices,
        store,
        quick=True,
        label="crossover",
        on_case=on_case,
        raise_errors=raise_errors,
    )
    results = {(r.device, r.case_id): r for r in outcome.results}
    measured = {}
    for case, point in planned:
        result = results.get((case.device, case.id))
        if result is not None and result.status == "ok" and result.median_s:
            measured[(case.device, point.model, point.batch_size)] = result.median_s
    return measured, outcome.run_id
