"""Times a callable on any device: warm-up, block-size calibration, sampling to a budget.

The method follows ``torch.utils.benchmark.Timer.blocked_autorange`` and pyperf's loop calibration.
A *block* is ``n`` back-to-back calls bracketed by a device synchronization and a clock read, so
asynchronous devices are timed when their work is done, not when it was queued. ``n`` grows until
the cost of one empty block (clock read plus synchronization) is at most ``max_overhead_fraction``
of the block; short callables therefore run many times per sample and long ones once. Samples
are then taken until the time budget is spent, or earlier once the interquartile range is small.
The trade-off: large blocks hide per-call jitter (each sample is a mean of ``n`` calls), which is
what a throughput figure wants, and what a latency distribution would not.

The timer never imports a framework: the device hands in ``synchronize`` (a no-op on CPUs) and
``clock``, so a fake device with a modelled clock can test it without hardware.
"""

from __future__ import annotations

import gc
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from devicefit.analyze.stats import quartiles, summarize
from devicefit.records import Measurement

#: Empty blocks timed to estimate the clock and synchronization overhead; their median is used.
_NUM_OVERHEAD_PROBES = 5
#: The block grows at most this much per calibration step: early steps are still warming up.
_MAX_GROWTH = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerConfig:
    """How long and how carefully to time.

    Attributes:
        warmup_s: Keep calling before timing until this much time has passed (at least one call).
        min_time_s: Sample for at least this long, however stable the samples are.
        budget_s: Stop sampling once this much time is spent (after ``min_samples``).
        min_samples: Never fewer samples than this, even past the budget.
        max_samples: Never more samples than this.
        target_relative_iqr: Stop early once IQR over median falls to this.
        max_overhead_fraction: The calibrated block is long enough that one empty block costs at
            most this fraction of it (1e-4, as in ``torch.utils.benchmark``).
        min_block_s: The calibrated block lasts at least this long.
    """

    warmup_s: float = 0.1
    min_time_s: float = 0.2
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 10_000
    target_relative_iqr: float = 0.01
    max_overhead_fraction: float = 1e-4
    min_block_s: float = 1e-3


def measure(
    fn: Callable[[], object],
    *,
    synchronize: Callable[[], None],
    clock: Callable[[], float],
    config: TimerConfig | None = None,
) -> Measurement:
    """Times ``fn`` and returns every sample with its statistics.

    Args:
        fn: The work to time; called with no arguments, its result ignored.
        synchronize: Waits until the device has finished all queued work (no-op on CPUs).
        clock: Monotonic host clock in seconds.
        config: Timing budget and thresholds; defaults to ``TimerConfig()``.

    Returns:
        A ``Measurement`` with per-iteration samples in seconds.
    """
    config = config or TimerConfig()
    # As timeit does: a collection in the middle of a block would be charged to the callable.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        num_warmup = _warm_up(fn, synchronize, clock, config.warmup_s)
        overhead_s = statistics.median(
            _time_block(fn, 0, synchronize, clock) for _ in range(_NUM_OVERHEAD_PROBES)
        )
        iterations = _calibrate_block(fn, synchronize, clock, config, overhead_s)
        samples = _sample(fn, iterations, synchronize, clock, config)
    finally:
        if gc_was_enabled:
            gc.enable()
    block_s = statistics.median(samples) * iterations
    overhead_fraction = overhead_s / block_s if block_s > 0 else math.inf
    return Measurement(
        samples_s=tuple(samples),
        iterations_per_sample=iterations,
        overhead_s=overhead_s,
        num_warmup_iterations=num_warmup,
        summary=summarize(samples, overhead_fraction=overhead_fraction),
    )


def _time_block(
    fn: Callable[[], object], iterations: int, synchronize: Callable[[], None], clock: Callable[[], float]
) -> float:
    synchronize()
    start = clock()
    for _ in range(iterations):
        fn()
    synchronize()
    return clock() - start


def _warm_up(
    fn: Callable[[], object], synchronize: Callable[[], None], clock: Callable[[], float], warmup_s: float
) -> int:
    # The first calls pay for lazy initialization, allocator growth and kernel selection.
    start = clock()
    calls = 0
    while calls == 0 or clock() - start < warmup_s:
        fn()
        synchronize()
        calls += 1
    return calls


def _calibrate_block(
    fn: Callable[[], object],
    synchronize: Callable[[], None],
    clock: Callable[[], float],
    config: TimerConfig,
    overhead_s: float,
) -> int:
    target_s = max(overhead_s / config.max_overhead_fraction, config.min_block_s)
    # A block longer than this would leave too few samples within the budget.
    longest_s = config.budget_s / config.min_samples
    iterations = 1
    while True:
        block_s = _time_block(fn, iterations, synchronize, clock)
        if block_s >= target_s or block_s >= longest_s:
            return iterations
        wanted = iterations * target_s / max(block_s, 1e-12)
        iterations = max(iterations + 1, min(iterations * _MAX_GROWTH, math.ceil(wanted)))


def _sample(
    fn: Callable[[], object],
    iterations: int,
    synchronize: Callable[[], None],
    clock: Callable[[], float],
    config: TimerConfig,
) -> list[float]:
    samples: list[float] = []
    start = clock()
    while len(samples) < config.max_samples:
        samples.append(_time_block(fn, iterations, synchronize, clock) / iterations)
        if len(samples) < config.min_samples:
            continue
        elapsed_s = clock() - start
        if elapsed_s >= config.budget_s:
            break
        if elapsed_s >= config.min_time_s and _relative_iqr(samples) <= config.target_relative_iqr:
            break
    return samples


def _relative_iqr(samples: list[float]) -> float:
    q1, median, q3 = quartiles(samples)
    return (q3 - q1) / median if median > 0 else math.inf
