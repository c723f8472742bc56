"""Which micro-benchmark cases run on a device, in full and in ``--quick`` mode."""

from __future__ import annotations

from collections.abc import Iterable

from devicefit.measure import micro
from devicefit.measure.micro import Case
from devicefit.records import DeviceDescription

#: Suites ``devicefit bench --suite`` accepts.
SUITES = ("micro",)

#: Bandwidth sweeps reach this many times the last-level cache, so the last points are DRAM-bound.
DRAM_CACHE_MULTIPLE = 4
#: Fallback last-level cache size when the device does not report one (bytes).
DEFAULT_CACHE_BYTES = 32 * 2**20


def _dtypes(device: DeviceDescription) -> tuple[str, ...]:
    if device.kind == "cpu":
        return ("fp32", "bf16", "fp16", "int8")
    return ("fp32", "tf32", "bf16", "fp16", "int8")


def _powers_of_two(low: int, high: int) -> list[int]:
    sizes, size = [], low
    while size <= high:
        sizes.append(size)
        size *= 2
    return sizes


def _last_level_cache_bytes(device: DeviceDescription) -> int:
    if device.cpu and device.cpu.l3_cache_bytes:
        return device.cpu.l3_cache_bytes
    if device.gpu and device.gpu.l2_cache_bytes:
        return device.gpu.l2_cache_bytes
    return DEFAULT_CACHE_BYTES


def _stream_sizes(device: DeviceDescription, quick: bool) -> tuple[list[int], int]:
    """Elements per array, from L1-resident to several times the last-level cache, and the DRAM size."""
    dram_bytes = max(DRAM_CACHE_MULTIPLE * _last_level_cache_bytes(device), 64 * 2**20)
    dram_elements = dram_bytes // micro.DTYPE_BYTES["fp32"]
    if quick:
        return [4 * 2**10, 64 * 2**10], dram_elements
    return [n for n in _powers_of_two(2**10, dram_elements) if n < dram_elements], dram_elements


def plan_micro(device: DeviceDescription, *, quick: bool) -> list[Case]:
    """Lists the micro-benchmark cases for one device.

    Args:
        device: The device, with its peaks and cache sizes.
        quick: The subset that finishes in under a minute on a 2-core CPU.

    Returns:
        Cases in run order; sweeps are ordered by growing cost.
    """
    gpu_like = device.kind != "cpu"
    cases: list[Case] = []
    cases += _matmuls(device, quick, gpu_like)
    cases += _streams(device, quick)
    if gpu_like:
        cases += _transfers(device, quick)
    cases.append(micro.launch(device=device.id))
    cases += _elementwise(device, quick)
    if device.kind == "cpu" and device.cpu:
        cases += _thread_scaling(device, quick)
    cases += _convs(device, quick, gpu_like)
    return cases


def _matmuls(device: DeviceDescription, quick: bool, gpu_like: bool) -> Iterable[Case]:
    if gpu_like:
        sizes = [1024, 4096, 8192] if quick else _powers_of_two(256, 16384)
    else:
        sizes = [256, 1024] if quick else _powers_of_two(64, 2048)
    for dtype in _dtypes(device):
        for n in sizes:
            yield micro.matmul(
                device=device.id,
                device_kind=device.kind,
                dtype=dtype,
                n=n,
                peak=device.peak_flops_per_s(dtype),
            )


def _streams(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    cached, dram = _stream_sizes(device, quick)
    bandwidth = device.peak_bandwidth_bytes_per_s
    for kernel in micro.STREAM_ARRAYS:
        sizes = ([*cached, dram] if kernel in ("copy", "triad") else [dram]) if quick else [*cached, dram]
        for n in sizes:
            yield micro.stream(device=device.id, kernel=kernel, n=n, peak=bandwidth)


def _transfers(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    sizes = [2**20, 64 * 2**20] if quick else [4**k for k in range(6, 16)]  # 4 KiB .. 1 GiB
    for direction in ("h2d", "d2h"):
        for pinned in (False, True):
            for size in sizes:
                yield micro.transfer(
                    device=device.id,
                    direction=direction,
                    num_bytes=size,
                    pinned=pinned,
                    peak=device.host_link_bytes_per_s,
                )


def _elementwise(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    top = 10**9 if device.kind == "cuda" else 10**8
    if quick:
        sizes = [1, 100, 10**4, 10**6, 10**7]
    else:
        # Half-decade steps: 1, 3, 10, 32, 100, ...
        sizes = sorted({round(10 ** (k / 2)) for k in range(0, 19)} | {top})
        sizes = [n for n in sizes if n <= top]
    for n in sizes:
        yield micro.elementwise(device=device.id, n=n, bandwidth_peak=device.peak_bandwidth_bytes_per_s)


def _thread_scaling(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    assert device.cpu is not None
    cores = device.cpu.num_physical_cores
    counts = sorted({1, cores} if quick else {*_powers_of_two(1, cores), cores})
    fp32_peak = device.peak_flops_per_s("fp32")
    _, dram = _stream_sizes(device, quick)
    matmul = micro.matmul(device=device.id, device_kind="cpu", dtype="fp32", n=1024, peak=None)
    triad = micro.stream(device=device.id, kernel="triad", n=dram, peak=None)
    for threads in counts:
        # A thread can use one core's share of the peak FLOP/s.
        peak = fp32_peak * threads / cores if fp32_peak else None
        yield micro.with_threads(matmul, threads, benchmark="matmul_threads", peak=peak)
    for threads in counts:
        yield micro.with_threads(
            triad, threads, benchmark="triad_threads", peak=device.peak_bandwidth_bytes_per_s
        )


def _convs(device: DeviceDescription, quick: bool, gpu_like: bool) -> Iterable[Case]:
    gpu_batches, cpu_batches = ([32], [1, 8]) if quick else ([8, 32, 128], [1, 8, 32])
    batches = gpu_batches if gpu_like else cpu_batches
    dtypes = [d for d in _dtypes(device) if d != "int8"]
    for dtype in dtypes:
        for batch_size in batches:
            yield micro.conv2d(
                device=device.id,
                device_kind=device.kind,
                dtype=dtype,
                batch_size=batch_size,
                peak=device.peak_flops_per_s(dtype),
            )
