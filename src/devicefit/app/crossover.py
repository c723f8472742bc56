"""``crossover``: a model on each device over a sweep of batch sizes, and where each GPU overtakes the CPU.

Every batch is predicted on every device (one trace per batch and memory kind, served by the analysis
cache); ``--measure`` also times the local devices at each batch, in a stored run, and the crossover
on local hardware then comes from the measurements.
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


def crossover(
    model: str,
    devices: str = DEFAULT_DEVICES,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
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
) -> CrossoverOutcome:
    """Predicts (and with ``measure`` times) ``model`` on each device at each batch size.

    Args:
        model: Zoo name, ``decoder:...``, ``file.py:factory`` or ``module:factory``.
        devices: As ``predict --device``; the local devices and three catalog GPUs by default.
        batch_sizes: The sweep, ascending.
        train: Training steps, else inference.
        precision: As ``predict``.
        sequence_length: Tokens per sample, for sequence models.
        measure: Also time the local devices at each batch (zoo models), in a stored run.
        store: Calibrations for the local devices, and where a measured run goes.
        catalog_files: User catalog files.
        host: The catalog CPU hosting the GPUs (``--host``).
        num_threads: CPU threads to predict (and measure) the local CPU at.
        use_cache: Read and write the analysis cache.
        on_case: Progress callback of the measured cases.
        raise_errors: Stop at the first failing measured case (``--debug``).

    Raises:
        UsageError: On an unknown device, or ``measure`` without a local device or a zoo model.
    """
    catalog, local, resolution = resolve(
        devices, catalog_files=catalog_files, store=store, num_threads=num_threads, host=host
    )
    targets = resolution.targets
    by_batch: dict[int, list[Prediction]] = {}
    notes: list[str] = [note for t in targets for note in t.notes]
    notes += [f"{device} left out: {why}" for device, why in resolution.skipped]
    for batch in batch_sizes:
        by_batch[batch], analysis_notes = predict_targets(
            model,
            targets,
            batch_size=batch,
            catalog=catalog,
            local=local,
            precision=precision,
            train=train,
            sequence_length=sequence_length,
            use_cache=use_cache,
        )
        notes += [n for n in analysis_notes if n not in notes]
    measured: dict[tuple[str, int], float] = {}
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
            batch_sizes,
            train=train,
            sequence_length=sequence_length,
            store=store,
            num_threads=threads,
            on_case=on_case,
            raise_errors=raise_errors,
        )
    sweeps = []
    for index, target in enumerate(targets):
        cpu = target.model.kind == "cpu"
        points = tuple(
            crossover_point(by_batch[b][index], cpu=cpu, measured_s=measured.get((target.model.device, b)))
            for b in batch_sizes
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
    first = by_batch[batch_sizes[0]][0]
    return CrossoverOutcome(
        model=first.model,
        mode="train" if train else "infer",
        precision=first.precision,
        batch_sizes=tuple(batch_sizes),
        devices=tuple(sweeps),
        crossovers=find_crossovers(sweeps),
        notes=tuple(notes),
        run_id=run_id,
    )


def _measure(
    model: str,
    device_ids: Sequence[str],
    batch_sizes: Sequence[int],
    *,
    train: bool,
    sequence_length: int | None,
    store: Store | None,
    num_threads: dict[str, int | None],
    on_case: Callable[[Case, int, int], None] | None,
    raise_errors: bool,
) -> tuple[dict[tuple[str, int], float], int | None]:
    """Times the model's steps on the local devices at each batch, as ``validate`` does; a stored run."""
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
        ValidationPoint(model=model, batch_size=b, train=train, sequence_length=sequence_length)
        for b in batch_sizes
    ]
    devices = select_devices(",".join(device_ids))
    planned = [
        (case, point.batch_size)
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
    for case, batch in planned:
        result = results.get((case.device, case.id))
        if result is not None and result.status == "ok" and result.median_s:
            measured[(case.device, batch)] = result.median_s
    return measured, outcome.run_id
