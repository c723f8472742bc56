"""``validate``: predict each model step on local devices, then time it: the model's error on this machine.

The predictions come from a device model fitted to micro-benchmarks only; the steps timed here
never feed a calibration.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import replace

from devicefit.analyze.stats import error_summary
from devicefit.app.session import run_benchmarks
from devicefit.catalog import load_catalog
from devicefit.devices.base import Device
from devicefit.errors import UsageError
from devicefit.measure import steps
from devicefit.measure.bench_plan import QUICK_SEQUENCE_LENGTH
from devicefit.measure.calibration_plan import pin_threads
from devicefit.measure.case import Case
from devicefit.measure.timer import TimerConfig
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import Target, local_target
from devicefit.records import (
    Comparison,
    DeviceDescription,
    DeviceModel,
    MemoryKind,
    ModelCost,
    Result,
    ValidationOutcome,
    ValidationPoint,
)
from devicefit.store.sqlite import Store

#: Timing of a validated step: the measured side of every error, so steadier than a quick benchmark.
#: At least 0.2 s of warm-up (more than one call for small models: oneDNN builds its primitives and
#: the allocator settles on the first calls), then the median of at least five steps.
VALIDATION_TIMER = TimerConfig(warmup_s=0.2, min_time_s=0.2, budget_s=1.0, min_samples=5)


def validation_points(
    models: Sequence[str], batch_sizes: Sequence[int] = (), *, sequence_length: int | None = None
) -> list[ValidationPoint]:
    """Training and inference of each model at each batch size (each model's own sweep if none given).

    Sequence models run at ``sequence_length``, else at most ``QUICK_SEQUENCE_LENGTH`` tokens, so a
    check of the whole zoo stays within minutes on a laptop CPU.
    """
    from devicefit.workloads import model_info

    points = []
    for name in models:
        info = model_info(name)
        length = sequence_length or (
            min(info.sequence_length, QUICK_SEQUENCE_LENGTH) if info.sequence_length else None
        )
        for batch in batch_sizes or info.benchmark_batch_sizes or (info.default_batch_size,):
            points += [
                ValidationPoint(model=name, batch_size=batch, train=t, sequence_length=length)
                for t in (True, False)
            ]
    return points


def plan_validation(
    device: DeviceDescription, points: Sequence[ValidationPoint], *, num_threads: int | None
) -> list[Case]:
    """The timed model steps of ``points`` on ``device`` (pinned to ``num_threads`` on CPUs)."""
    from devicefit.workloads import model_info

    cases = [
        replace(
            steps.model_case(
                device=device.id,
                device_kind=device.kind,
                info=model_info(p.model),
                batch_size=p.batch_size,
                train=p.train,
                sequence_length=p.sequence_length,
            ),
            timer=VALIDATION_TIMER,
            max_iteration_s=600.0,
        )
        for p in points
    ]
    return pin_threads(cases, num_threads) if num_threads else cases


def analyze(model: str, batch_size: int, sequence_length: int | None, memory_kind: MemoryKind) -> ModelCost:
    """The model's analysis, through the disk cache: training and inference come from one trace."""
    from devicefit.analyze.cache import analyze_model_cached

    cost, _ = analyze_model_cached(
        model, batch_size, sequence_length=sequence_length, memory_kind=memory_kind
    )
    return cost


def compare(
    point: ValidationPoint, result: Result | None, device_model: DeviceModel, *, memory_kind: MemoryKind
) -> Comparison:
    """A point's prediction beside its measured result (``None``: the run ended before it)."""
    cost = analyze(point.model, point.batch_size, point.sequence_length, memory_kind)
    mode = "train" if point.train else "infer"
    prediction = predict_step(cost, device_model, mode=mode, memory_kind=memory_kind)
    return Comparison(
        device=device_model.device,
        num_threads=device_model.num_threads,
        model=point.model,
        batch_size=point.batch_size,
        mode=mode,
        predicted_s=prediction.step_time_s,
        measured_s=result.median_s if result is not None and result.status == "ok" else None,
        status="not run" if result is None else result.status,
    )


def calibrated_target(device: Device, store: Store, *, num_threads: int | None) -> Target:
    """The device's stored calibration on this host; an error naming the fix when it has none."""
    described = device.properties()
    stored = store.calibrations(described.id, device_name=described.name, hostname=socket.gethostname())
    target = local_target(described, load_catalog(), stored, num_threads=num_threads)
    if target.model.origin == "defaults":
        raise UsageError(
            f"{device.id} has no calibration on this machine",
            fix=f"Run 'devicefit calibrate --device {device.id}' first",
        )
    return target


def validate(
    models: Sequence[str] | None,
    devices: Sequence[Device],
    store: Store,
    *,
    batch_sizes: Sequence[int] = (),
    sequence_length: int | None = None,
    num_threads: int | None = None,
    on_case: Callable[[Case, int, int], None] | None = None,
    raise_errors: bool = False,
) -> ValidationOutcome:
    """Predicts, then times, each model's steps on each calibrated local device, in a new stored run.

    Each measured result is paired with its prediction by device and case id, so a run cut short by
    Ctrl-C pairs what finished and marks the rest ``not run``. ``models`` defaults to the zoo's
    benchmarked models.

    Raises:
        UsageError: When a device has no calibration on this host.
    """
    from devicefit.workloads import list_models

    names = list(models or [i.name for i in list_models() if i.benchmark_batch_sizes])
    points = validation_points(names, batch_sizes, sequence_length=sequence_length)
    selected = tuple(d for d in devices if d.kind != "fake")
    targets = [calibrated_target(d, store, num_threads=num_threads) for d in selected]
    planned = [
        (target, point, case)
        for device, target in zip(selected, targets, strict=True)
        for point, case in zip(
            points,
            plan_validation(device.properties(), points, num_threads=target.model.num_threads),
            strict=True,
        )
    ]
    outcome = run_benchmarks(
        [case for _, _, case in planned],
        selected,
        store,
        quick=True,
        label="validate",
        on_case=on_case,
        raise_errors=raise_errors,
    )
    measured = {(r.device, r.case_id): r for r in outcome.results}
    comparisons = tuple(
        compare(point, measured.get((case.device, case.id)), target.model, memory_kind=target.memory_kind)
        for target, point, case in planned
    )
    summary = error_summary([c.error for c in comparisons if c.error is not None])
    return ValidationOutcome(
        run_id=outcome.run_id,
        comparisons=comparisons,
        interrupted=outcome.interrupted,
        num_results=len(outcome.results),
        num_errors=int(summary["n"] or 0),
        median_abs_error=summary["median_abs_error"],
        p90_abs_error=summary["p90_abs_error"],
    )
