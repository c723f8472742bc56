"""The memory model of training and inference: weights, gradients, optimizer state, activations, peaks.

The traced peaks come from ``analyze/cost.py``, which replays a step on fake tensors while a
simulated allocator counts every storage from its creation to its release (rounded as PyTorch's
caching allocator rounds). This module adds what the trace does not run: the optimizer's state
and the temporaries of its step, which depend on the implementation PyTorch picks — one fused
``foreach`` pass over all parameters on GPUs, a loop over parameters on CPUs (``torch.optim``
defaults). It is pure arithmetic, so it is cheap to evaluate for any batch size.
"""

from __future__ import annotations

import math

from devicefit.records import MemoryEstimate, TracedMemory

#: Optimizer state per trainable parameter, in parameter-sized buffers (PyTorch's torch.optim):
#: SGD with momentum keeps ``momentum_buffer``; Adam and AdamW keep ``exp_avg`` and ``exp_avg_sq``.
OPTIMIZER_STATE_BUFFERS = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}

#: FLOPs per trainable parameter of one optimizer step (multiply-add = 2): SGD ``p -= lr * g``;
#: momentum adds ``b = m * b + g``; Adam(W) updates two moments (3 + 4), forms
#: ``sqrt(v) / bc2 + eps`` (3), applies ``p -= lr / bc1 * m / denom`` (3) and decoupled decay (2).
OPTIMIZER_FLOPS_PER_PARAMETER = {"sgd": 2, "sgd-momentum": 4, "adam": 13, "adamw": 15}

#: Parameter-sized tensors one optimizer step reads plus writes, in PyTorch's unfused implementations
#: (the per-parameter loop and ``foreach`` make the same passes): SGD ``p.add_(g)`` reads 2, writes 1;
#: momentum adds ``b.mul_(m)`` (2) and ``b.add_(g)`` (3) and applies ``p.add_(b)`` (3); Adam's
#: ``m.lerp_(g)`` (3), ``v.mul_(b2)`` (2), ``v.addcmul_(g, g)`` (3), ``sqrt(v)`` (2), ``/ bc2`` (2),
#: ``+ eps`` (2), ``p.addcdiv_(m, denom)`` (4); AdamW adds ``p.mul_(1 - lr * wd)`` (2).
OPTIMIZER_TENSOR_PASSES = {"sgd": 3, "sgd-momentum": 8, "adam": 18, "adamw": 20}

#: Memory outside the allocator's statistics, by device kind (an estimate, labelled as such):
#: a CUDA context with cuBLAS and cuDNN handles and loaded kernels takes about 500 MiB on recent
#: drivers; on CPUs the allocator shares RAM with the Python process and PyTorch's libraries.
RUNTIME_OVERHEAD_BYTES = {"cuda": 512 * 2**20, "cpu": 384 * 2**20, "mps": 256 * 2**20}


#: Parameter-sized temporaries the per-parameter loop makes for each parameter: Adam's
#: ``sqrt(exp_avg_sq)`` and its quotient by the bias correction (torch/optim/adam.py
#: ``_single_tensor_adam``); SGD updates in place.
LOOP_TEMPORARIES_PER_PARAMETER = {"sgd": 0, "sgd-momentum": 0, "adam": 2, "adamw": 2}


def optimizer_transient_bytes(
    optimizer: str, *, trainable_bytes: float, largest_parameter_bytes: float, foreach: bool
) -> float:
    """Temporaries of one optimizer step beyond its persistent state.

    Adam's ``foreach`` implementation materializes ``sqrt(exp_avg_sq)`` for every parameter at once
    (``torch._foreach_sqrt``), one parameter-sized copy of the model; its per-parameter loop makes
    ``sqrt`` and the division one parameter at a time. SGD, with or without momentum, updates in place.
    """
    if not LOOP_TEMPORARIES_PER_PARAMETER[optimizer]:
        return 0.0
    return trainable_bytes if foreach else LOOP_TEMPORARIES_PER_PARAMETER[optimizer] * largest_parameter_bytes


