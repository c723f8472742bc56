"""Lowers convolutions and LSTM layers to the matrix products they run; when CPUs block channels.

A convolution's geometry (window, stride, output size) for the GPU kernel model's algorithm too.
Pure arithmetic on sizes, free of torch: the analysis shapes traced layers with it, the calibration fit
shapes measured ones, and the roofline pads their channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


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

#: Below this batch, ATen runs an unstrided fp32 1x1 convolution on one thread by its own kernels.
THREADED_BELOW_BATCH = 16


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
    if all(size == 1 for size in kernel) and not strided and batch < THREADED_BELOW_BATCH:
        return "threaded"
    return "always"


def channel_blocking_at(channel_blocking: str, traced_batch: int, batch: int) -> str | None:
    """A convolution's ``conv_channel_blocking`` at ``batch``, from its value at ``traced_batch``.

    Above batch 1 the answer no longer depends on the input's size: only ``threaded`` layers (unstrided
    fp32 1x1) change, to ``always`` from ``THREADED_BELOW_BATCH`` on. ``None`` when one value cannot
    tell the other: either batch is 1, or an ``always`` seen at or above that threshold may be an
    unstrided 1x1 layer that is ``threaded`` below it. ``""`` (not a convolution) stays ``""``.
    """
    if not channel_blocking or batch == traced_batch:
        return channel_blocking
    if min(batch, traced_batch) < 2:
        return None
    if channel_blocking == "threaded":
        return "threaded" if batch < THREADED_BELOW_BATCH else "always"
    if channel_blocking == "always" and traced_batch >= THREADED_BELOW_BATCH > batch:
        return None
    return channel_blocking


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


def conv_geometry(name: str, args: Any, outputs: Sequence[Any]) -> dict[str, tuple[int, ...]]:
    """Window, stride and output size of an ungrouped, undilated, not transposed convolution call.

    The fields ``OpCost.window``, ``stride`` and ``output_size`` of an ATen ``convolution`` or
    ``convolution_backward`` call; empty for other calls and other convolutions.
    """
    if name not in ("convolution", "convolution_backward"):
        return {}
    # Forward: (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups);
    # backward: (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, ...).
    first = 3 if name == "convolution" else 4
    weight = args[1] if name == "convolution" else args[2]
    stride, dilation, transposed, groups = args[first], args[first + 2], args[first + 3], args[first + 5]
    out = outputs[0] if name == "convolution" else args[0]
    if transposed or groups != 1 or any(d != 1 for d in dilation) or out.dim() < 3:
        return {}
    return {
        "window": tuple(int(d) for d in weight.shape[2:]),
        "stride": tuple(int(s) for s in stride),
        "output_size": tuple(int(d) for d in out.shape[2:]),
    }
