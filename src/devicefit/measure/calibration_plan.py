"""The micro-benchmarks ``calibrate`` fits a device's performance model from (never a model step)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

from devicefit.measure import layers, micro
from devicefit.measure.bench_plan import elementwise_cases, stream_sizes
from devicefit.measure.case import Case, rotating, torch_threads
from devicefit.measure.timer import TimerConfig
from devicefit.records import DeviceDescription
from devicefit.records.vocabulary import Benchmark


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
    warm_matmuls = [case for case in cases if case.benchmark == Benchmark.MATMUL]
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
    _, dram = stream_sizes(device, quick)
    for stream_kernel in (Benchmark.COPY, Benchmark.TRIAD):
        cases += [
            micro.stream(device=device.id, kernel=stream_kernel, n=n, peak=device.peak_bandwidth_bytes_per_s)
            for n in [4**k for k in range(5, 20) if 4**k < dram] + [dram]
        ]
    cases += list(elementwise_cases(device, quick=False))
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
                direction=Benchmark.H2D,
                num_bytes=64 * 2**20,
                pinned=True,
                peak=device.host_link_bytes_per_s,
            )
        )
    # Matrix products, convolutions and layers run over more data than the cache holds, as in a model.
    # Matrix products both ways: a small model's weights stay in the cache from one step to the next.
    cold_bytes = device.cold_working_set_bytes
    cases = [rotating(case, cold_bytes) if case.benchmark in _COLD else case for case in cases]
    cases += [case for case in warm_matmuls if rotating(case, cold_bytes) is not case]
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
    Benchmark.MATMUL,
    Benchmark.CONV2D,
    Benchmark.CONV2D_DEPTHWISE,
    Benchmark.CONV2D_BACKWARD,
    Benchmark.CONV2D_DEPTHWISE_BACKWARD,
    Benchmark.BATCH_NORM,
    Benchmark.BATCH_NORM_BACKWARD,
    Benchmark.BATCH_NORM_INFER,
    Benchmark.LAYER_NORM,
    Benchmark.SOFTMAX,
    Benchmark.MAX_POOL,
    Benchmark.MAX_POOL_2X2,
    Benchmark.MAX_POOL_BACKWARD,
    Benchmark.ACTIVATION,
    Benchmark.ACTIVATION_TANH,
    Benchmark.ELEMENTWISE,
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
        with torch_threads(num_threads), case.context():
            yield

    return both
