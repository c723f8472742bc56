"""Efficiency curves: reading one at a size, and which curve (or measured shapes) an operator uses.

An operator's curve is looked up by its family and dtype; a device calibrated before a family was
measured falls back to the curve it refines, and every lookup ends at a flat curve (full speed)
rather than failing.
"""

from __future__ import annotations

import bisect
import functools
import math

from devicefit.records import DeviceModel, EfficiencyCurve, OpCost
from devicefit.records.vocabulary import COLD_SHAPES_KEY, COMPUTE_CURVE_KEY, Curve

#: Operator classes that run on matrix units, with the compute curve they use.
MATRIX_CLASSES = {"matmul": Curve.MATMUL, "conv": Curve.CONV, "attention": Curve.MATMUL}

#: A curve at full speed everywhere: what an operator uses when its device has no curve for it.
FLAT = EfficiencyCurve(points=((1.0, 1.0),))

#: The curve of a convolution's backward, measured on its own (gradients are computed differently).
_BACKWARD = {Curve.CONV: Curve.CONV_BACKWARD, Curve.CONV_DEPTHWISE: Curve.CONV_DEPTHWISE_BACKWARD}

_Points = tuple[tuple[float, float, float, float], ...]


def efficiency_at(curve: EfficiencyCurve, work: float) -> float:
    """Returns the fraction of peak ``curve`` gives at ``work`` (never below 1e-6).

    Piecewise linear in log10(work) between the curve's points, flat beyond the first and last; a
    curve without points is full speed.
    """
    if not curve.points:
        return 1.0
    works = _log_works(curve.points)
    x = math.log10(max(work, 1e-30))
    index = bisect.bisect_left(works, x)
    if index == 0:
        fraction = curve.points[0][1]
    elif index == len(works):
        fraction = curve.points[-1][1]
    else:
        (x0, y0), (x1, y1) = (
            (works[index - 1], curve.points[index - 1][1]),
            (works[index], curve.points[index][1]),
        )
        fraction = y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return max(fraction, 1e-6)


