"""What a step's precision and memory format change on a device: TF32 units, and cuDNN's layout transposes.

``tf32`` traces as fp32 (the same operators on the same bytes); the difference is the unit a
device runs fp32 products and convolutions on, which the device model names
(``fp32_matmul_dtype``, ``fp32_conv_dtype``). Plain ``fp32`` keeps PyTorch's defaults: products in
IEEE fp32, cuDNN convolutions in TF32 where the GPU has it.

Half-precision convolutions on NCHW tensors: tensor cores run convolutions on NHWC data, so cuDNN
transposes an NCHW input to NHWC and the output back ("NCHW layouts can still be operated on by
Tensor Cores, but include some overhead due to automatic transpose operations": NVIDIA, Deep
Learning Performance Documentation, Convolutional Layers User's Guide, "Tensor Layouts in Memory:
NCHW vs NHWC"; PyTorch profiles of such steps show its ``nchwToNhwcKernel`` and
``nhwcToNchwKernel``). A channels-last model pays none of them.
"""

from __future__ import annotations

import dataclasses

from devicefit.predict.curves import efficiency_at, memory_curve
from devicefit.records import DeviceModel, OpCost

#: Precisions whose convolutions cuDNN runs on tensor cores in NHWC (the half types).
HALF_DTYPES = ("fp16", "bf16")


def with_precision(device: DeviceModel, precision: str) -> DeviceModel:
    """The device's model for a step at ``precision``.

    Under ``tf32``, fp32 products and convolutions run on the TF32 units where the device has a
    TF32 rate; otherwise the model is unchanged.
    """
    if precision != "tf32" or "tf32" not in device.peak_flops_per_s:
        return device
    return dataclasses.replace(device, fp32_matmul_dtype="tf32", fp32_conv_dtype="tf32")


def layout_transpose_s(op: OpCost, device: DeviceModel, *, channels_last: bool) -> float:
    """Seconds of the layout transposes a convolution pays beyond its kernel (0 where it pays none).

    Each activation tensor of the call (``OpCost.layout_bytes``) is read and written once, at the
    bandwidth a copy of that size reaches. Only on devices whose conv curves leave them out
    (``DeviceModel.nchw_transpose_dtypes``: calibrated GPUs measured NCHW convolutions, transposes
    included), for a model not in channels-last format.
    """
    if channels_last or not op.layout_bytes or op.dtype not in device.nchw_transpose_dtypes:
        return 0.0
    moved = 2.0 * op.layout_bytes
    # A transpose is a copy kernel: the curve of a ``copy_`` call (``copy``, else elementwise's).
    return moved / (device.bandwidth_bytes_per_s * efficiency_at(memory_curve("copy_", device), moved))
