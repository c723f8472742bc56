"""Which cases ``bench`` runs on a device, in full and in ``--quick`` mode: micro-benchmarks and models.

The calibration plan, which fits a performance model, is ``calibration_plan.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from devicefit.measure import micro, steps
from devicefit.measure.case import DTYPE_BYTES, Case, with_threads
from devicefit.measure.timer import TimerConfig
from devicefit.records import DeviceDescription
from devicefit.records.vocabulary import HOST_LINK_BENCHMARKS, Benchmark

#: Suites ``devicefit bench --suite`` accepts (``all`` runs micro and models; ``comm``, the
#: collectives between processes of ``measure/comm.py``, runs when named).
SUITES = ("micro", "models", "comm")

#: Tokens per sample of sequence models in ``--quick`` runs (full runs use each model's default).
QUICK_SEQUENCE_LENGTH = 128

#: Bandwidth sweeps reach this many times the last-level cache, so the last points are DRAM-bound.
DRAM_CACHE_MULTIPLE = 4


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


def stream_sizes(device: DeviceDescription, quick: bool) -> tuple[list[int], int]:
    """Elements per array, from L1-resident to several times the last-level cache, and the DRAM size."""
    dram_bytes = max(DRAM_CACHE_MULTIPLE * device.last_level_cache_bytes, 64 * 2**20)
    dram_elements = dram_bytes // DTYPE_BYTES["fp32"]
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
    cases += [
        micro.launch(device=device.id),
        micro.view(device=device.id),
        micro.module_call(device=device.id),
        micro.backward_op(device=device.id),
    ]
    cases += elementwise_cases(device, quick)
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
    cached, dram = stream_sizes(device, quick)
    bandwidth = device.peak_bandwidth_bytes_per_s
    for kernel in micro.STREAM_ARRAYS:
        sizes = (
            ([*cached, dram] if kernel in (Benchmark.COPY, Benchmark.TRIAD) else [dram])
            if quick
            else [*cached, dram]
        )
        for n in sizes:
            yield micro.stream(device=device.id, kernel=kernel, n=n, peak=bandwidth)


def _transfers(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    sizes = [2**20, 64 * 2**20] if quick else [4**k for k in range(6, 16)]  # 4 KiB .. 1 GiB
    for direction in HOST_LINK_BENCHMARKS:
        for pinned in (False, True):
            for size in sizes:
                yield micro.transfer(
                    device=device.id,
                    direction=direction,
                    num_bytes=size,
                    pinned=pinned,
                    peak=device.host_link_bytes_per_s,
                )


def elementwise_cases(device: DeviceDescription, quick: bool) -> Iterable[Case]:
    """``x * y`` from one element to past the caches, in half-decade steps (a few sizes if ``quick``)."""
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
    _, dram = stream_sizes(device, quick)
    matmul = micro.matmul(device=device.id, device_kind="cpu", dtype="fp32", n=1024, peak=None)
    triad = micro.stream(device=device.id, kernel=Benchmark.TRIAD, n=dram, peak=None)
    for threads in counts:
        # A thread can use one core's share of the peak FLOP/s.
        peak = fp32_peak * threads / cores if fp32_peak else None
        yield with_threads(matmul, threads, benchmark=Benchmark.MATMUL_THREADS, peak=peak)
    for threads in counts:
        yield with_threads(
            triad, threads, benchmark=Benchmark.TRIAD_THREADS, peak=device.peak_bandwidth_bytes_per_s
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
    # MobileNetV2's depthwise layer (144 channels at 56x56): a convolution that cannot use the
    # matrix units well, for contrast with the dense one.
    yield micro.conv2d(
        device=device.id,
        device_kind=device.kind,
        dtype="fp32",
        batch_size=batches[-1],
        peak=device.peak_flops_per_s("fp32"),
        channels=144,
        depthwise=True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPlan:
    """What the models suite runs.

    Attributes:
        models: Workload names; the zoo's benchmarked models when empty.
        batch_sizes: Batch sizes; each model's own sweep when empty.
        precision: A name of ``vocabulary.PRECISIONS`` (``fp32``, ``tf32``, ``bf16``, ``fp16``, ``amp``).
        sequence_length: Tokens per sample for sequence models; the mode's default when ``None``.
        channels_last: Run CNNs in channels-last memory format.
        compile: Wrap models in ``torch.compile``.
    """

    models: tuple[str, ...] = ()
    batch_sizes: tuple[int, ...] = ()
    precision: str = "fp32"
    sequence_length: int | None = None
    channels_last: bool = False
    compile: bool = False


def plan_models(device: DeviceDescription, plan: ModelPlan, *, quick: bool) -> list[Case]:
    """Lists the model cases for one device: training and inference at each batch size.

    GPUs add, for each model, the same steps with the host-to-device copy of every batch at the
    largest batch size, and a search for the largest training batch that fits.
    """
    from devicefit.errors import UsageError
    from devicefit.workloads import list_models, model_info

    if plan.precision not in steps.PRECISION_DTYPES:
        raise UsageError(
            f"unknown precision {plan.precision!r}", fix=f"Choose from: {', '.join(steps.PRECISION_DTYPES)}"
        )
    if any(batch < 1 for batch in plan.batch_sizes):
        raise UsageError("batch sizes must be at least 1", fix="Pass --batch 1 or more")
    if device.kind == "fake":
        return []
    infos = [model_info(name) for name in plan.models] or [
        i for i in list_models() if i.benchmark_batch_sizes
    ]
    gpu = device.kind in ("cuda", "mps")
    cases: list[Case] = []
    for info in infos:
        batches = (
            plan.batch_sizes
            or info.benchmark_batch_sizes[: 2 if quick else None]
            or (info.default_batch_size,)
        )
        length = plan.sequence_length
        if length is None and info.sequence_length and quick:
            length = min(info.sequence_length, QUICK_SEQUENCE_LENGTH)
        parameters = _num_parameters(info.name, length)
        # Batch sizes the user chose may not fit a CPU, where running out of memory brings in the
        # kernel's killer: know the real need (a fake-tensor trace) before the allocator does.
        needs = (
            _training_bytes(info.name, max(batches), length)
            if plan.batch_sizes and device.kind == "cpu"
            else None
        )
        common = dict(
            device=device.id,
            device_kind=device.kind,
            info=info,
            precision=plan.precision,
            num_parameters=parameters,
            memory_bytes=needs,
            sequence_length=length,
            channels_last=plan.channels_last,
            compile=plan.compile,
        )
        for train in (True, False):
            cases += [steps.model_case(batch_size=b, train=train, **common) for b in batches]  # type: ignore[arg-type]
            if gpu:
                cases.append(steps.model_case(batch_size=batches[-1], train=train, transfer=True, **common))  # type: ignore[arg-type]
        if device.kind == "cuda":
            cases.append(steps.max_batch_case(**common))  # type: ignore[arg-type]
    limits = MODEL_QUICK if quick else MODEL_FULL
    return [replace(case, timer=limits[0], max_iteration_s=limits[1]) for case in cases]


#: Timing of model steps, which last 1e3 to 1e6 times longer than micro-benchmark calls: a few
#: samples of one step each, and sweeps that stop before a step of 2 s (``--quick``) or 20 s.
MODEL_QUICK = (TimerConfig(warmup_s=0.0, min_time_s=0.0, budget_s=0.5, min_samples=3), 2.0)
MODEL_FULL = (TimerConfig(warmup_s=0.2, min_time_s=0.5, budget_s=2.0, min_samples=5), 20.0)


def _training_bytes(name: str, batch_size: int, sequence_length: int | None) -> int:
    from devicefit.analyze.cost import analyze_model

    return int(
        analyze_model(
            name, batch_size, sequence_length=sequence_length, memory_kind="cpu"
        ).memory.train_peak_bytes
    )


def _num_parameters(name: str, sequence_length: int | None) -> int:
    from devicefit.workloads import build_model

    module = build_model(name, 1, device="meta", sequence_length=sequence_length).module
    return sum(p.numel() for p in module.parameters())
