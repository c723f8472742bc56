"""Checks the performance model on local devices: predict each model step, then time it.

The predictions come from a device model fitted to micro-benchmarks only; the steps timed here
never feed a calibration.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from devicefit.measure import steps
from devicefit.measure.bench_plan import QUICK_SEQUENCE_LENGTH
from devicefit.measure.calibration_plan import pin_threads
from devicefit.measure.case import Case
from devicefit.measure.timer import TimerConfig
from devicefit.predict.roofline import predict_step
from devicefit.records import DeviceDescription, DeviceModel, ModelCost, Result


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One step to predict and measure."""

    model: str
    batch_size: int
    train: bool
    sequence_length: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A predicted step time against the measured one.

    Attributes:
        error: ``predicted / measured - 1`` (positive: predicted slower than measured); ``None``
            when the step could not be measured.
    """

    device: str
    num_threads: int | None
    model: str
    batch_size: int
    mode: str
    predicted_s: float
    measured_s: float | None
    status: str

    @property
    def error(self) -> float | None:
        """Relative error of the prediction."""
        if not self.measured_s:
            return None
        return self.predicted_s / self.measured_s - 1.0


def validation_points(
    models: Sequence[str], batch_sizes: Sequence[int] = (), *, sequence_length: int | None = None
) -> list[Point]:
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
                Point(model=name, batch_size=batch, train=t, sequence_length=length) for t in (True, False)
            ]
    return points


#: Timing of a validated step: the measured side of every error, so steadier than a quick benchmark.
#: At least 0.2 s of warm-up (more than one call for small models: oneDNN builds its primitives and
#: the allocator settles on the first calls), then the median of at least five steps.
VALIDATION_TIMER = TimerConfig(warmup_s=0.2, min_time_s=0.2, budget_s=1.0, min_samples=5)


def plan_validation(
    device: DeviceDescription, points: Sequence[Point], *, num_threads: int | None
) -> list[Case]:
    """The timed model steps of ``points`` on ``device`` (pinned to ``num_threads`` on CPUs)."""
    from devicefit.workloads import model_info

    cases = [
        replace(
            steps.model_case(
                device=device.id,
                device_type=device.kind,
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


@functools.lru_cache(maxsize=64)
def analyze(model: str, batch_size: int, sequence_length: int | None, device_kind: str) -> ModelCost:
    """The model's analysis, cached: training and inference come from one trace."""
    from devicefit.analyze.cost import analyze_model

    return analyze_model(model, batch_size, sequence_length=sequence_length, device_kind=device_kind)


def compare(
    points: Sequence[Point],
    results: Sequence[Result],
    device_model: DeviceModel,
    *,
    memory_kind: str,
) -> list[Comparison]:
    """Pairs each point's prediction with its measured result (the results of ``plan_validation``)."""
    comparisons = []
    for point, result in zip(points, results, strict=False):
        cost = analyze(point.model, point.batch_size, point.sequence_length, memory_kind)
        mode = "train" if point.train else "infer"
        prediction = predict_step(cost, device_model, mode=mode, device_kind=memory_kind)
        comparisons.append(
            Comparison(
                device=device_model.device,
                num_threads=device_model.num_threads,
                model=point.model,
                batch_size=point.batch_size,
                mode=mode,
                predicted_s=prediction.step_time_s,
                measured_s=result.median_s if result.status == "ok" else None,
                status=result.status,
            )
        )
    return comparisons
