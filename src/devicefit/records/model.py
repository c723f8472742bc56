"""Records of model analysis: per-op costs, layers, operator classes, memory, and the whole step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCost:
    """One ATen operator call of a traced step.

    Attributes:
        name: Operator name without namespace (``addmm``).
        op_class: One of ``analyze.opclass.OP_CLASSES``.
        module: Innermost module running it (``layer1.0.conv1``), ``""`` at top level.
        phase: ``forward`` or ``backward``.
        flops: Floating-point operations (a multiply-add is 2); ``None`` when no formula applies.
        bytes_read: Bytes of the distinct tensors it reads.
        bytes_written: Bytes of the tensors it writes.
        dtype: Element type of its first output (``fp32``, ``bf16``...).
        detail: What sets it apart within its class (``depthwise`` convolutions), else ``""``.
        shape: (M, K, N) of a matrix product, (T, B, I, 4H) of an LSTM layer, else empty.
        channel_blocking: For a convolution, when a CPU runs it in channel-blocked layouts
            (``conv_channel_blocking``): ``always``, ``threaded`` or ``never``; else ``""``.
        layout_bytes: For a convolution, the bytes of its activation tensors (input and output;
            in backward the output's gradient, the input and the input's gradient), not the
            weights: what a change of memory layout of each would read and write once.
        window: For an ungrouped, undilated, not transposed convolution, its kernel's spatial
            size (``(3, 3)``); else empty (what picks a GPU's convolution algorithm: Winograd).
        stride: Its stride, for the same convolutions; else empty.
        output_size: Its output's spatial size, for the same convolutions; else empty.
    """

    name: str
    op_class: str
    module: str
    phase: str
    flops: float | None
    bytes_read: float
    bytes_written: float
    dtype: str
    detail: str = ""
    shape: tuple[int, ...] = ()
    channel_blocking: str = ""
    layout_bytes: float = 0.0
    window: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    output_size: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCost:
    """The cost of one leaf module in a step (the per-layer table of ``profile``)."""

    name: str
    type: str
    num_parameters: int
    forward_flops: float
    backward_flops: float
    bytes_moved: float
    activation_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassCost:
    """The cost of one operator class in a step."""

    op_class: str
    num_ops: int
    forward_flops: float
    backward_flops: float
    forward_bytes: float
    backward_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveMemory:
    """The bytes live at one moment of a traced pass, by kind, as linear functions of batch size.

    At batch ``b`` a kind holds ``*_bytes + b * *_bytes_per_sample`` (the weights do not grow).
    Two traces at different batches give the two coefficients of each moment.

    Attributes:
        phase: ``forward``, ``backward``, or ``end`` (what outlives the pass).
        weights_bytes: Parameters and buffers.
        gradients_bytes: Storages that end as a parameter's gradient, at batch 0.
        activations_bytes: Storages saved for backward (saved inputs included), at batch 0.
        transient_bytes: Everything else: temporaries, inputs not saved, the loss, at batch 0.
        gradients_bytes_per_sample: Growth of the gradients per sample.
        activations_bytes_per_sample: Growth of the activations per sample.
        transient_bytes_per_sample: Growth of the transient bytes per sample.
    """

    phase: str
    weights_bytes: float
    gradients_bytes: float
    activations_bytes: float
    transient_bytes: float
    gradients_bytes_per_sample: float
    activations_bytes_per_sample: float
    transient_bytes_per_sample: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedMemory:
    """What the traced steps measured, as a memory model over batch size (bytes, allocator-level).

    Each pass is kept as the moments that hold its peak at some batch size: the peak at batch ``b``
    is the largest of their totals at ``b``, exact when every allocation grows linearly with the
    batch (fake tensors have no data-dependent sizes).

    Attributes:
        batch_size: The batch the step was traced at (``profile``'s and ``predict``'s batch).
        traced_batch_sizes: The two batches whose traces fitted the moments.
        weights_bytes: Parameters and buffers.
        trainable_bytes: Parameters that receive gradients.
        largest_parameter_bytes: The largest single parameter (per-parameter optimizer temporaries).
        train_moments: Moments of forward, loss and backward that hold the training peak at some batch.
        train_end: What outlives the backward pass (weights, gradients, inputs): the optimizer step's base.
        infer_moments: Moments of a no-grad forward pass that hold the inference peak at some batch.
    """

    batch_size: int
    traced_batch_sizes: tuple[int, int]
    weights_bytes: float
    trainable_bytes: float
    largest_parameter_bytes: float
    train_moments: tuple[LiveMemory, ...]
    train_end: LiveMemory
    infer_moments: tuple[LiveMemory, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryEstimate:
    """Memory of a training step and of inference at one batch size, allocator-level, in bytes.

    ``train_peak_bytes`` and ``infer_peak_bytes`` are what a caching allocator's peak statistic
    would show (``torch.cuda.max_memory_allocated``); ``overhead_bytes`` (runtime, context,
    libraries) comes on top when deciding whether a device has room. The parts describe the
    moment of the training peak and add up to it: weights + gradients + optimizer state + master
    weights + activations + transient = ``train_peak_bytes``.

    Attributes:
        weights_bytes: Parameters and buffers.
        gradients_bytes: Gradients live at the peak (all of them at the optimizer step, none
            during a forward pass: ``zero_grad`` frees them).
        optimizer_state_bytes: Momentum and second-moment buffers.
        master_weights_bytes: fp32 copies kept beside low-precision weights (0 under autocast,
            where the weights themselves are the fp32 master copy).
        activations_bytes: Tensors saved by the forward pass for backward, live at the peak (none
            at the optimizer step).
        transient_bytes: What the peak holds beyond the above: temporaries, casts, the batch's
            inputs, the optimizer step's temporaries.
        overhead_bytes: Runtime and context memory outside the allocator (CUDA context...).
        train_peak_bytes: Peak of a steady-state training step.
        train_peak_phase: Where it happens: ``forward``, ``backward`` or ``optimizer step``.
        infer_peak_bytes: Peak of a no-grad forward pass.
        train_bytes_per_sample: Growth of the training peak per added sample once activations
            hold it (at large batches; at small ones the optimizer step may hold it instead).
        infer_bytes_per_sample: Growth of the inference peak per added sample, at large batches.
    """

    weights_bytes: float
    gradients_bytes: float
    optimizer_state_bytes: float
    master_weights_bytes: float
    activations_bytes: float
    transient_bytes: float
    overhead_bytes: float
    train_peak_bytes: float
    train_peak_phase: str
    infer_peak_bytes: float
    train_bytes_per_sample: float
    infer_bytes_per_sample: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCost:
    """A model's compute and memory needs for one batch size and precision, from a traced step.

    Attributes:
        model: Workload name.
        batch_size: Samples per step.
        sequence_length: Tokens per sample, for sequence models.
        precision: A name of ``vocabulary.PRECISIONS`` (``fp32``, ``tf32``, ``bf16``, ``fp16``, ``amp``).
        optimizer: The optimizer of the training step.
        num_parameters: Parameters (trainable and frozen).
        num_trainable_parameters: Parameters that receive gradients.
        forward_flops: FLOPs of the forward pass and the loss, whole batch.
        backward_flops: FLOPs of the backward pass, whole batch.
        optimizer_flops: FLOPs of one optimizer step.
        forward_bytes: Bytes read plus written by the forward ops.
        backward_bytes: Bytes read plus written by the backward ops.
        optimizer_bytes: Bytes the optimizer step reads plus writes.
        flop_coverage: Share of operator calls with a FLOP formula (PyTorch's or devicefit's).
        uncounted_ops: Names of operators without a formula.
        num_parameter_tensors: Trainable parameter tensors (the optimizer loops over them).
        parameter_tensor_bytes: Bytes of each trainable parameter tensor, largest first: a CPU
            allocator hands the largest fresh pages every step (their gradients and temporaries).
        input_bytes: Bytes of one batch of inputs (what a host-to-device copy moves).
        num_module_calls: Module forward calls per forward pass (each costs Python time).
        ops: Every operator call of the training step (forward and backward).
        infer_ops: Every operator call of an inference pass (eval mode, no grad).
        layers: Per leaf module, in execution order.
        classes: Per operator class.
        memory: The memory model at this batch size.
        traced_memory: What the traces measured, to evaluate the memory model at other batch sizes.
        foreach: Whether the memory model assumes the optimizer's ``foreach`` implementation.
        method: How the step was traced (``fake tensors``, or the real-CPU fallback).
        warnings: What the reader should know about these numbers.
        channels_last: The model and its 4-D inputs were converted to channels-last memory format.
        derived_from_batches: The two traced batch sizes this cost was derived from, without a
            trace at its own batch (``analyze/derive.py``: exact for ops linear in the batch);
            empty when traced at it.
    """

    model: str
    batch_size: int
    sequence_length: int | None
    precision: str
    optimizer: str
    num_parameters: int
    num_trainable_parameters: int
    forward_flops: float
    backward_flops: float
    optimizer_flops: float
    forward_bytes: float
    backward_bytes: float
    optimizer_bytes: float
    flop_coverage: float
    uncounted_ops: tuple[str, ...]
    num_parameter_tensors: int
    input_bytes: float
    num_module_calls: int
    ops: tuple[OpCost, ...]
    infer_ops: tuple[OpCost, ...]
    layers: tuple[LayerCost, ...]
    classes: tuple[ClassCost, ...]
    memory: MemoryEstimate
    traced_memory: TracedMemory
    foreach: bool
    method: str
    warnings: tuple[str, ...] = ()
    parameter_tensor_bytes: tuple[float, ...] = ()
    channels_last: bool = False
    derived_from_batches: tuple[int, ...] = ()

    @property
    def train_flops(self) -> float:
        """FLOPs of one training step: forward, backward and optimizer."""
        return self.forward_flops + self.backward_flops + self.optimizer_flops

    @property
    def forward_intensity(self) -> float:
        """Forward FLOPs per byte moved: above a device's FLOP/s over bandwidth, compute-bound."""
        return self.forward_flops / self.forward_bytes if self.forward_bytes else 0.0
