"""Runs benchmark cases on their devices, turning each into a ``Result`` whatever happens to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from devicefit.devices.base import Device, SimulatedDevice
from devicefit.errors import DevicefitError
from devicefit.measure.case import Case
from devicefit.measure.timer import TimerConfig, measure
from devicefit.records import EnergyReading, Measurement, Result, ResultStatus
from devicefit.records.vocabulary import HOST_LINK_BENCHMARKS

#: Messages after which a CUDA context is unusable: nothing more may run in this process.
_FATAL_DEVICE_ERRORS = ("illegal memory access", "device-side assert", "unspecified launch failure")
#: Messages that mean the build or device lacks the operation, not that it failed.
_UNSUPPORTED = ("not implemented for", "no kernel image", "not supported", "notimplementederror")


@runtime_checkable
class MemoryProbe(Protocol):
    """A case callable that can measure the peak memory of one more call of itself."""

    def peak_memory_bytes(self, device: Device) -> int | None:
        """Runs one more call and returns its peak memory in bytes, or ``None`` if unknown."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerConfig:
    """How much time each case gets.

    Attributes:
        timer: Timing budget per case.
        max_iteration_s: A sweep stops before a case whose one call would take longer than this
            (estimated from the previous case of the sweep).
        memory_headroom: Cases needing more than this fraction of free memory are skipped: on
            CPUs an allocation that fails can bring in the out-of-memory killer.
    """

    timer: TimerConfig = field(default_factory=TimerConfig)
    max_iteration_s: float = 1.0
    memory_headroom: float = 0.8


#: ``--quick``: a short budget per case, so the whole micro suite takes under a minute on 2 cores.
QUICK = RunnerConfig(
    timer=TimerConfig(warmup_s=0.02, min_time_s=0.05, budget_s=0.25, min_samples=5), max_iteration_s=0.1
)
FULL = RunnerConfig()


