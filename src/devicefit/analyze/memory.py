"""The memory model of training and inference: weights, gradients, optimizer state, activations, peaks.

The traced peaks come from ``analyze/cost.py``, which replays a step on fake tensors while a
simulated allocator counts every storage from its creation to its release (rounded as PyTorch's
caching allocator rounds). This module adds what the trace does not run: the optimizer's state
and the temporaries of its step, which depend on the implementation PyTorch picks — one fused
``foreach`` pass over all parameters on GPUs, a loop over parameters on CPUs (``torch.optim``
defaults). It is pure arithmetic, so it is cheap to evaluate for any batch size: the traced
passes arrive as moments whose live bytes are linear in batch size, and the peak is their maximum.
"""

from __future__ import annotations

from collections.abc import Iterable

from devicefit.records import LiveMemory, MemoryEstimate, MemoryKind, ModelCost, TracedMemory

#: Optimizer state per trainable parameter, in parameter-sized buffers (PyTorch's torch.optim):
#: SGD with momentum keeps ``momentum_buffer``; Adam and AdamW keep ``exp_avg`` and ``exp_avg_sq``;
#: RMSprop keeps ``square_avg``, and ``momentum_buffer`` with momentum (torch/optim/rmsprop.py).
OPTIMIZER_STATE_BUFFERS = {
    "sgd": 0,
    "sgd-momentum": 1,
    "adam": 2,
    "adamw": 2,
    "rmsprop": 1,
    "rmsprop-momentum": 2,
}

#: FLOPs per trainable parameter of one optimizer step (multiply-add = 2): SGD ``p -= lr * g``;
#: momentum adds ``b = m * b + g``; Adam(W) updates two moments (3 + 4), forms
#: ``sqrt(v) / bc2 + eps`` (3), applies ``p -= lr / bc1 * m / denom`` (3) and decoupled decay (2).
#: RMSprop: ``v = a * v + (1 - a) * g * g`` (1 + 3), ``sqrt(v) + eps`` (2), ``p -= lr * g / avg`` (3);
#: with momentum, ``b = m * b + g / avg`` (1 + 3) and ``p -= lr * b`` (2) instead of the last.
OPTIMIZER_FLOPS_PER_PARAMETER = {
    "sgd": 2,
    "sgd-momentum": 4,
    "adam": 13,
    "adamw": 15,
    "rmsprop": 9,
    "rmsprop-momentum": 12,
}

#: Parameter-sized tensors one optimizer step reads plus writes, in PyTorch's unfused implementations
#: (the per-parameter loop and ``foreach`` make the same passes): SGD ``p.add_(g)`` reads 2, writes 1;
#: momentum adds ``b.mul_(m)`` (2) and ``b.add_(g)`` (3) and applies ``p.add_(b)`` (3); Adam's
#: ``m.lerp_(g)`` (3), ``v.mul_(b2)`` (2), ``v.addcmul_(g, g)`` (3), ``sqrt(v)`` (2), ``/ bc2`` (2),
#: ``+ eps`` (2), ``p.addcdiv_(m, denom)`` (4); AdamW adds ``p.mul_(1 - lr * wd)`` (2). RMSprop's
#: ``v.mul_(a)`` (2), ``v.addcmul_(g, g)`` (3), ``avg = sqrt(v)`` (2), ``avg.add_(eps)`` (2),
#: ``p.addcdiv_(g, avg)`` (4); with momentum ``b.mul_(m)`` (2), ``b.addcdiv_(g, avg)`` (4) and
#: ``p.add_(b)`` (3) replace the last.
OPTIMIZER_TENSOR_PASSES = {
    "sgd": 3,
    "sgd-momentum": 8,
    "adam": 18,
    "adamw": 20,
    "rmsprop": 13,
    "rmsprop-momentum": 18,
}

#: Memory outside the allocator's statistics, by device kind (an estimate, labelled as such):
#: a CUDA context with cuBLAS and cuDNN handles and loaded kernels takes about 500 MiB on recent
#: drivers; on CPUs the allocator shares RAM with the Python process and PyTorch's libraries.
RUNTIME_OVERHEAD_BYTES = {"cuda": 512 * 2**20, "cpu": 384 * 2**20, "mps": 256 * 2**20}