@functools.lru_cache(maxsize=4096)
def _log_works(points: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    """log10 of a curve's works, computed once per curve.

    A prediction reads each curve thousands of times (every operator of every phase of every
    device); recomputing the logarithms each time was most of ``efficiency_at``'s cost.
    """
    return tuple(math.log10(max(w, 1e-30)) for w, _ in points)


def curve_key(family: str, dtype: str) -> str:
    """The key of a compute curve (and of measured shapes) for ``dtype``: ``matmul.fp32``."""
    return COMPUTE_CURVE_KEY.format(family=family, dtype=dtype)


def matrix_curve(op: OpCost, device: DeviceModel) -> tuple[str, str]:
    """The compute curve family and dtype of a matrix operator (``conv_depthwise``, ``tf32``).

    fp32 products and convolutions use the dtype the device runs them in (TF32 where allowed).
    """
    curve = MATRIX_CLASSES[op.op_class]
    dtype = op.dtype if op.dtype in ("bf16", "fp16") else "fp32"
    if dtype == "fp32":
        dtype = device.fp32_conv_dtype if curve == Curve.CONV else device.fp32_matmul_dtype
    return (Curve.CONV_DEPTHWISE if curve == Curve.CONV and op.detail == "depthwise" else curve), dtype


def matmul_points(op: OpCost, device: DeviceModel) -> tuple[str, _Points | None, _Points | None]:
    """The dtype whose measured matrix products an operator's efficiency comes from, warm and cold.

    A matrix operator's own dtype where products of it were measured, else fp32's; ``None`` where
    none were measured warm (or cold).
    """
    dtype = matrix_curve(op, device)[1] if op.op_class in MATRIX_CLASSES else "fp32"
    if dtype not in device.matmul_shapes and COLD_SHAPES_KEY.format(dtype=dtype) not in device.matmul_shapes:
        dtype = "fp32"
    return (
        dtype,
        device.matmul_shapes.get(dtype),
        device.matmul_shapes.get(COLD_SHAPES_KEY.format(dtype=dtype)),
    )


def _backward_curve(op: OpCost, curve: str) -> str | None:
    """The curve of a convolution's backward (``None``: not a convolution's backward)."""
    return _BACKWARD.get(curve) if op.name == "convolution_backward" else None


def _backward_keys(op: OpCost, curve: str, dtype: str) -> tuple[str, ...]:
    """Where a convolution's backward looks for measured layers, best first.

    A first layer's weight-only backward looks for its own, then the full backward's; every other
    backward for the full one's.
    """
    backward = _backward_curve(op, curve)
    if backward is None:
        return ()
    full = curve_key(backward, dtype)
    if op.detail == "weight_only" and backward == Curve.CONV_BACKWARD:
        return (curve_key(Curve.CONV_BACKWARD_WEIGHT, dtype), full)
    return (full,)


def conv_points(op: OpCost, device: DeviceModel) -> _Points:
    """The measured convolutions a dense convolution's efficiency is interpolated from (none: use curves).

    A first layer's weight-only backward falls back to the full backward's layers, a backward to
    the forward's. Depthwise convolutions are bandwidth-bound and keep their own curves.
    """
    if op.op_class != "conv" or op.detail == "depthwise" or not op.shape or not device.conv_shapes:
        return ()
    curve, dtype = matrix_curve(op, device)
    for key in _backward_keys(op, curve, dtype):
        if device.conv_shapes.get(key):
            return device.conv_shapes[key]
    return device.conv_shapes.get(curve_key(curve, dtype), ())


def lstm_points(op: OpCost, device: DeviceModel) -> _Points:
    """The measured LSTM layers of a recurrent layer's pass (its backward's, else the forward's)."""
    forward = curve_key(Curve.LSTM, "fp32")
    key = curve_key(Curve.LSTM_BACKWARD, "fp32") if op.name.endswith("_backward") else forward
    return device.lstm_shapes.get(key) or device.lstm_shapes.get(forward) or ()


def compute_curve(op: OpCost, device: DeviceModel) -> EfficiencyCurve:
    """A matrix operator's compute curve.

    A missing curve falls back to the forward's, the same dtype's matrix products, then fp32's.
    """
    curve, dtype = matrix_curve(op, device)
    backward = _backward_curve(op, curve)
    return (
        (device.compute.get(curve_key(backward, dtype)) if backward else None)
        or device.compute.get(curve_key(curve, dtype))
        or device.compute.get(curve_key(Curve.MATMUL, dtype))
        or device.compute.get(curve_key(curve, "fp32"))
        or device.compute.get(curve_key(Curve.MATMUL, "fp32"))
        or FLAT
    )


#: Operators with a memory curve of their own (what their micro-benchmark measured); every other
#: operator uses ``elementwise`` (or ``copy`` for data movement).
_MEMORY_FAMILIES = {
    Curve.CONV_DEPTHWISE: Curve.CONV_DEPTHWISE,
    Curve.CONV_DEPTHWISE_BACKWARD: Curve.CONV_DEPTHWISE_BACKWARD,
    "native_batch_norm": Curve.BATCH_NORM,
    "_native_batch_norm_legit": Curve.BATCH_NORM,
    "_batch_norm_with_update": Curve.BATCH_NORM,
    "native_batch_norm_backward": Curve.BATCH_NORM_BACKWARD,
    "_native_batch_norm_legit_no_training": Curve.BATCH_NORM_INFER,
    "native_layer_norm": Curve.LAYER_NORM,
    "native_layer_norm_backward": Curve.LAYER_NORM,
    "_softmax": Curve.SOFTMAX,
    "_safe_softmax": Curve.SOFTMAX,
    "_log_softmax": Curve.SOFTMAX,
    "_softmax_backward_data": Curve.SOFTMAX,
    "_log_softmax_backward_data": Curve.SOFTMAX,
    "max_pool2d_with_indices": Curve.MAX_POOL,
    "max_pool2d_with_indices_backward": Curve.MAX_POOL_BACKWARD,
    Curve.MAX_POOL_2X2: Curve.MAX_POOL_2X2,
    **dict.fromkeys(
        (
            "gelu",
            "gelu_backward",
            "silu",
            "silu_backward",
            "sigmoid",
            "exp",
            "erf",
            "log",
            "softplus",
            "softplus_backward",
            "mish",
            "pow",
        ),
        Curve.ACTIVATION,
    ),
    # Functions of tanh, several times dearer than erf's on CPUs (tanh-approximate GELU gets here by
    # its ``detail``). The backward of tanh or sigmoid reuses the output: plain elementwise.
    "tanh": Curve.ACTIVATION_TANH,
    Curve.ACTIVATION_TANH: Curve.ACTIVATION_TANH,
    **dict.fromkeys(
        ("bernoulli_", "bernoulli", "uniform_", "normal_", "random_", "native_dropout"), Curve.RANDOM
    ),
}

#: Families measured later than the one they refine, which older calibrations use instead.
_REFINES = {
    Curve.ACTIVATION_TANH: Curve.ACTIVATION,
    Curve.MAX_POOL_2X2: Curve.MAX_POOL,
    Curve.MAX_POOL_BACKWARD: Curve.MAX_POOL,
}

_COPIES = {
    "copy_",
    "_to_copy",
    "clone",
    "cat",
    "stack",
    "index_select",
    "gather",
    "embedding",
    "embedding_dense_backward",
    "constant_pad_nd",
    "contiguous",
}

#: Operator details that name a memory family of their own.
_DETAIL_FAMILIES = {"tanh": Curve.ACTIVATION_TANH, "2x2": Curve.MAX_POOL_2X2}


def memory_curve(name: str, device: DeviceModel) -> EfficiencyCurve:
    """The memory curve of an operator (or family): its family's if measured, else elementwise's.

    Calibrations from before a family was measured fall back to the one it refines:
    ``activation_tanh`` to ``activation``, ``max_pool_2x2`` and ``max_pool_backward`` to
    ``max_pool``; ``batch_norm_infer`` (as fast as elementwise kernels, not as training's batch
    norm) to ``elementwise``.
    """
    family = _MEMORY_FAMILIES.get(name) or (Curve.COPY if name in _COPIES else Curve.ELEMENTWISE)
    if family not in device.memory:
        family = _REFINES.get(family, family)
    return device.memory.get(family) or device.memory.get(Curve.ELEMENTWISE) or FLAT


def op_memory_curve(op: OpCost, device: DeviceModel) -> EfficiencyCurve:
    """The memory curve of one operator call, by its name and its detail."""
    family = _DETAIL_FAMILIES.get(op.detail, op.name)
    if op.detail == "depthwise":
        # Depthwise convolutions are bandwidth-bound: their own curves, the backward's if measured.
        measured = op.name == "convolution_backward" and Curve.CONV_DEPTHWISE_BACKWARD in device.memory
        family = Curve.CONV_DEPTHWISE_BACKWARD if measured else Curve.CONV_DEPTHWISE
    return memory_curve(family, device)


def stream_curve(device: DeviceModel) -> EfficiencyCurve:
    """STREAM's curve: a pass over many arrays at once (an optimizer step), else elementwise's."""
    return device.memory.get(Curve.STREAM) or device.memory.get(Curve.ELEMENTWISE) or FLAT
