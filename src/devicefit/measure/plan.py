"""Which benchmark cases run on a device, in full and in ``--quick`` mode: micro-benchmarks and models."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from devicefit.measure import layers, micro, steps
from devicefit.measure.micro import Case
from devicefit.measure.timer import TimerConfig
from devicefit.records import DeviceDescription

#: Suites ``devicefit bench --suite`` accepts (``all`` runs both).
SUITES = ("micro", "models")

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


def _stream_sizes(device: DeviceDescription, quick: bool) -> tuple[list[int], int]:
    """Elements per array, from L1-resident to several times the last-level cache, and the DRAM size."""
    dram_bytes = max(DRAM_CACHE_MULTIPLE * device.last_level_cache_bytes, 64 * 2**20)
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
    cases += [
        micro.launch(device=device.id),
        micro.view(device=device.id),
        micro.module_call(device=device.id),
        micro.backward_op(device=device.id),
    ]
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
        precision: ``fp32``, or ``bf16``/``fp16`` autocast.
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
        raise UsageError(f"unknown precision {plan.precision!r}", fix="Choose from: fp32, bf16, fp16")
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
            device_type=device.kind,
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
            name, batch_size, sequence_length=sequence_length, device_kind="cpu"
        ).memory.train_peak_bytes
    )


def _num_parameters(name: str, sequence_length: int | None) -> int:
    from devicefit.workloads import build_model

    module = build_model(name, 1, device="meta", sequence_length=sequence_length).module
    return sum(p.numel() for p in module.parameters())


def plan_calibration(device: DeviceDescription, *, num_threads: int | None, quick: bool) -> list[Case]:
    """The micro-benchmarks a performance model is fitted from, pinned to ``num_threads`` on CPUs.

    Matrix products square and skinny (few rows against a wide layer), convolutions dense, pointwise
    and depthwise (the efficiency curves); memory kernels from L1-sized to DRAM-sized, and the layer
    kernels that reach their own share of bandwidth (the memory curves); the host costs of an
    operator call, a view, a module call, an autograd node and an optimizer step. Never a model step.
    """
    gpu = device.kind != "cpu"
    cases: list[Case] = []
    grid = _GPU_MATMUL_GRID if gpu else _CPU_MATMUL_GRID + _CPU_WIDE_MATMULS
    for dtype in ["fp32", "tf32", "bf16", "fp16"] if gpu else ["fp32", "bf16"]:
        peak = device.peak_flops_per_s(dtype)
        # CPUs without native bf16 take seconds per large product: a few small ones tell the story.
        shapes = grid if gpu or dtype == "fp32" else ((m, k, k) for m in (1, 64) for k in (64, 256))
        cases += [
            micro.matmul(device=device.id, device_kind=device.kind, dtype=dtype, m=m, k=k, n=n, peak=peak)
            for m, k, n in shapes
        ]
    warm_matmuls = [case for case in cases if case.benchmark == "matmul"]
    batches = (1, 8, 64) if gpu else (1, 8, 32)
    for dtype in ["tf32", "bf16"] if gpu else ["fp32"]:
        peak = device.peak_flops_per_s(dtype)
        for in_channels, channels, side, kernel, depthwise, backward, weight_only in _CONV_LAYERS:
            cases += [
                micro.conv2d(
                    device=device.id,
                    device_kind=device.kind,
                    dtype=dtype,
                    batch_size=b,
                    peak=peak,
                    channels=channels,
                    side=side,
                    kernel=kernel,
                    depthwise=depthwise,
                    in_channels=in_channels,
                    backward=backward,
                    weight_only=weight_only,
                )
                for b in batches
                if gpu
                or b <= 8
                or (not depthwise and 4 * b * max(in_channels, channels) * side**2 <= _CPU_CONV_BYTES)
            ]
    _, dram = _stream_sizes(device, quick)
    for stream_kernel in ("copy", "triad"):
        cases += [
            micro.stream(device=device.id, kernel=stream_kernel, n=n, peak=device.peak_bandwidth_bytes_per_s)
            for n in [4**k for k in range(5, 20) if 4**k < dram] + [dram]
        ]
    cases += list(_elementwise(device, quick=False))
    for n, side in ((1, 28), (1, 56), (4, 56), (8, 112)):
        cases += [
            layers.batch_norm(device=device.id, n=n, side=side, backward=backward, training=training)
            for backward, training in ((False, True), (True, True), (False, False))
        ]
    cases += [
        layers.max_pool(device=device.id, n=n, side=side, kernel=kernel, backward=backward)
        for kernel, backward in ((3, False), (2, False), (3, True))
        for n, side in ((1, 56), (4, 112))
    ]
    # Efficiency falls off a cliff where the recurrent weights leave the L2 (between 512 and 768
    # units with 2 MB per core): the grid is densest there, so no layer interpolates across it.
    cases += [
        layers.lstm(device=device.id, batch_size=b, hidden=h, backward=backward)
        for h in (256, 512, 768, 1024)
        for b in (1, 8, 32)
        for backward in (False, True)
    ]
    cases += [layers.layer_norm(device=device.id, rows=r) for r in (128, 1024, 8192)]
    cases += [layers.softmax(device=device.id, rows=r) for r in (128, 1024, 8192)]
    cases += [
        layers.activation(device=device.id, n=n, approximate=approximate)
        for approximate in ("none", "tanh")
        for n in (2**12, 2**16, 2**20, 2**24)
    ]
    cases += [layers.random_fill(device=device.id, n=n) for n in (2**12, 2**16, 2**20, 2**24)]
    cases += [
        layers.optimizer_step(device=device.id, optimizer=o, num_tensors=n)
        for o in ("sgd", "sgd-momentum", "adam", "adamw")
        for n in (1, layers.OPTIMIZER_TENSORS)
    ]
    cases += [
        micro.launch(device=device.id),
        micro.launch(device=device.id, recorded=True),
        micro.view(device=device.id),
        micro.module_call(device=device.id),
        micro.backward_op(device=device.id),
        micro.conv_call(device=device.id),
    ]
    if not gpu:
        # GPU caching allocators keep their memory: only a CPU step pays for fresh pages.
        cases += [micro.first_touch(device=device.id, fresh=fresh) for fresh in (True, False)]
    if gpu:
        cases.append(
            micro.transfer(
                device=device.id,
                direction="h2d",
                num_bytes=64 * 2**20,
                pinned=True,
                peak=device.host_link_bytes_per_s,
            )
        )
    # Matrix products, convolutions and layers run over more data than the cache holds, as in a model.
    # Matrix products both ways: a small model's weights stay in the cache from one step to the next.
    cold_bytes = device.cold_working_set_bytes
    cases = [micro.rotating(case, cold_bytes) if case.benchmark in _COLD else case for case in cases]
    cases += [case for case in warm_matmuls if micro.rotating(case, cold_bytes) is not case]
    if not quick:
        cases = [replace(case, timer=CALIBRATION_TIMER) for case in cases]
    return cases if num_threads is None else pin_threads(cases, num_threads)


def pin_threads(cases: Sequence[Case], num_threads: int) -> list[Case]:
    """The same cases run with ``num_threads`` CPU threads; ids and sweeps say so (``.t1``)."""
    return [
        replace(
            case,
            id=f"{case.id}.t{num_threads}",
            num_threads=num_threads,
            sweep=f"{case.sweep}.t{num_threads}" if case.sweep else None,
            context=_pinned(case, num_threads),
        )
        for case in cases
    ]


#: Timing of a full calibration: two hundred cases, each given half a second.
CALIBRATION_TIMER = TimerConfig(warmup_s=0.05, min_time_s=0.1, budget_s=0.5, min_samples=5)

#: Matrix products the calibration measures, (M, K, N): few to many rows (M) against layers from narrow
#: to wide (K, N), as small and large batches make of linear layers, their gradients and attention; a
#: short K (8) is a weight gradient at a small batch, summed over few samples. M = 4 because the
#: library's kernel changes between 4 and 8 rows: on a Zen 4 VM (4, 1024, 1024) took 256 us at two
#: threads as at one, where (8, 1024, 1024) ran 1.2x as fast at two, so interpolating from M = 8
#: predicted an MLP at batch 4 twice as fast as it ran.
_CPU_MATMUL_GRID = tuple(
    (m, k, n) for m in (1, 4, 8, 64, 512) for k in (8, 64, 512, 1024, 2048) for n in (64, 512, 1024, 2048)
)
#: Vocabulary-wide products, a language model's head (30-50k columns) and its two gradients: an operand
#: far larger than the cache changes how a CPU's GEMM blocks. On a Zen 3, 32k-wide N or M ran at
#: 0.7x the efficiency of 2k-wide layers, 32k-wide K at 1.1x; the three proxies tracked GPT-2's
#: head shapes within 20%. 32000 wide, as vocabularies are (30522, 32000, 50257), not 32768: a
#: power-of-two row of 128 KiB aliases in the cache, and on a Xeon at one thread (128, 512, 32768)
#: ran at 0.64x the efficiency of (128, 512, 32000). At 512 and at 768 wide (BERT-base's, GPT-2's).
_CPU_WIDE_MATMULS = tuple(
    shape for k in (512, 768) for shape in ((128, k, 32000), (32000, 128, k), (128, 32000, k))
)
_GPU_MATMUL_GRID = tuple(
    (m, k, n) for m in (1, 16, 256, 4096) for k in (256, 2048, 16384) for n in (256, 2048, 16384)
)

#: Calibration benchmarks measured cold (rotating over more inputs than the last-level cache holds).
_COLD = {
    "matmul",
    "conv2d",
    "conv2d_depthwise",
    "conv2d_backward",
    "conv2d_depthwise_backward",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_infer",
    "layer_norm",
    "softmax",
    "max_pool",
    "max_pool_2x2",
    "max_pool_backward",
    "activation",
    "activation_tanh",
    "elementwise",
}

#: Convolution layers the calibration measures, forward and backward (input channels, output
#: channels, side, kernel, depthwise, backward, weight gradient only): first layers on RGB input,
#: narrow layers, ResNet's 3x3 and 1x1 at stage 1 and late ones, MobileNetV2's depthwise layers
#: early and late. Dense layers are interpolated between by their implicit matrix-product shapes.
#: On CPUs, dense convolution layers also run at batch 32 where their largest tensor stays this
#: small. They keep gaining efficiency with their output positions past batch 8: a CIFAR
#: network's 5x5 layer ran 1.27x as efficiently at batch 128 as at batch 8 (Zen 4). Larger
#: outputs are mapped afresh at each call, and their page faults, which the model prices apart
#: (``first_touch``), would pass for a slow kernel: a 1x1 layer from 16 to 96 channels on a
#: 112x112 map faulted 360 MB a call at batch 32 and ran at 7 GFLOP/s, against 43 without the
#: faults. Depthwise layers are priced by their bytes, which batch 8 already spans.
_CPU_CONV_BYTES = 16 * 2**20

_CONV_LAYERS = tuple(
    (*layer, backward, weight_only)
    for layer in (
        (3, 32, 32, 3, False),
        # An ImageNet stem, 7x7 on RGB (ResNet's, at the stride-1 size of its 112x112 output).
        (3, 64, 112, 7, False),
        # Narrow layers (8 to 24 output channels: one to three AVX2 registers of floats), as in
        # CIFAR-size networks' 5x5 layers and MobileNet's 1x1 projections.
        (3, 8, 32, 5, False),
        (16, 16, 16, 5, False),
        # LeNet-5's second layer, 6 to 16 channels on a 10x10 map (its output's size).
        (6, 16, 10, 5, False),
        (96, 24, 56, 1, False),
        (64, 64, 56, 3, False),
        (64, 64, 56, 1, False),
        (256, 256, 14, 3, False),
        # Late layers on 7x7 maps (ResNet's last stage, MobileNetV2's last blocks): at batch 1 they
        # ran at half the rate the 14x14 layers predicted (Xeon VM, 2026-12-04).
        (512, 512, 7, 3, False),
        (256, 1024, 7, 1, False),
        # Inverted-residual pointwise layers (MobileNetV2's): a wide expansion on a large map, and
        # projections from many channels to few on small maps. With two threads oneDNN runs them at
        # a third to a half of the rate the layers above predicted (Xeon VM, 2026-12-04).
        (16, 96, 112, 1, False),
        (384, 64, 14, 1, False),
        (960, 160, 7, 1, False),
        (144, 144, 56, 3, True),
        (576, 576, 14, 3, True),
        (960, 960, 7, 3, True),
    )
    # Layers on RGB input are a network's first: their backward computes the weight's gradient alone.
    for backward, weight_only in ((False, False), (True, False), (True, True))
    if not weight_only or layer[0] == 3
)


def _pinned(case: Case, num_threads: int) -> Callable[[], AbstractContextManager[Any]]:
    @contextmanager
    def both() -> Iterator[None]:
        with micro.torch_threads(num_threads), case.context():
            yield

    return both