#: Parameter-sized temporaries the per-parameter loop makes for each parameter: Adam's
#: ``sqrt(exp_avg_sq)`` and its quotient by the bias correction (torch/optim/adam.py
#: ``_single_tensor_adam``); RMSprop's ``square_avg.sqrt()``, to which ``eps`` is added in place
#: (torch/optim/rmsprop.py ``_single_tensor_rmsprop``); SGD updates in place.
LOOP_TEMPORARIES_PER_PARAMETER = {
    "sgd": 0,
    "sgd-momentum": 0,
    "adam": 2,
    "adamw": 2,
    "rmsprop": 1,
    "rmsprop-momentum": 1,
}


def optimizer_transient_bytes(
    optimizer: str, *, trainable_bytes: float, largest_parameter_bytes: float, foreach: bool
) -> float:
    """Temporaries of one optimizer step beyond its persistent state.

    Adam's ``foreach`` implementation materializes ``sqrt(exp_avg_sq)`` for every parameter at once
    (``torch._foreach_sqrt``), one parameter-sized copy of the model, and RMSprop's its
    ``sqrt(square_avg)``; Adam's per-parameter loop makes
    ``sqrt`` and the division one parameter at a time. SGD, with or without momentum, updates in place.
    """
    if not LOOP_TEMPORARIES_PER_PARAMETER[optimizer]:
        return 0.0
    return trainable_bytes if foreach else LOOP_TEMPORARIES_PER_PARAMETER[optimizer] * largest_parameter_bytes


#: The largest batch ``max_batch_size`` reports, for a model whose memory does not grow with the
#: batch (a signed 32-bit count, well past any batch a device holds).
MAX_BATCH = 2**31 - 1


def moment_bytes(moment: LiveMemory, batch_size: float) -> float:
    """The bytes live at a moment of a traced pass, at ``batch_size``."""
    return (
        moment.weights_bytes
        + moment.gradients_bytes
        + moment.activations_bytes
        + moment.transient_bytes
        + batch_size
        * (
            moment.gradients_bytes_per_sample
            + moment.activations_bytes_per_sample
            + moment.transient_bytes_per_sample
        )
    )


def _slope(moment: LiveMemory) -> float:
    return moment_bytes(moment, 1.0) - moment_bytes(moment, 0.0)


def peak_moments(moments: Iterable[LiveMemory]) -> tuple[LiveMemory, ...]:
    """The moments that hold the peak at some batch size from 0 up, by growing batch.

    Each moment's total is a line over batch size and the peak is their maximum, a convex
    piecewise-linear function; only the lines on its upper envelope matter (the convex hull trick:
    by increasing slope, a line leaves the envelope when its neighbours cross above it).
    """
    by_slope: dict[float, LiveMemory] = {}
    for moment in moments:
        slope = _slope(moment)
        if slope not in by_slope or moment_bytes(moment, 0.0) > moment_bytes(by_slope[slope], 0.0):
            by_slope[slope] = moment
    hull: list[LiveMemory] = []

    def crossing(low: LiveMemory, high: LiveMemory) -> float:
        """The batch from which ``high`` (the steeper line) exceeds ``low``."""
        return (moment_bytes(low, 0.0) - moment_bytes(high, 0.0)) / (_slope(high) - _slope(low))

    for slope in sorted(by_slope):
        line = by_slope[slope]
        while len(hull) >= 2 and crossing(hull[-2], line) <= crossing(hull[-2], hull[-1]):
            hull.pop()
        hull.append(line)
    # Lines that lead only at negative batches.
    while len(hull) >= 2 and crossing(hull[0], hull[1]) <= 0:
        hull.pop(0)
    return tuple(hull)


