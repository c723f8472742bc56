"""Fidelity and stability of devicefit's micro-benchmarks against plain loops timed in the same process.

Fidelity: for the CPU (and each CUDA GPU when present) the ratio of devicefit's figure to the same
operation timed by a plain ``time.perf_counter`` loop (GPUs: synchronized before each clock read):

- best fp32 matmul FLOP/s over the bench sweep vs. ``torch.matmul(a, b)`` at that size;
- DRAM-sized STREAM copy vs. ``numpy.copyto`` on the same arrays, split over as many threads as
  PyTorch uses (a single thread does not saturate memory on most machines; its figure is printed
  too), and vs. a plain ``Tensor.copy_`` loop (the routine devicefit's copy uses; GPUs: this only);
- DRAM-sized STREAM triad vs. ``torch.add(b, c, alpha=s, out=a)``;
- GPUs only: bf16 matmul at 8192^3 vs. ``torch.matmul``.

Each comparison interleaves devicefit (with the ``--quick`` timing budget), the reference (the
same budget), and the reference again (the *control*)
in ABBA order over several rounds; the ratio is the median of the per-round ratios, so drift of
the machine hits both sides alike. The control's ratio is the machine's own noise floor: a ratio
is meaningful to about that precision.

Stability: runs the ``bench --quick`` plan's matmul and triad cases twice and prints how far the
two runs' medians differ, beside the same difference for a plain loop run twice (the floor).

Bar (issue 2): every ratio within 5% of 1.0; the two quick runs within 5%.
Usage: ``python benchmarks/fidelity.py [--rounds 21]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from devicefit.devices import discover_devices
from devicefit.devices.base import Device
from devicefit.measure import micro
from devicefit.measure.bench_plan import plan_micro
from devicefit.measure.case import Case, tf32_enabled
from devicefit.measure.runner import FULL, QUICK, execute, run_case
from devicefit.measure.timer import TimerConfig
from devicefit.records.vocabulary import Benchmark

#: A ratio passes within this distance of 1.0 (the bar of issue 2).
TOLERANCE = 0.05


def plain_loop_s(
    fn: Callable[[], object], synchronize: Callable[[], None], *, budget_s: float = 1.0
) -> float:
    """Median seconds per call from ~50 ms blocks of back-to-back calls, timed with perf_counter."""
    for _ in range(3):
        fn()
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    calls = max(1, int(0.05 / max(time.perf_counter() - start, 1e-9)))
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < 5 or time.perf_counter() < deadline:
        synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def numpy_copy(destination: np.ndarray, source: np.ndarray, num_threads: int) -> Callable[[], object]:
    """``np.copyto`` over ``num_threads`` contiguous chunks at once (NumPy releases the GIL to copy)."""
    if num_threads == 1:
        return lambda: np.copyto(destination, source)
    bounds = np.linspace(0, source.size, num_threads + 1).astype(int)
    chunks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    pool = ThreadPoolExecutor(num_threads)
    return lambda: list(pool.map(lambda chunk: np.copyto(destination[chunk], source[chunk]), chunks))


def devicefit_s(case: Case, device: Device, timer: TimerConfig = QUICK.timer) -> float:
    result = run_case(case, device, timer)
    assert result.status == "ok" and result.median_s is not None, result.error
    return result.median_s


def verdict(ratio: float) -> str:
    return "PASS" if abs(ratio - 1.0) <= TOLERANCE else "FAIL"


def compare(name: str, case: Case, device: Device, reference: Callable[[], float], rounds: int) -> bool:
    """Interleaves devicefit, reference and control in ABBA order; prints both ratios."""
    ours: list[float] = []
    theirs: list[float] = []
    control: list[float] = []
    steps = [
        lambda: ours.append(devicefit_s(case, device)),
        lambda: theirs.append(reference()),
        lambda: control.append(reference()),
    ]
    for round_index in range(rounds):
        for step in steps if round_index % 2 == 0 else reversed(steps):
            step()
    # Same work on both sides, so the throughput ratio is the inverse ratio of times. Ratios are
    # paired within a round (measured seconds apart) before the median: slow drift cancels.
    ratio = statistics.median(t / o for t, o in zip(theirs, ours, strict=True))
    floor = statistics.median(t / c for t, c in zip(theirs, control, strict=True))
    print(f"  {name:<50} ratio {ratio:6.3f} {verdict(ratio)}   (control {floor:5.3f})")
    return abs(ratio - 1.0) <= TOLERANCE


def best_matmul_size(device: Device) -> int:
    cases = [
        c
        for c in plan_micro(device.properties(), quick=False)
        if c.benchmark == Benchmark.MATMUL and c.dtype == "fp32"
    ]
    results = [r for r in execute(cases, {device.id: device}, FULL) if r.status == "ok" and r.value]
    return max(results, key=lambda r: r.value or 0.0).size or 0


def dram_elements(device: Device) -> int:
    return max(
        c.size or 0 for c in plan_micro(device.properties(), quick=False) if c.benchmark == Benchmark.TRIAD
    )


def check_fidelity(device: Device, rounds: int) -> bool:
    """Compares devicefit with plain loops, each allocating fresh random inputs every round.

    Where an allocation lands can change a kernel's speed by several percent, so a reference that
    kept one set of inputs would compare one draw against devicefit's many.
    """
    sync, kind, where = device.synchronize, device.properties().kind, device.torch_device
    print(f"{device.id}: {device.properties().name}: devicefit vs plain loops ({rounds} interleaved rounds)")

    def fresh(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.rand(*shape, device=where, dtype=dtype)

    def plain_matmul(n: int, dtype: torch.dtype) -> float:
        a, b = fresh(n, n, dtype=dtype), fresh(n, n, dtype=dtype)
        return plain_loop_s(lambda: torch.matmul(a, b), sync)

    ok = True
    n = best_matmul_size(device)
    case = micro.matmul(device=device.id, device_kind=kind, dtype="fp32", n=n, peak=None)
    with tf32_enabled(False):
        ok &= compare(
            f"best fp32 matmul (n={n}) vs torch.matmul",
            case,
            device,
            lambda: plain_matmul(n, torch.float32),
            rounds,
        )
    elements = dram_elements(device)
    mib = elements * 4 / 2**20
    copy_case = micro.stream(device=device.id, kernel=Benchmark.COPY, n=elements, peak=None)
    if kind == "cpu":
        threads = torch.get_num_threads()

        def plain_numpy_copy(num_threads: int) -> float:
            source, destination = fresh(elements).numpy(), fresh(elements).numpy()
            return plain_loop_s(numpy_copy(destination, source, num_threads), sync)

        print(f"  (numpy.copyto on one thread: {8 * elements / plain_numpy_copy(1) / 1e9:.1f} GB/s)")
        ok &= compare(
            f"copy {mib:.0f} MiB vs numpy.copyto x{threads} threads",
            copy_case,
            device,
            lambda: plain_numpy_copy(threads),
            rounds,
        )

    def plain_copy() -> float:
        source, destination = fresh(elements), fresh(elements)
        return plain_loop_s(lambda: destination.copy_(source), sync)

    # The same routine on both sides: isolates the timing from memcpy-versus-PyTorch differences.
    ok &= compare(f"copy {mib:.0f} MiB vs Tensor.copy_", copy_case, device, plain_copy, rounds)

    def plain_triad() -> float:
        a, b, c = fresh(elements), fresh(elements), fresh(elements)
        return plain_loop_s(lambda: torch.add(b, c, alpha=micro.STREAM_SCALAR, out=a), sync)

    triad_case = micro.stream(device=device.id, kernel=Benchmark.TRIAD, n=elements, peak=None)
    ok &= compare(
        f"triad {mib:.0f} MiB vs torch.add(b, c, alpha=s, out=a)", triad_case, device, plain_triad, rounds
    )
    if kind == "cuda":
        bf16 = micro.matmul(device=device.id, device_kind=kind, dtype="bf16", n=8192, peak=None)
        ok &= compare(
            "bf16 matmul 8192^3 vs torch.matmul",
            bf16,
            device,
            lambda: plain_matmul(8192, torch.bfloat16),
            rounds,
        )
    return ok


def check_stability(device: Device) -> bool:
    cases = [
        c
        for c in plan_micro(device.properties(), quick=True)
        if c.benchmark in (Benchmark.MATMUL, Benchmark.TRIAD)
    ]
    first, second = (list(execute(cases, {device.id: device}, QUICK)) for _ in range(2))
    print(f"{device.id}: two bench --quick runs back to back (plain loop twice, same budget, as the floor)")
    ok = True
    for case, a, b in zip(cases, first, second, strict=True):
        if a.status != "ok" or b.status != "ok" or not a.median_s or not b.median_s:
            continue
        with case.context():
            fn = case.build()
            floor = plain_loop_s(fn, device.synchronize, budget_s=QUICK.timer.budget_s) / plain_loop_s(
                fn, device.synchronize, budget_s=QUICK.timer.budget_s
            )
        difference = b.median_s / a.median_s - 1.0
        ok &= abs(difference) <= TOLERANCE
        print(f"  {a.case_id:<50} {difference:+7.1%} {verdict(1 + difference)}   (floor {floor - 1:+6.1%})")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds per comparison")
    args = parser.parse_args()
    ok = True
    for device in discover_devices():
        if device.kind in ("cpu", "cuda"):
            ok &= check_fidelity(device, args.rounds)
            ok &= check_stability(device)
    print("ALL PASS" if ok else "SOME FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
