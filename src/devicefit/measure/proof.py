"""doctor's proof: a short timed product and copy on each device, so "the GPU works" is a measured claim.

Two product sizes show both sides of the CPU/GPU trade: a small one, where launch and dispatch
costs dominate and a CPU often wins, and a large one, where a GPU's parallel units should. The
timing budget is cut to a fraction of a second per case (the whole proof takes a few seconds on a
two-core CPU); the figures are a sanity check, not a benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

from devicefit.devices.base import Device
from devicefit.measure.micro import matmul, stream
from devicefit.measure.runner import run_case
from devicefit.measure.timer import TimerConfig
from devicefit.records import ProofTiming
from devicefit.records.vocabulary import Benchmark

#: Product sizes: 64 is launch-bound everywhere; 1024 (2.1 GFLOP) is long enough on a GPU to be
#: compute-bound and short enough (tens of ms) on a two-core CPU to keep the proof quick.
PRODUCT_SIZES = (64, 1024)
#: Copy of 2**24 fp32 elements (64 MiB read, 64 MiB written): beyond any CPU's last-level cache.
COPY_ELEMENTS = 1 << 24
#: A short budget: a few samples after a brief warm-up.
PROOF_TIMER = TimerConfig(warmup_s=0.05, min_time_s=0.05, budget_s=0.3, min_samples=3)


def prove(devices: Sequence[Device]) -> tuple[ProofTiming, ...]:
    """Times the products and the copy on each device; a case that fails is left out."""
    timings = []
    for device in devices:
        description = device.properties()
        cases = [
            matmul(device=device.id, device_kind=description.kind, dtype="fp32", n=n, peak=None)
            for n in PRODUCT_SIZES
        ]
        cases.append(stream(device=device.id, kernel=Benchmark.COPY, n=COPY_ELEMENTS, peak=None))
        for case in cases:
            result = run_case(case, device, PROOF_TIMER)
            if result.status != "ok" or result.median_s is None or result.value is None:
                continue
            timings.append(
                ProofTiming(
                    device=device.id,
                    operation="matmul" if case.benchmark == Benchmark.MATMUL else "copy",
                    size=case.size or 0,
                    time_s=result.median_s,
                    rate_per_s=result.value,
                )
            )
    return tuple(timings)