def estimate_memory(
    traced: TracedMemory,
    *,
    optimizer: str,
    foreach: bool,
    memory_kind: MemoryKind,
    batch_size: int | None = None,
) -> MemoryEstimate:
    """Assembles the memory of a steady-state training step and of inference at one batch size.

    A training step peaks either during forward and backward (the traced moments, plus the
    optimizer state, which persists from step to step) or in the optimizer step (what outlives
    backward, plus the state and the step's temporaries); the breakdown is that moment's.

    Args:
        traced: The traced memory model.
        optimizer: One of ``workloads.OPTIMIZERS`` (``sgd``, ``sgd-momentum``, ``adamw``...).
        foreach: Whether the optimizer runs as one ``foreach`` pass (PyTorch's default on GPUs).
        memory_kind: ``cuda``, ``cpu`` or ``mps``, for the runtime overhead.
        batch_size: Evaluate at this batch instead of the traced one.

    Returns:
        The estimate; peaks are allocator-level, the overhead comes on top.
    """
    batch = traced.batch_size if batch_size is None else batch_size
    state = OPTIMIZER_STATE_BUFFERS[optimizer] * traced.trainable_bytes
    step_transient = optimizer_transient_bytes(
        optimizer,
        trainable_bytes=traced.trainable_bytes,
        largest_parameter_bytes=traced.largest_parameter_bytes,
        foreach=foreach,
    )
    moment = max(traced.train_moments, key=lambda m: moment_bytes(m, batch))
    end = traced.train_end
    optimizer_step = moment_bytes(end, batch) + state + step_transient
    if moment_bytes(moment, batch) + state >= optimizer_step:
        phase, held = moment.phase, moment
        activations = moment.activations_bytes + batch * moment.activations_bytes_per_sample
        transient = moment.transient_bytes + batch * moment.transient_bytes_per_sample
    else:
        # What outlives backward besides weights and gradients (the batch's inputs) is transient here.
        phase, held, activations = "optimizer step", end, 0.0
        transient = moment_bytes(end, batch) - end.weights_bytes - end.gradients_bytes
        transient -= batch * end.gradients_bytes_per_sample
        transient += step_transient
    gradients = held.gradients_bytes + batch * held.gradients_bytes_per_sample
    return MemoryEstimate(
        weights_bytes=held.weights_bytes,
        gradients_bytes=gradients,
        optimizer_state_bytes=state,
        master_weights_bytes=0.0,
        activations_bytes=activations,
        transient_bytes=transient,
        overhead_bytes=float(RUNTIME_OVERHEAD_BYTES.get(memory_kind, 0)),
        train_peak_bytes=held.weights_bytes + gradients + state + activations + transient,
        train_peak_phase=phase,
        infer_peak_bytes=max(moment_bytes(m, batch) for m in traced.infer_moments),
        train_bytes_per_sample=max(_slope(m) for m in traced.train_moments),
        infer_bytes_per_sample=max(_slope(m) for m in traced.infer_moments),
    )


def max_batch_size(
    traced: TracedMemory,
    memory_bytes: float,
    *,
    optimizer: str,
    foreach: bool,
    memory_kind: MemoryKind,
    train: bool = True,
) -> int:
    """The largest batch whose peak plus runtime overhead fits in ``memory_bytes`` (0 if none).

    It evaluates the memory model at candidate batches, doubling from 1 until one does not fit,
    then bisecting; the peak is convex in batch size, so the batches that fit form a range and
    the search finds its end whatever batch the model was traced at.
    """

    def fits(batch: int) -> bool:
        memory = estimate_memory(
            traced, optimizer=optimizer, foreach=foreach, memory_kind=memory_kind, batch_size=batch
        )
        peak = memory.train_peak_bytes if train else memory.infer_peak_bytes
        return peak + memory.overhead_bytes <= memory_bytes

    if not fits(1):
        return 0
    low = 1
    while fits(high := min(2 * low, MAX_BATCH)):
        if high == MAX_BATCH:
            return MAX_BATCH
        low = high
    # ``low`` fits, ``high`` does not.
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def optimizer_work(optimizer: str, trainable_parameters: int, element_bytes: int) -> tuple[float, float]:
    """FLOPs and bytes of one optimizer step over ``trainable_parameters`` elements."""
    flops = OPTIMIZER_FLOPS_PER_PARAMETER[optimizer] * trainable_parameters
    return float(flops), float(OPTIMIZER_TENSOR_PASSES[optimizer] * trainable_parameters * element_bytes)


def max_batch_for(
    cost: ModelCost, memory_bytes: float, *, memory_kind: MemoryKind, train: bool = True
) -> int:
    """The largest batch whose training (or inference) peak plus runtime overhead fits in ``memory_bytes``."""
    return max_batch_size(
        cost.traced_memory,
        memory_bytes,
        optimizer=cost.optimizer,
        foreach=cost.foreach,
        memory_kind=memory_kind,
        train=train,
    )
