"""What a watch's samples say: GPU idle share and when, memory headroom, caps, host memory, CPU use.

Each finding carries its evidence (the numbers behind it) and whether it is a problem. Everything
here is arithmetic on samples, so recorded GPU runs replay through it without a GPU.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from devicefit.records import StepRate, WatchFinding, WatchSample

#: Below this utilization a GPU sample counts as idle (NVML's figure is a share of the sample
#: period with some kernel running; a few percent is bookkeeping, not work).
IDLE_PERCENT = 5.0
#: An idle share above this is reported as a problem: a fifth of the time is worth fixing.
IDLE_PROBLEM_SHARE = 0.2
#: Idle gaps between busy spells, at least this many, make the pattern "between steps".
MIN_GAPS = 3
#: Less memory headroom than this risks out-of-memory errors on the next larger batch or sequence.
LOW_HEADROOM = 0.05
#: A power or thermal cap active in more than this share of samples is reported.
CAP_SHARE = 0.1
#: Host memory growth from the first quarter to the last beyond both of these reads as a leak.
GROWTH_FRACTION = 0.25
GROWTH_BYTES = 256 * 2**20
#: A job slower than twice the prediction is reported: devicefit's expected errors are well inside
#: 2x, so beyond it the job does work the model does not (data loading, logging, synchronization).
SLOW_RATIO = 2.0

_GIB = 2**30


def _gib(num_bytes: float) -> str:
    # GiB from one GiB up, MiB below (a small job's memory reads 0.01 GiB otherwise).
    return f"{num_bytes / _GIB:.2f} GiB" if num_bytes >= _GIB else f"{num_bytes / 2**20:.0f} MiB"


def _spells(idle: Sequence[bool]) -> list[tuple[bool, int, int]]:
    """Runs of equal values: (idle, first index, last index)."""
    runs: list[tuple[bool, int, int]] = []
    for i, value in enumerate(idle):
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1], i)
        else:
            runs.append((value, i, i))
    return runs


def _cpu_finding(samples: Sequence[WatchSample], num_cores: int) -> WatchFinding:
    cpu = [s.cpu_percent for s in samples]
    mean = statistics.fmean(cpu)
    cores = (
        [statistics.fmean(c) for c in zip(*(s.core_percents for s in samples), strict=False)]
        if samples
        else []
    )
    busy = mean >= 90.0 * num_cores
    return WatchFinding(
        finding=f"CPU: the job used {mean:.0f}% of one core on average "
        f"({mean / 100:.2g} of {num_cores} cores)" + ("; every core is busy: CPU-bound" if busy else ""),
        evidence=f"peak {max(cpu):.0f}% of one core; each core of the machine averaged "
        + ", ".join(f"{c:.0f}%" for c in cores),
    )


def _gpu_findings(samples: Sequence[WatchSample], index: int) -> list[WatchFinding]:
    readings = [(s.elapsed_s, g) for s in samples for g in s.gpus if g.index == index]
    # From the first sample the job held memory on this GPU: before that it was starting up.
    first = next((i for i, (_, g) in enumerate(readings) if g.tree_memory_bytes), None)
    if first is None:
        return []
    readings = readings[first:]
    times = [t for t, _ in readings]
    idle = [(g.utilization_percent or 0.0) < IDLE_PERCENT for _, g in readings]
    share = sum(idle) / len(idle)
    runs = _spells(idle)
    gaps = [(runs[i][1], runs[i][2]) for i in range(1, len(runs) - 1) if runs[i][0]]
    found = []
    if share > IDLE_PROBLEM_SHARE and len(gaps) >= MIN_GAPS:
        lengths = [
            times[end] - times[start] + (times[1] - times[0] if len(times) > 1 else 0) for start, end in gaps
        ]
        found.append(
            WatchFinding(
                finding=f"GPU {index} idle {share:.0%} of the time, in {len(gaps)} gaps between busy spells: "
                "input-bound (data loading or host work between steps)",
                evidence=f"gaps of {statistics.median(lengths):.2g} s (median), the first at "
                f"{times[gaps[0][0]]:.1f} s; utilization below {IDLE_PERCENT:g}% counts as idle",
                problem=True,
            )
        )
    elif share > IDLE_PROBLEM_SHARE:
        spans = ", ".join(f"{times[r[1]]:.1f}-{times[r[2]]:.1f} s" for r in runs if r[0])
        found.append(
            WatchFinding(
                finding=f"GPU {index} idle {share:.0%} of the time while the job held it",
                evidence=f"idle from {spans}",
                problem=True,
            )
        )
    else:
        mean = statistics.fmean(g.utilization_percent or 0.0 for _, g in readings)
        found.append(
            WatchFinding(
                finding=f"GPU {index} busy {1 - share:.0%} of the time",
                evidence=f"mean utilization {mean:.0f}% (NVML: share of time some kernel ran, "
                "not how well it used the GPU)",
            )
        )
    used = [g.memory_used_bytes for _, g in readings if g.memory_used_bytes is not None]
    total = next((g.memory_total_bytes for _, g in readings if g.memory_total_bytes), None)
    held = max(g.tree_memory_bytes or 0 for _, g in readings)
    if used and total:
        headroom = 1 - max(used) / total
        found.append(
            WatchFinding(
                finding=f"GPU {index} memory: peak {_gib(max(used))} of {_gib(total)}, "
                f"{headroom:.0%} headroom",
                evidence=f"the job's processes held up to {_gib(held)}",
                problem=headroom < LOW_HEADROOM,
            )
        )
    for kind, names in (
        ("power", ("sw_power_cap", "hw_power_brake")),
        ("thermal", ("sw_thermal_slowdown", "hw_thermal_slowdown", "hw_slowdown")),
    ):
        capped = [g for _, g in readings if set(g.throttle_reasons) & set(names)]
        if len(capped) > CAP_SHARE * len(readings):
            reasons = sorted({r for g in capped for r in g.throttle_reasons if r in names})
            power = [g.power_w for g in capped if g.power_w is not None]
            limit = next((g.power_limit_w for g in capped if g.power_limit_w), None)
            evidence = f"{', '.join(reasons)} in {len(capped)} of {len(readings)} samples"
            if power and limit:
                evidence += f"; power {statistics.fmean(power):.0f} W of a {limit:.0f} W limit"
            found.append(
                WatchFinding(
                    finding=f"GPU {index} clocks held down by a {kind} cap "
                    f"{len(capped) / len(readings):.0%} of the time",
                    evidence=evidence,
                    problem=True,
                )
            )
    return found


def _host_memory_finding(samples: Sequence[WatchSample]) -> WatchFinding:
    rss = [s.rss_bytes for s in samples]
    quarter = max(1, len(rss) // 4)
    early, late = statistics.median(rss[:quarter]), statistics.median(rss[-quarter:])
    grew = late - early
    duration_min = (samples[-1].elapsed_s - samples[0].elapsed_s) / 60 if len(samples) > 1 else 0.0
    if early > 0 and grew > GROWTH_FRACTION * early and grew > GROWTH_BYTES:
        rate = f" (+{grew / 2**20 / duration_min:.0f} MiB/min)" if duration_min > 0 else ""
        return WatchFinding(
            finding=f"host memory grew from {_gib(early)} to {_gib(late)}{rate}: a leak?",
            evidence="median resident memory of the first and last quarter of the samples; a common cause "
            "is keeping tensors that hold their graph (total_loss += loss instead of loss.item())",
            problem=True,
        )
    return WatchFinding(
        finding=f"host memory: peak {_gib(max(rss))}",
        evidence=f"resident memory of the job's processes, {_gib(early)} early and {_gib(late)} late",
    )


def _step_finding(step: StepRate) -> WatchFinding:
    measured = f"{step.measured_step_s * 1e3:.4g} ms per step ({1 / step.measured_step_s:.3g} steps/s)"
    if step.predicted_step_s is None:
        return WatchFinding(finding=f"measured {measured}", evidence=f"over {step.num_steps} steps")
    ratio = step.measured_step_s / step.predicted_step_s
    return WatchFinding(
        finding=f"measured {measured}; devicefit predicts {step.predicted_step_s * 1e3:.4g} ms on "
        f"{step.device} ({ratio:.2g}x the prediction)",
        evidence=f"{step.model} at batch {step.batch_size}, over {step.num_steps} steps",
        problem=ratio > SLOW_RATIO,
    )


def diagnose_watch(
    samples: Sequence[WatchSample],
    *,
    num_cores: int,
    gpu_visible: bool,
    step_rate: StepRate | None = None,
) -> tuple[WatchFinding, ...]:
    """The diagnosis of a watch: GPU use (or its absence), CPU, host memory, I/O wait, step rate.

    Args:
        samples: In time order.
        num_cores: Logical cores of the machine.
        gpu_visible: NVML was there to read GPUs.
        step_rate: The job's measured step rate, with devicefit's prediction when asked.
    """
    if not samples:
        return (WatchFinding(finding="no sample taken", evidence="the job ended before the first sample"),)
    duration = samples[-1].elapsed_s
    found: list[WatchFinding] = []
    indices = sorted({g.index for s in samples for g in s.gpus})
    used = [i for i in indices if any(g.index == i and g.tree_memory_bytes for s in samples for g in s.gpus)]
    if not used:
        why = (
            f"no sample saw its processes hold memory on any of the {len(indices)} GPU(s)"
            if gpu_visible
            else "NVML is not available: no NVIDIA GPU is visible to this machine"
        )
        found.append(
            WatchFinding(
                finding="the job never used a GPU",
                evidence=f"{why} ({len(samples)} samples over {duration:.1f} s)",
                problem=gpu_visible,
            )
        )
    for index in used:
        found += _gpu_findings(samples, index)
    found.append(_cpu_finding(samples, num_cores))
    found.append(_host_memory_finding(samples))
    iowait = [s.iowait_percent for s in samples if s.iowait_percent is not None]
    if iowait and statistics.fmean(iowait) > 10.0:
        found.append(
            WatchFinding(
                finding=f"CPUs waited for storage {statistics.fmean(iowait):.0f}% of the time: I/O-bound",
                evidence="I/O wait of the whole machine: data on a slow or network disk, "
                "or too few loader workers",
                problem=True,
            )
        )
    if step_rate is not None:
        found.append(_step_finding(step_rate))
    return tuple(found)