def estimate_memory(
    traced: TracedMemory, *, optimizer: str, foreach: bool, device_kind: str, batch_size: int | None = None
) -> MemoryEstimate:
    """Assembles the memory of a steady-state training step and of inference.

    Args:
        traced: The traced figures.
        optimizer: ``sgd``, ``sgd-momentum``, ``adam`` or ``adamw``.
        foreach: Whether the optimizer runs as one ``foreach`` pass (PyTorch's default on GPUs).
        device_kind: ``cuda``, ``cpu`` or ``mps``, for the runtime overhead.
        batch_size: Evaluate at this batch instead of the traced one (linear in batch size).

    Returns:
        The estimate; peaks are allocator-level, the overhead comes on top.
    """
    batch_size = traced.batch_size if batch_size is None else batch_size
    extra_samples = batch_size - traced.batch_size
    state = OPTIMIZER_STATE_BUFFERS[optimizer] * traced.trainable_bytes
    gradients = traced.trainable_bytes
    step_transient = optimizer_transient_bytes(
        optimizer,
        trainable_bytes=traced.trainable_bytes,
        largest_parameter_bytes=traced.largest_parameter_bytes,
        foreach=foreach,
    )
    forward_backward = traced.train_peak_bytes + extra_samples * traced.train_bytes_per_sample + state
    optimizer_step = traced.weights_bytes + gradients + state + step_transient
    train_peak = max(forward_backward, optimizer_step)
    activations = traced.activations_bytes * batch_size / traced.batch_size
    persistent = traced.weights_bytes + gradients + state + activations
    return MemoryEstimate(
        weights_bytes=traced.weights_bytes,
        gradients_bytes=gradients,
        optimizer_state_bytes=state,
        master_weights_bytes=0.0,
        activations_bytes=activations,
        transient_bytes=max(train_peak - persistent, 0.0),
        overhead_bytes=float(RUNTIME_OVERHEAD_BYTES.get(device_kind, 0)),
        train_peak_bytes=train_peak,
        infer_peak_bytes=traced.infer_peak_bytes + extra_samples * traced.infer_bytes_per_sample,
        train_bytes_per_sample=traced.train_bytes_per_sample,
        infer_bytes_per_sample=traced.infer_bytes_per_sample,
    )


def max_batch_size(
    traced: TracedMemory,
    memory_bytes: float,
    *,
    optimizer: str,
    foreach: bool,
    device_kind: str,
    train: bool = True,
) -> int:
    """The largest batch whose peak plus runtime overhead fits in ``memory_bytes`` (0 if none).

    The training peak is the larger of the forward-backward peak, linear in batch size, and the
    optimizer step's, which does not depend on it; both must fit.
    """
    at_zero = estimate_memory(
        traced, optimizer=optimizer, foreach=foreach, device_kind=device_kind, batch_size=0
    )
    room = memory_bytes - at_zero.overhead_bytes
    if train:
        step_only = at_zero.weights_bytes + at_zero.gradients_bytes + at_zero.optimizer_state_bytes
        step_only += optimizer_transient_bytes(
            optimizer,
            trainable_bytes=traced.trainable_bytes,
            largest_parameter_bytes=traced.largest_parameter_bytes,
            foreach=foreach,
        )
        if step_only > room:
            return 0
        fixed = traced.train_peak_bytes - traced.batch_size * traced.train_bytes_per_sample
        fixed += at_zero.optimizer_state_bytes
        slope = traced.train_bytes_per_sample
    else:
        fixed, slope = at_zero.infer_peak_bytes, traced.infer_bytes_per_sample
    if fixed > room:
        return 0
    if slope <= 0:
        return 2**31 - 1
    return max(math.floor((room - fixed) / slope), 0)


def optimizer_work(optimizer: str, trainable_parameters: int, element_bytes: int) -> tuple[float, float]:
    """FLOPs and bytes of one optimizer step over ``trainable_parameters`` elements."""
    flops = OPTIMIZER_FLOPS_PER_PARAMETER[optimizer] * trainable_parameters
    return float(flops), float(OPTIMIZER_TENSOR_PASSES[optimizer] * trainable_parameters * element_bytes)
