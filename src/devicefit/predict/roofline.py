"""Predicts a model's step time on a device: a roofline per operator, calibrated, plus host overheads.

For each operator call of the traced step: compute time is its FLOPs over the device's peak for its
dtype times an efficiency that depends on its size (small matrix products use a device poorly);
memory time is its bytes over the bandwidth times an efficiency that depends on its size (small
copies never reach full bandwidth). The kernel takes the larger of the two (Williams, Waterman and
Patterson, "Roofline", CACM 2009). Host costs come on top: every call is dispatched (and on GPUs
launched), every module call runs Python. On a CPU these costs add to the kernels; on a GPU the
host runs ahead, so each call costs the larger of its launch and its kernel, and a phase costs at
least the host's own time. The optimizer step is modelled from PyTorch's implementations.

The trade-off: operators are independent and shapes enter only through their FLOPs and bytes;
fusion, overlap between operators and cache reuse across them are not modelled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from devicefit.analyze.memory import LOOP_TEMPORARIES_PER_PARAMETER, estimate_memory, max_batch_size
from devicefit.analyze.opclass import VIEWS
from devicefit.analyze.shapes import padded_channels, runs_blocked
from devicefit.predict.curves import (
    MATRIX_CLASSES,
    compute_curve,
    conv_points,
    efficiency_at,
    matmul_points,
    matrix_curve,
    op_memory_curve,
    stream_curve,
)
from devicefit.predict.gpu_kernels import op_product_s
from devicefit.predict.interpolate import interpolate_layers, interpolate_shape
from devicefit.predict.precision import layout_transpose_s, with_precision
from devicefit.predict.recurrent import lstm_layer_s
from devicefit.records import ClassTime, DeviceModel, MemoryKind, ModelCost, OpCost, Prediction

#: Operator calls per parameter tensor of one optimizer step in PyTorch's per-parameter loop
#: (torch/optim/sgd.py, adam.py, adamw.py ``_single_tensor_*``): SGD ``add_``; momentum ``mul_``,
#: ``add_``, ``add_``; Adam ``lerp_``, ``mul_``, ``addcmul_``, ``sqrt``, ``div``, ``add_``,
#: ``addcdiv_`` and the step counter's ``add_``; AdamW also ``mul_`` for decoupled weight decay;
#: RMSprop (rmsprop.py) the step counter's ``add_``, ``mul_``, ``addcmul_``, ``sqrt``, ``add_`` and
#: ``addcdiv_``, with momentum ``mul_``, ``addcdiv_`` and ``add_`` for the last.
OPTIMIZER_OPS_PER_TENSOR = {
    "sgd": 1,
    "sgd-momentum": 3,
    "adam": 8,
    "adamw": 9,
    "rmsprop": 6,
    "rmsprop-momentum": 8,
}
#: ``foreach`` operator calls of one step over all tensors at once (``_multi_tensor_*``).
OPTIMIZER_FOREACH_CALLS = {
    "sgd": 1,
    "sgd-momentum": 3,
    "adam": 8,
    "adamw": 9,
    "rmsprop": 6,
    "rmsprop-momentum": 8,
}


@dataclass(frozen=True, slots=True)
class _OpTime:
    compute_s: float
    memory_s: float
    overhead_s: float


_Points = tuple[tuple[float, float, float, float], ...]


def blocked_conv(op: OpCost, device: DeviceModel) -> tuple[float, tuple[int, ...]]:
    """A convolution's FLOPs and implicit product shape with its output channels padded to whole blocks.

    Only convolutions that run channel-blocked at the device's thread count (``channel_blocking``)
    on a device that blocks channels (``conv_channel_block``) change.
    """
    flops = op.flops or 0.0
    block = device.conv_channel_block
    if block <= 1 or len(op.shape) != 3 or not runs_blocked(op.channel_blocking, device.num_threads):
        return flops, op.shape
    m, k, n = op.shape
    padded = int(padded_channels(n, block))
    return flops * padded / n if n else flops, (m, k, padded)


def _lstm_s(op: OpCost, points: _Points, recurrent_points: _Points, peak: float) -> float:
    # An LSTM layer multiplies all T x B inputs by the input weights at once, then runs T small
    # recurrent products of B rows by H x 4H, one per step: two very different efficiencies. The
    # recurrent weights are reused at every step: the cache holds them (warm products).
    steps, rows, inputs, gates = op.shape
    hidden = gates // 4
    input_part = 2.0 * steps * rows * inputs * gates
    recurrent_part = 2.0 * steps * rows * hidden * gates
    scale = (op.flops or 0.0) / (input_part + recurrent_part)  # backward does the products twice
    input_s = input_part / (peak * max(interpolate_shape(points, (steps * rows, inputs, gates)), 1e-6))
    recurrent_s = recurrent_part / (
        peak * max(interpolate_shape(recurrent_points, (rows, hidden, gates)), 1e-6)
    )
    return scale * (input_s + recurrent_s)


def _wave_utilization(op: OpCost, device: DeviceModel) -> float:
    """Share of the multiprocessors busy over a product's waves of output tiles (1 if unknown).

    A product of M x N outputs in tiles of ``matmul_tile`` runs ``ceil(tiles / SMs)`` waves; the last
    one may leave most multiprocessors idle (wave quantization). Products of fewer tiles than
    multiprocessors count as full: libraries split them along K (split-K), and their intensity
    already says they run far from peak.
    """
    if not (device.matmul_tile and device.num_multiprocessors and op.shape and op.flops):
        return 1.0
    m, k, n = op.shape[-3:]
    products = max(round(op.flops / (2.0 * m * k * n)), 1) if m * k * n else 1
    tiles = products * math.ceil(m / device.matmul_tile[0]) * math.ceil(n / device.matmul_tile[1])
    if tiles <= device.num_multiprocessors:
        return 1.0
    waves = math.ceil(tiles / device.num_multiprocessors)
    return tiles / (waves * device.num_multiprocessors)


def _shape_s(op: OpCost, points: _Points, peak: float, warm: _Points) -> float:
    if op.name.startswith("mkldnn_rnn_layer"):
        return _lstm_s(op, points, warm, peak)
    return (op.flops or 0.0) / (peak * max(interpolate_shape(points, op.shape), 1e-6))


def op_time(op: OpCost, device: DeviceModel, *, host_overhead_s: float, cold_share: float = 1.0) -> _OpTime:
    """Compute, memory and host time of one operator call (seconds).

    ``cold_share``: how much of the step's data comes from memory rather than the last-level cache
    (0 when the whole step fits in it); matrix products interpolate between their warm and cold
    measurements by it.
    """
    if op.name in VIEWS:
        return _OpTime(0.0, 0.0, device.view_overhead_s)
    flops = op.flops or 0.0
    moved = op.bytes_read + op.bytes_written
    dtype, warm, cold = matmul_points(op, device)
    layers = conv_points(op, device)
    lstm_s = lstm_layer_s(op, device)
    if lstm_s is not None:
        compute = lstm_s
    elif layers:
        work, shape = blocked_conv(op, device)
        compute = work / (
            device.peak(matrix_curve(op, device)[1]) * max(interpolate_layers(layers, shape), 1e-6)
        )
    elif op.op_class != "conv" and op.op_class in MATRIX_CLASSES and op.shape and (warm or cold):
        peak = device.peak(dtype)
        warm, cold = warm or cold or (), cold or warm or ()
        compute = (1 - cold_share) * _shape_s(op, warm, peak, warm) + cold_share * _shape_s(
            op, cold, peak, warm
        )
    elif op.op_class in MATRIX_CLASSES and (fitted := op_product_s(op, device, matrix_curve(op, device)[1])):
        compute = fitted
    elif op.op_class in MATRIX_CLASSES:
        dtype = matrix_curve(op, device)[1]
        efficiency = efficiency_at(compute_curve(op, device), flops / moved if moved else 1e3)
        compute = blocked_conv(op, device)[0] / (
            device.peak(dtype) * efficiency * _wave_utilization(op, device)
        )
    else:
        compute = flops / device.peak("fp32")
    curve = op_memory_curve(op, device)
    memory = moved / (device.bandwidth_bytes_per_s * efficiency_at(curve, moved)) if moved else 0.0
    if op.op_class == "conv":
        host_overhead_s = max(host_overhead_s, device.conv_overhead_s)
    return _OpTime(compute, memory, host_overhead_s)


def _phase(
    ops: Sequence[OpCost],
    device: DeviceModel,
    *,
    host_overhead_s: float,
    extra_host_s: float,
    classes: dict[str, list[float]],
    cold_share: float,
    channels_last: bool = False,
) -> float:
    """Time of a sequence of calls; accumulates per-class compute, memory, overhead, time and count."""
    host = serial = 0.0
    for op in ops:
        t = op_time(op, device, host_overhead_s=host_overhead_s, cold_share=cold_share)
        # cuDNN's NCHW <-> NHWC transposes run as kernels of their own, before and after the convolution.
        transposes = layout_transpose_s(op, device, channels_last=channels_last)
        kernel = max(t.compute_s, t.memory_s) + transposes + fresh_output_s(op, device)
        step = max(kernel, t.overhead_s) if device.asynchronous else kernel + t.overhead_s
        host += t.overhead_s
        serial += step
        totals = classes[op.op_class]
        totals[0] += step
        totals[1] += t.compute_s if t.compute_s >= t.memory_s else 0.0
        totals[2] += (
            (t.memory_s if t.memory_s > t.compute_s else 0.0) + transposes + fresh_output_s(op, device)
        )
        totals[3] += t.overhead_s
        totals[4] += 1
    if device.asynchronous:
        # The host must also finish its own work (launches and Python) before the phase ends.
        return max(serial, host + extra_host_s)
    return serial + extra_host_s


def _optimizer_s(cost: ModelCost, device: DeviceModel) -> float:
    # One pass over the weights, gradients and optimizer state, at STREAM's bandwidth for a pass over
    # that many bytes: a small model's (an MLP's 20 MB) stays in the last-level cache from the
    # backward to the optimizer, a large one's streams from memory.
    curve = stream_curve(device)
    memory = cost.optimizer_bytes / (
        device.bandwidth_bytes_per_s * efficiency_at(curve, cost.optimizer_bytes)
    )
    if device.asynchronous:
        return max(memory, OPTIMIZER_FOREACH_CALLS[cost.optimizer] * device.op_overhead_s)
    per_tensor = device.optimizer_tensor_s.get(cost.optimizer)
    if per_tensor is None:
        per_tensor = OPTIMIZER_OPS_PER_TENSOR[cost.optimizer] * device.op_overhead_s
    per_step = device.optimizer_step_s.get(cost.optimizer, 0.0)
    return memory + per_step + per_tensor * cost.num_parameter_tensors


#: The largest mmap threshold of glibc's malloc on 64-bit systems (malloc/malloc.c,
#: ``DEFAULT_MMAP_THRESHOLD_MAX``): larger allocations are mapped afresh and unmapped when freed.
FRESH_ALLOCATION_BYTES = 32 * 2**20


def fresh_training_bytes(cost: ModelCost) -> tuple[float, float]:
    """Bytes of fresh pages every CPU training step writes: (gradients, optimizer temporaries).

    A training loop frees its gradients every step (``zero_grad(set_to_none=True)``); on a CPU, the
    gradient of each parameter above the allocator's mapping threshold comes back as fresh pages,
    and so do Adam's per-parameter temporaries of it (an LM's embedding: hundreds of MB per step).
    What the device's allocator costs per fresh byte is measured (0 where it keeps its memory, as
    GPU caching allocators do). Activations are not counted: whether they get fresh pages depends on
    the allocator's history, which no analysis knows.
    """
    fresh = sum(b for b in cost.parameter_tensor_bytes if b > FRESH_ALLOCATION_BYTES)
    return fresh, LOOP_TEMPORARIES_PER_PARAMETER[cost.optimizer] * fresh


def fresh_output_s(op: OpCost, device: DeviceModel) -> float:
    """Seconds an operator spends faulting in its output's fresh pages (0 below the mapping threshold).

    An output above glibc's largest mmap threshold (``FRESH_ALLOCATION_BYTES``) is mapped afresh
    at every call and unmapped when freed, whatever the allocator's history: its first write pays
    the page faults the calibration measured per byte (``first_touch``). In-place operators and
    views allocate nothing. On a 2-vCPU EPYC VM a 1-channel 3x3 convolution to 24 channels on
    93x93 maps at batch 127, then batch norm and ReLU (105 MB outputs each, inference) ran in
    308 ms at one thread, where its kernels took 109 ms; 316 MB at the measured 0.68 ns per fresh
    byte is 215 ms.
    """
    if device.asynchronous or not device.first_touch_s_per_byte or op.name in VIEWS or op.name.endswith("_"):
        return 0.0
    if op.bytes_written <= FRESH_ALLOCATION_BYTES:
        return 0.0
    return op.bytes_written * device.first_touch_s_per_byte


def first_touch_s(cost: ModelCost, device: DeviceModel) -> tuple[float, float]:
    """Seconds a training step spends faulting in fresh pages: (backward, optimizer)."""
    if device.asynchronous or not device.first_touch_s_per_byte:
        return 0.0, 0.0
    gradients, temporaries = fresh_training_bytes(cost)
    return gradients * device.first_touch_s_per_byte, temporaries * device.first_touch_s_per_byte


def cold_share(working_set_bytes: float, cache_bytes: float | None) -> float:
    """How much of a step's data comes from memory rather than the last-level cache.

    0 when its working set (the step's peak memory) fits in the cache, 1 from twice the cache on,
    log-linear between.
    """
    if not cache_bytes or working_set_bytes <= cache_bytes:
        return 0.0 if cache_bytes else 1.0
    return min(math.log2(working_set_bytes / cache_bytes), 1.0)


def predict_step(cost: ModelCost, device: DeviceModel, *, mode: str, memory_kind: MemoryKind) -> Prediction:
    """Predicts one training step (``mode="train"``) or inference pass (``"infer"``) of a traced model.

    Args:
        cost: The traced model (its ops, memory model and sizes).
        device: The device's performance model.
        mode: ``train`` or ``infer``.
        memory_kind: The memory kind (``MemoryKind``: ``cuda``, ``cpu`` or ``mps``), for the memory
            model's runtime overhead.
    """
    device = with_precision(device, cost.precision)
    # The memory model for this device: optimizers run foreach everywhere but on CPUs.
    foreach = memory_kind != "cpu"
    memory = estimate_memory(
        cost.traced_memory, optimizer=cost.optimizer, foreach=foreach, memory_kind=memory_kind
    )
    peak = memory.train_peak_bytes if mode == "train" else memory.infer_peak_bytes
    share = cold_share(peak, device.cache_bytes)
    classes: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    modules_s = cost.num_module_calls * device.module_overhead_s
    if mode == "train":
        forward_ops = [op for op in cost.ops if op.phase == "forward"]
        backward_ops = [op for op in cost.ops if op.phase == "backward"]
    else:
        forward_ops, backward_ops = list(cost.infer_ops), []
    # A training forward records the autograd graph as it goes: each call costs more than in inference.
    recorded = device.recorded_op_overhead_s if mode == "train" else None
    forward = _phase(
        forward_ops,
        device,
        host_overhead_s=recorded or device.op_overhead_s,
        extra_host_s=modules_s,
        classes=classes,
        cold_share=share,
        channels_last=cost.channels_last,
    )
    backward = _phase(
        backward_ops,
        device,
        host_overhead_s=device.backward_op_overhead_s,
        extra_host_s=0.0,
        classes=classes,
        cold_share=share,
        channels_last=cost.channels_last,
    )
    optimizer = _optimizer_s(cost, device) if mode == "train" else 0.0
    gradient_pages, temporary_pages = first_touch_s(cost, device) if mode == "train" else (0.0, 0.0)
    # The gradients' fresh pages are faulted by the backward operators that write them, where those
    # outputs already paid for them (``fresh_output_s``): counted once.
    gradient_pages = max(gradient_pages - sum(fresh_output_s(op, device) for op in backward_ops), 0.0)
    backward += gradient_pages
    optimizer += temporary_pages
    transfer = cost.input_bytes / device.host_link_bytes_per_s if device.host_link_bytes_per_s else 0.0
    breakdown = tuple(
        ClassTime(
            op_class=name, time_s=v[0], compute_s=v[1], memory_s=v[2], overhead_s=v[3], num_ops=int(v[4])
        )
        for name, v in sorted(classes.items(), key=lambda item: -item[1][0])
    )
    step = forward + backward + optimizer
    capacity = device.memory_bytes
    fits = None if capacity is None else peak + memory.overhead_bytes <= capacity
    largest = None
    if capacity is not None:
        largest = max_batch_size(
            cost.traced_memory,
            capacity,
            optimizer=cost.optimizer,
            foreach=foreach,
            memory_kind=memory_kind,
            train=mode == "train",
        )
    bounded = {"compute": 0.0, "memory": 0.0, "overhead": modules_s}
    for item in breakdown:
        bounded[item.bound] += item.time_s
    return Prediction(
        model=cost.model,
        device=device.device,
        device_name=device.name,
        batch_size=cost.batch_size,
        precision=cost.precision,
        mode=mode,
        step_time_s=step,
        forward_s=forward,
        backward_s=backward,
        optimizer_s=optimizer,
        transfer_s=transfer,
        compute_s=bounded["compute"],
        memory_s=bounded["memory"] + optimizer + gradient_pages,
        overhead_s=bounded["overhead"],
        breakdown=breakdown,
        peak_memory_bytes=peak,
        memory_capacity_bytes=capacity,
        fits=fits,
        max_batch_size=largest,
        memory=memory,
        error_band=device.error_band,
        calibration=device.source,
        origin=device.origin,
        warnings=device.warnings,
        host=device.host if device.kind == "gpu" else "",
        channels_last=cost.channels_last,
    )
