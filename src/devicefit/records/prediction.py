"""Records of prediction: a device's performance model (peaks, efficiency, overheads) and a prediction."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from devicefit.records.model import MemoryEstimate


@dataclass(frozen=True, slots=True, kw_only=True)
class EfficiencyCurve:
    """The achieved fraction of a peak as a function of one number describing a call.

    Piecewise linear in log10(x) between measured points, flat beyond the first and last.

    Attributes:
        points: ``(x, fraction)`` pairs, x ascending: arithmetic intensity (FLOP per byte) for
            compute curves, bytes per call for memory curves.
    """

    points: tuple[tuple[float, float], ...]

    def at(self, work: float) -> float:
        """Returns the fraction of peak at ``work`` (never below 1e-6)."""
        if not self.points:
            return 1.0
        works = [math.log10(max(w, 1e-30)) for w, _ in self.points]
        x = math.log10(max(work, 1e-30))
        index = bisect.bisect_left(works, x)
        if index == 0:
            fraction = self.points[0][1]
        elif index == len(works):
            fraction = self.points[-1][1]
        else:
            (x0, y0), (x1, y1) = (
                (works[index - 1], self.points[index - 1][1]),
                (works[index], self.points[index][1]),
            )
            fraction = y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
        return max(fraction, 1e-6)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceModel:
    """What the performance model needs to know of a device, and where each part came from.

    Attributes:
        device: Local id (``cpu``, ``cuda:0``) or catalog id.
        name: Readable name.
        kind: ``cpu``, ``gpu`` or ``tpu``.
        asynchronous: Kernel launches overlap device work (GPUs); else per-op costs add up (CPUs).
        num_threads: CPU threads the figures hold for.
        peak_flops_per_s: Dense peak by dtype; a compute curve's fractions are of these.
        bandwidth_bytes_per_s: The memory bandwidth the memory curve's fractions are of.
        host_link_bytes_per_s: Host-to-device bandwidth (GPUs).
        memory_bytes: Memory capacity, for fit and largest batch.
        compute: Fraction of peak against arithmetic intensity, keyed ``class.dtype`` (``matmul.bf16``,
            ``conv.fp32``, ``conv_depthwise.fp32``...): small and skinny products use a device worse.
        memory: Fraction of bandwidth against bytes per call, by kernel family (``elementwise``,
            ``copy``, ``batch_norm``, ``batch_norm_backward``, ``layer_norm``, ``softmax``, ``max_pool``).
        op_overhead_s: Host time of one operator call from Python (dispatch on CPUs, launch on GPUs).
        backward_op_overhead_s: Host time of one operator call from the autograd engine (no Python).
        recorded_op_overhead_s: Host time of one operator call from Python that records an autograd
            node (a training forward); ``None``: as ``op_overhead_s``.
        view_overhead_s: Host time of a metadata-only operator (a view).
        module_overhead_s: Host time of one ``nn.Module`` call beyond its operators.
        conv_overhead_s: Host time of a convolution call (library primitive lookup and setup).
        matmul_shapes: Measured matrix products by dtype, ``(M, K, N, fraction of peak)``: a product's
            efficiency is interpolated from the products nearest to its shape. ``fp32`` holds them
            measured with warm caches (inputs reused call after call), ``fp32.cold`` with inputs
            fetched from memory.
        conv_shapes: Measured convolutions as implicit matrix products (``conv_gemm_shape``), keyed
            like ``compute`` (``conv.fp32``, ``conv_backward.fp32``): a convolution's efficiency is
            interpolated from the layers nearest to its shape, so narrow layers (few channels, which
            fill few SIMD lanes) are told apart from wide ones of the same arithmetic intensity.
            Layers that ran channel-blocked have their output channels padded to
            ``conv_channel_block`` in these shapes, and the efficiency of the padded work.
        lstm_shapes: Measured LSTM layers by their ``(batch, inputs, 4 x hidden)``, keyed ``lstm.fp32``
            and ``lstm_backward.fp32``: the fused recurrent cell's efficiency, interpolated to a
            layer's shape (its small per-step products run far from what a lone product reaches).
        conv_channel_block: Output channels a convolution that runs channel-blocked
            (``OpCost.channel_blocking``) computes together: a layer with fewer costs a whole block,
            as with the next multiple. oneDNN's CPU layouts block channels by one vector register of
            fp32 lanes (16 with AVX-512, 8 with AVX2): on a Zen 4, a 5x5 layer with 4, 6, 8 or 16
            output channels takes the same time, and one with 24 as long as one with 32. 1 where
            nothing is known (GPUs).
        cache_bytes: The last-level cache: a step whose working set fits in it runs warm.
        optimizer_tensor_s: Host time of one optimizer step per parameter tensor, by optimizer
            (PyTorch's per-parameter loop runs Python for each).
        optimizer_step_s: Host time of one optimizer step beyond its tensors (hooks, grouping).
        first_touch_s_per_byte: Cost of the first write to freshly mapped memory, per byte (the
            kernel's page faults): what an allocation pays when the allocator hands out new pages.
        fp32_matmul_dtype: The curve fp32 matrix products use (``tf32`` where PyTorch allows it).
        fp32_conv_dtype: The curve fp32 convolutions use (cuDNN allows TF32 by default).
        num_multiprocessors: SMs or compute units, for the wave quantization of matrix products
            whose efficiency is not interpolated from measured shapes.
        matmul_tile: Output tile ``(rows, columns)`` one multiprocessor computes at a time.
        source: Where the peaks and curves came from.
        origin: ``calibrated`` (measured on this device by ``devicefit calibrate``), ``bench``
            (fitted on this device from a ``devicefit bench`` run's micro suite), ``transferred``
            (another device's calibration with this one's datasheet figures) or ``defaults`` (the
            shipped defaults).
        error_band: Expected relative error of predictions made with this model.
        created_at: When it was calibrated (ISO time), for stored calibrations.
        warnings: What a reader of its predictions should know about the measurements it was
            fitted from (noisy, slower than earlier runs), each naming what to run.
        rejected: Why its measurements cannot be the device's when it is idle (a matrix product
            far below any plausible share of the peak); a model with reasons is stored, for the
            record, but never predicts.
    """

    device: str
    name: str
    kind: str
    asynchronous: bool
    peak_flops_per_s: dict[str, float]
    bandwidth_bytes_per_s: float
    compute: dict[str, EfficiencyCurve]
    memory: dict[str, EfficiencyCurve]
    op_overhead_s: float
    backward_op_overhead_s: float
    view_overhead_s: float
    module_overhead_s: float
    conv_overhead_s: float
    source: str
    error_band: float
    num_threads: int | None = None
    recorded_op_overhead_s: float | None = None
    host_link_bytes_per_s: float | None = None
    memory_bytes: float | None = None
    matmul_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    conv_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    lstm_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    optimizer_tensor_s: dict[str, float] = field(default_factory=dict)
    optimizer_step_s: dict[str, float] = field(default_factory=dict)
    first_touch_s_per_byte: float = 0.0
    conv_channel_block: int = 1
    cache_bytes: float | None = None
    fp32_matmul_dtype: str = "fp32"
    fp32_conv_dtype: str = "fp32"
    num_multiprocessors: int | None = None
    matmul_tile: tuple[int, int] | None = None
    origin: str = "calibrated"
    created_at: str | None = None
    warnings: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    def peak(self, dtype: str) -> float:
        """Peak FLOP/s for ``dtype``; without one (no native units), the fp32 peak it runs at."""
        return self.peak_flops_per_s.get(dtype) or self.peak_flops_per_s.get("fp32") or 1e9


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassTime:
    """Predicted time of one operator class in a step, and what bounds it."""

    op_class: str
    time_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    num_ops: int

    @property
    def bound(self) -> str:
        """``compute``, ``memory`` or ``overhead``: the largest of the three."""
        parts = {"compute": self.compute_s, "memory": self.memory_s, "overhead": self.overhead_s}
        return max(parts, key=lambda name: parts[name])


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """A model's predicted step on one device, with its breakdown, memory fit and expected error.

    Attributes:
        model: Workload name.
        device: Device id (local or catalog).
        device_name: Readable name.
        batch_size: Samples per step.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        mode: ``train`` or ``infer``.
        step_time_s: Predicted time of one step.
        forward_s: Forward pass (and loss).
        backward_s: Backward pass (0 for inference).
        optimizer_s: Optimizer step (0 for inference).
        transfer_s: Host-to-device copy of the batch (GPUs); not in ``step_time_s``.
        compute_s: Time of the ops that are compute-bound.
        memory_s: Time of the ops that are memory-bound.
        overhead_s: Time of the ops dominated by launch or dispatch cost, plus module calls.
        breakdown: Per operator class.
        peak_memory_bytes: Predicted peak memory of the step (allocator-level).
        memory: The memory model at this batch for this device: a training peak's parts.
        memory_capacity_bytes: The device's memory, if known.
        fits: Peak plus runtime overhead fits the capacity (``None`` when unknown).
        max_batch_size: The largest batch that fits (``None`` when the capacity is unknown).
        error_band: Expected relative error of ``step_time_s``.
        calibration: Where the device's figures came from.
        origin: ``calibrated``, ``bench``, ``transferred`` or ``defaults`` (see ``DeviceModel.origin``).
        warnings: What the reader should know about the figures it came from, and what to run.
    """

    model: str
    device: str
    device_name: str
    batch_size: int
    precision: str
    mode: str
    step_time_s: float
    forward_s: float
    backward_s: float
    optimizer_s: float
    transfer_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    breakdown: tuple[ClassTime, ...]
    peak_memory_bytes: float
    memory_capacity_bytes: float | None
    fits: bool | None
    max_batch_size: int | None
    error_band: float
    calibration: str
    origin: str = "calibrated"
    warnings: tuple[str, ...] = field(default=())
    memory: MemoryEstimate | None = None

    @property
    def throughput_samples_per_s(self) -> float:
        """Samples per second at the predicted step time."""
        return self.batch_size / self.step_time_s if self.step_time_s > 0 else 0.0


def conv_gemm_shape(
    batch_size: int,
    out_spatial: Sequence[int],
    in_channels_per_group: int,
    kernel: Sequence[int],
    out_channels: int,
) -> tuple[int, int, int]:
    """A convolution as the matrix product it lowers to (implicit GEMM): ``(M, K, N)``.

    M is the output positions (batch times output pixels), K the inputs each one reads (input
    channels per group times the kernel's taps), N the output channels (Chetlur et al., "cuDNN:
    Efficient Primitives for Deep Learning", 2014).
    """
    return (
        batch_size * math.prod(out_spatial),
        in_channels_per_group * math.prod(kernel),
        out_channels,
    )


#: ATen runs a small fp32 convolution (batch 1, kernel at most 3x3) by its own kernels up to this
#: many input elements (``use_mkldnn`` in aten/src/ATen/native/Convolution.cpp).
NATIVE_CONV_INPUT_ELEMENTS = 20480


def conv_channel_blocking(
    *, batch: int, input_elements: int, kernel: Sequence[int], strided: bool, groups: int, dtype: str
) -> str:
    """When PyTorch runs a CPU convolution by oneDNN's channel-blocked kernels.

    ``always``, ``threaded`` (only with more than one thread) or ``never``. ATen's ``use_mkldnn``
    sends an fp32 convolution to oneDNN unless it is small (batch 1, a kernel no larger than 3x3
    and at most 20480 input elements) or an unstrided 1x1 layer below batch 16 on one thread, both
    of which its own kernels run as matrix products. Grouped layers run by oneDNN's GEMM kernel,
    which does not block channels; other dtypes always by oneDNN. Checked with ``ONEDNN_VERBOSE``
    on torch 2.13: a 1x1 layer at batch 4 runs ``jit_1x1:avx512_core`` at two threads, nothing of
    oneDNN at one.
    """
    if groups > 1:
        return "never"
    if dtype != "fp32":
        return "always"
    large = batch > 1 or input_elements > NATIVE_CONV_INPUT_ELEMENTS or all(size > 3 for size in kernel)
    if not large:
        return "never"
    if all(size == 1 for size in kernel) and not strided and batch < 16:
        return "threaded"
    return "always"


def runs_blocked(channel_blocking: str, num_threads: int | None) -> bool:
    """Whether a convolution of this ``channel_blocking`` runs channel-blocked with ``num_threads``."""
    return channel_blocking == "always" or (channel_blocking == "threaded" and (num_threads or 1) > 1)


def padded_channels(channels: float, block: int) -> float:
    """``channels`` rounded up to a whole number of blocks of ``block`` (unchanged for a block of 1)."""
    return float(math.ceil(channels / block) * block) if block > 1 else float(channels)


def lstm_layer_flops(steps: int, batch_size: int, inputs: int, gates: int, hidden: int) -> int:
    """FLOPs of one LSTM layer's forward over ``steps`` time steps (a multiply-add is 2).

    The four gates' two matrix products, ``2 x 4H x (I + H)`` per sample and step, plus about 9
    pointwise FLOPs per hidden unit (gate activations, cell and hidden updates). ``gates`` is 4H,
    ``hidden`` H (the recurrent weights' width; smaller than ``gates / 4`` with projections).
    """
    return steps * batch_size * (2 * gates * (inputs + hidden) + 9 * gates // 4)


_Points = tuple[tuple[float, ...], ...]


def interpolate_shape(points: _Points, shape: tuple[int, ...]) -> float:
    """Efficiency of an (M, K, N) product from the measured products around its shape, in log2 sizes.

    A measured shape is its own measurement. Inside a cell of the calibration's grid (the eight
    products at the grid sizes just below and above each of M, K and N all measured, and no other
    measured product within the cell), trilinear interpolation: each size's share of the way from
    the size below it to the size above, in log2. Elsewhere (products beyond the grid, or without a
    measured cell around them, as LSTM layers' scattered shapes are), the four nearest products by
    distance between log2 sizes (64 is as far from 128 as 1024 from 2048), each weighted by one over
    its squared distance (Shepard's method). Shepard's weights favour the nearest points over those
    bracketing the shape: on a Zen 4, (16, 1024, 1024) took the efficiency of its (8, *, *)
    neighbours, 36% slower than it runs, where interpolation between M = 8 and 64 is within 8%.

    Points may have any number of sizes before their efficiency; the shape's last as many are used.
    """
    dims = len(points[0]) - 1 if points else 3
    shape = shape[-dims:]
    inside = _grid_interpolation(points, shape)
    if inside is not None:
        return inside
    target = [math.log2(max(size, 1)) for size in shape]
    ranked = []
    for *sizes, fraction in points:
        distance = sum((a - math.log2(max(b, 1))) ** 2 for a, b in zip(target, sizes, strict=True))
        if distance == 0:
            return fraction
        ranked.append((distance, fraction))
    nearest = sorted(ranked)[:4]
    weights = [1 / distance for distance, _ in nearest]
    return sum(w * f for w, (_, f) in zip(weights, nearest, strict=True)) / sum(weights)


def interpolate_layers(points: _Points, shape: tuple[int, ...]) -> float:
    """Efficiency of a convolution's (M, K, N) from the measured layers nearest it: along M, then across.

    Each measured layer (its K and N: inputs per output and output channels) ran at a few batch
    sizes, so at a few M (output positions). Its efficiency at the shape's M is interpolated in
    log2 M between them, and held at the nearest beyond them: a layer run over more positions than
    measured keeps the measured rate, where Shepard's method over (M, K, N) would take it from
    other layers that happened to be measured at that M. On a Zen 4, the first layer of the CIFAR
    network (75 inputs, 6 channels) at batch 32 took the efficiency of MobileNetV2's 1x1 layers
    measured at a similar M, and was predicted 45% slow; from its own layer, measured at batches
    1, 8 and 32, it is 8% fast, and 2% slow at batch 128. Across layers, in (K, N), as
    ``interpolate_shape``: between grid neighbours where they bracket the shape, else Shepard's
    method.
    """
    m, k, n = shape[-3:]
    by_layer: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for pm, pk, pn, fraction in points:
        by_layer.setdefault((pk, pn), []).append((pm, fraction))
    # A layer's efficiency along M is an efficiency curve: linear in log M, flat beyond its ends.
    layers = tuple(
        (pk, pn, EfficiencyCurve(points=tuple(sorted(curve))).at(m))
        for (pk, pn), curve in sorted(by_layer.items())
    )
    return interpolate_shape(layers, (k, n))


@functools.lru_cache(maxsize=256)
def _grid(points: _Points) -> tuple[dict[tuple[float, ...], float], tuple[tuple[float, ...], ...]]:
    """Measured points by their sizes, and each dimension's grid sizes.

    A grid size is one measured at least half as often as the most measured size of its dimension:
    the odd extra shapes (a vocabulary-wide head) are not, and would otherwise bracket products
    between grid sizes with corners nobody measured.
    """
    table = {tuple(sizes): fraction for *sizes, fraction in points}
    axes = []
    for dimension in range(len(points[0]) - 1):
        counts = Counter(point[dimension] for point in points)
        most = max(counts.values(), default=0)
        axes.append(tuple(sorted(size for size, count in counts.items() if 2 * count >= most)))
    return table, tuple(axes)


def _grid_interpolation(points: _Points, shape: tuple[int, ...]) -> float | None:
    """Multilinear interpolation in log2 sizes inside a fully measured grid cell (``None``: not inside one).

    A cell with any other measured point in it (a grid size whose points were too few to count,
    say) is not used: interpolating across it would ignore a measurement nearer the shape.
    """
    if not points or len(shape) != len(points[0]) - 1:
        return None
    table, axes = _grid(points)
    measured_here = table.get(tuple(float(size) for size in shape))
    if measured_here is not None:
        return measured_here
    brackets: list[tuple[tuple[float, float], ...]] = []
    for size, axis in zip(shape, axes, strict=True):
        at = bisect.bisect_left(axis, size)
        if at < len(axis) and axis[at] == size:
            brackets.append(((axis[at], 1.0),))
        elif 0 < at < len(axis):
            lower, upper = axis[at - 1], axis[at]
            share = math.log2(size / lower) / math.log2(upper / lower)
            brackets.append(((lower, 1.0 - share), (upper, share)))
        else:
            return None
    corners = set(itertools.product(*({size for size, _ in sizes} for sizes in brackets)))
    bounds = [(sizes[0][0], sizes[-1][0]) for sizes in brackets]
    for measured in table:
        inside = all(low <= size <= high for size, (low, high) in zip(measured, bounds, strict=True))
        if inside and measured not in corners:
            return None
    total = 0.0
    for corner in itertools.product(*brackets):
        fraction = table.get(tuple(size for size, _ in corner))
        if fraction is None:
            return None
        total += math.prod(weight for _, weight in corner) * fraction
    return total