def is_out_of_memory(error: BaseException) -> bool:
    """Tells whether ``error`` is a recoverable out-of-memory failure (CUDA, MPS or CPU allocator)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def _classify(error: Exception) -> ResultStatus:
    message = f"{type(error).__name__} {error}".lower()
    if any(text in message for text in _FATAL_DEVICE_ERRORS):
        raise DevicefitError(
            f"the device failed beyond recovery ({str(error).splitlines()[0]})",
            fix="Results measured so far are kept; restart devicefit to measure again",
        ) from error
    if is_out_of_memory(error):
        return "oom"
    if any(text in message for text in _UNSUPPORTED):
        return "unsupported"
    return "error"


def _value(case: Case, measurement: Measurement) -> float:
    median = measurement.summary.median_s
    if case.unit == "s":
        return median / case.calls_per_iteration
    if case.unit == "FLOP/s":
        return (case.flops_per_iteration or 0.0) / median
    if case.unit == "B/s":
        return (case.bytes_per_iteration or 0.0) / median
    return float(case.size or 0) / median


def _result(
    case: Case,
    *,
    status: ResultStatus = "ok",
    error: str | None = None,
    value: float | None = None,
    measurement: Measurement | None = None,
    peak_memory_bytes: int | None = None,
    energy: EnergyReading | None = None,
) -> Result:
    return Result(
        device=case.device,
        benchmark=case.benchmark,
        case_id=case.id,
        unit=case.unit,
        dtype=case.dtype,
        size=case.size,
        shape=case.shape,
        num_threads=case.num_threads,
        pinned=case.pinned,
        flags=case.flags,
        flops_per_iteration=case.flops_per_iteration,
        bytes_per_iteration=case.bytes_per_iteration,
        peak=case.peak,
        model=case.model,
        batch_size=case.size if case.model else None,
        peak_memory_bytes=peak_memory_bytes,
        status=status,
        error=error,
        value=value,
        measurement=measurement,
        energy=energy,
        num_processes=case.num_processes,
    )


def build_call(case: Case, device: Device) -> Callable[[], object]:
    """Returns the callable that runs one iteration of ``case`` on ``device``.

    A real device runs the case's own code, whose inputs are allocated here; a simulated one is fed
    the work the case declares.
    """
    if isinstance(device, SimulatedDevice):
        return device.simulate(
            flops=case.flops_per_iteration or 0.0,
            bytes_moved=case.bytes_per_iteration or 0.0,
            memory_bytes=case.memory_bytes,
            dtype=case.dtype or "fp32",
            link=case.benchmark in HOST_LINK_BENCHMARKS,
        )
    return case.build()


def run_case(case: Case, device: Device, timer: TimerConfig, *, raise_errors: bool = False) -> Result:
    """Builds, times and meters one case; failures become results with a status, not exceptions.

    The device's energy meter reads over the whole timing (warm-up, block calibration, samples):
    its average power is the case's, and the energy of one iteration is that power times the
    median time (``Result.energy_j``). Building the inputs is outside the window.

    Args:
        case: What to run.
        device: Where to run it.
        timer: The timing budget.
        raise_errors: Re-raise unexpected errors (``--debug``) instead of recording them.

    Raises:
        DevicefitError: When the device is left unusable (an illegal memory access).
    """
    try:
        if case.evaluate is not None:
            with case.context():
                return _result(case, value=case.evaluate(device))
        with case.context():
            fn = build_call(case, device)
            device.synchronize()
            stop_meter = device.energy_meter().start()
            try:
                measurement = measure(fn, synchronize=device.synchronize, clock=device.now_s, config=timer)
            finally:
                energy = stop_meter()
            peak_memory = fn.peak_memory_bytes(device) if isinstance(fn, MemoryProbe) else None
    except Exception as error:
        status = _classify(error)
        if status == "oom":
            device.release_memory()
        elif status == "error" and raise_errors:
            raise
        return _result(case, status=status, error=str(error).strip().splitlines()[0][:300])
    return _result(
        case,
        value=_value(case, measurement),
        measurement=measurement,
        peak_memory_bytes=peak_memory,
        energy=energy,
    )


def _skip_reason(case: Case, device: Device, config: RunnerConfig, previous: Result | None) -> str | None:
    available = device.available_memory_bytes()
    if available is not None and case.memory_bytes > config.memory_headroom * available:
        return f"needs {case.memory_bytes / 2**30:.2f} GiB; {available / 2**30:.2f} GiB free"
    if previous is None:
        return None
    if previous.status != "ok" or previous.median_s is None:
        return f"a smaller case of this sweep ended {previous.status}"
    previous_work = previous.flops_per_iteration or previous.bytes_per_iteration or float(previous.size or 1)
    estimate_s = previous.median_s * case.work / previous_work
    limit_s = case.max_iteration_s or config.max_iteration_s
    if estimate_s > limit_s:
        return f"one call would take about {estimate_s:.2g} s (limit {limit_s:g} s)"
    return None


def execute(
    cases: Sequence[Case],
    devices: Mapping[str, Device],
    config: RunnerConfig,
    *,
    on_case: Callable[[Case, int], None] | None = None,
    raise_errors: bool = False,
) -> Iterator[Result]:
    """Runs ``cases`` in order, yielding each result as soon as it is measured.

    Args:
        cases: Cases to run; each names its device.
        devices: Devices by id.
        config: Budgets and limits.
        on_case: Called before each case starts with the number of cases done (progress display).
        raise_errors: Re-raise unexpected errors instead of recording them.
    """
    last_in_sweep: dict[tuple[str, str], Result] = {}
    for num_done, case in enumerate(cases):
        if on_case:
            on_case(case, num_done)
        device = devices[case.device]
        previous = last_in_sweep.get((case.device, case.sweep)) if case.sweep else None
        reason = _skip_reason(case, device, config, previous)
        if reason:
            result = _result(case, status="skipped", error=reason)
        else:
            result = run_case(case, device, case.timer or config.timer, raise_errors=raise_errors)
        if case.sweep:
            last_in_sweep[(case.device, case.sweep)] = result
        yield result
