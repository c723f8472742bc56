"""A model's compute and memory needs from its traced step: totals, per layer, per operator class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch.utils._pytree import tree_leaves

from devicefit.analyze import memory as memory_model
from devicefit.analyze.allocator import ALLOCATION_GRANULE_BYTES, Snapshot, nbytes
from devicefit.analyze.derive import (
    Anchors,
    anchors_align,
    by_module,
    class_costs,
    coverage,
    sum_bytes,
    sum_flops,
)
from devicefit.analyze.precision import PRECISIONS
from devicefit.analyze.trace import FALLBACK_BATCH, Traced, trace_model
from devicefit.errors import UsageError
from devicefit.records import LayerCost, LiveMemory, MemoryKind, ModelCost, OpCost, TracedMemory
from devicefit.workloads import model_info
from devicefit.workloads.base import OPTIMIZERS
from devicefit.workloads.libraries import OWN_FACTORY


def analyze_model(
    name: str,
    batch_size: int | None = None,
    *,
    precision: str = "fp32",
    optimizer: str | None = None,
    sequence_length: int | None = None,
    memory_kind: MemoryKind = "cuda",
    foreach: bool | None = None,
    channels_last: bool = False,
) -> ModelCost:
    """Traces a training step and an inference pass of a model, on fake tensors where it can.

    As ``analyze_model_derivable``, without the costs that other batch sizes derive from.
    """
    return analyze_model_derivable(
        name,
        batch_size,
        precision=precision,
        optimizer=optimizer,
        sequence_length=sequence_length,
        memory_kind=memory_kind,
        foreach=foreach,
        channels_last=channels_last,
    )[0]


def analyze_model_derivable(
    name: str,
    batch_size: int | None = None,
    *,
    precision: str = "fp32",
    optimizer: str | None = None,
    sequence_length: int | None = None,
    memory_kind: MemoryKind = "cuda",
    foreach: bool | None = None,
    channels_last: bool = False,
) -> tuple[ModelCost, Anchors | None]:
    """Traces a training step and an inference pass of a model, on fake tensors where it can.

    Args:
        name: Zoo name, ``file.py:factory``, ``module:factory`` or a library model name.
        batch_size: Samples per step; the workload's default when ``None``.
        precision: A name of ``vocabulary.PRECISIONS``: ``fp32``, ``tf32`` (traced as fp32),
            ``bf16``/``fp16`` autocast mixed precision, ``amp`` (traced as fp16).
        optimizer: One of ``OPTIMIZERS`` (``sgd``, ``sgd-momentum``, ``adamw``, ``rmsprop``...); the
            workload's default when ``None``.
        sequence_length: Tokens per sample for sequence models.
        memory_kind: ``cuda``, ``cpu`` or ``mps``: allocation rounding and runtime overhead.
        foreach: Whether the optimizer runs as one ``foreach`` pass; PyTorch's default for the
            device kind (``True`` on GPUs) when ``None``.
        channels_last: Convert the model and its 4-D inputs to channels-last memory format.

    Returns:
        FLOPs, bytes and memory of the step, per op, layer and operator class; and, when the model's
        traces at two batch sizes pair up op by op (``analyze/derive.py``), its costs at those two
        batches, from which ``derive_cost`` gives the cost at any batch from the smaller one on
        without tracing. ``None`` when they do not, or when the model ran on a real CPU batch.

    Raises:
        UsageError: On an unknown model, precision or optimizer, or a model that fails even on a
            small real batch.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", fix=f"Choose from: {', '.join(PRECISIONS)}")
    info = model_info(name)
    optimizer = optimizer or info.optimizer
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}", fix=f"Choose from: {', '.join(OPTIMIZERS)}")
    batch = info.default_batch_size if batch_size is None else batch_size
    if batch < 1:
        raise UsageError(f"batch size must be at least 1, not {batch}", fix="Pass --batch 1 or more")
    if sequence_length is not None and sequence_length < 1:
        raise UsageError(
            f"sequence length must be at least 1, not {sequence_length}", fix="Pass --seq-len 1 or more"
        )
    sequence_length = sequence_length or info.sequence_length
    granule = ALLOCATION_GRANULE_BYTES.get(memory_kind, 512)
    warnings: list[str] = []
    fake = True
    try:
        first = trace_model(name, batch, sequence_length, precision, granule, True, channels_last)
        second = trace_model(name, 2 * batch, sequence_length, precision, granule, True, channels_last)
        method = "fake tensors"
    except UsageError:
        raise
    except Exception as error:  # the model does something fake tensors cannot (data-dependent ops...)
        small = min(batch, FALLBACK_BATCH)
        reason = (
            f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
            if str(error)
            else type(error).__name__
        )
        try:
            first = trace_model(name, small, sequence_length, precision, granule, False, channels_last)
            second = trace_model(name, 2 * small, sequence_length, precision, granule, False, channels_last)
        except Exception as real_error:
            if info.synthesized_inputs:
                # The model is a library's and devicefit made its inputs: they are the likely culprit.
                raise UsageError(
                    f"{name} rejects the inputs devicefit makes for it "
                    f"({', '.join(info.synthesized_inputs)}): {reason}",
                    fix=OWN_FACTORY,
                ) from real_error
            raise UsageError(
                f"model {name!r} fails on fake tensors ({reason}) and on a real batch of {small} "
                f"({type(real_error).__name__}: {real_error})",
                fix="Check that its forward pass runs on a CPU tensor batch",
            ) from real_error
        fake = False
        method = f"a real batch of {small} on the CPU, scaled to {batch}"
        warnings.append(
            f"the model fails on fake tensors ({reason}); analyzed on a real batch of {small} "
            f"on the CPU and scaled linearly to {batch}"
        )
    traced, pair = _traced_memory(
        first,
        second,
        lambda size: trace_model(name, size, sequence_length, precision, granule, fake, channels_last),
        batch=batch,
        granule=granule,
        warnings=warnings,
    )
    uses_foreach = memory_kind == "cuda" if foreach is None else foreach

    def assemble(at: Traced, size: int) -> ModelCost:
        return _assemble(
            name,
            size,
            sequence_length,
            precision,
            optimizer,
            at,
            replace(traced, batch_size=size),
            method,
            warnings,
            memory_kind=memory_kind,
            foreach=uses_foreach,
            channels_last=channels_last,
        )

    cost = assemble(first, batch)
    if not fake or pair is None:
        return cost, None
    low, high = pair
    anchors = (cost if low is first else assemble(low, low.batch_size), assemble(high, high.batch_size))
    return cost, anchors if anchors_align(*anchors) else None


def _aligned(low: Traced, high: Traced) -> bool:
    """Whether two traces allocated in the same order (the same moments at two batch sizes)."""
    pairs = [(low.train.snapshots, high.train.snapshots), (low.infer.snapshots, high.infer.snapshots)]
    return all(
        len(first) == len(second)
        and all(
            a.phase == b.phase and a.weights_bytes == b.weights_bytes
            for a, b in zip(first, second, strict=True)
        )
        for first, second in pairs
    )


def _line(low: Snapshot, low_batch: int, high: Snapshot, high_batch: int) -> LiveMemory:
    """One moment at two batch sizes, as linear functions of the batch."""

    def fit(at_low: int, at_high: int) -> tuple[float, float]:
        slope = (at_high - at_low) / (high_batch - low_batch)
        return at_low - low_batch * slope, slope

    gradients, gradients_slope = fit(low.gradients_bytes, high.gradients_bytes)
    activations, activations_slope = fit(low.activations_bytes, high.activations_bytes)
    transient, transient_slope = fit(low.transient_bytes, high.transient_bytes)
    return LiveMemory(
        phase=low.phase,
        weights_bytes=float(low.weights_bytes),
        gradients_bytes=gradients,
        activations_bytes=activations,
        transient_bytes=transient,
        gradients_bytes_per_sample=gradients_slope,
        activations_bytes_per_sample=activations_slope,
        transient_bytes_per_sample=transient_slope,
    )


def _moments(low: Traced, high: Traced, pass_name: str) -> tuple[LiveMemory, ...]:
    """The moments of a pass that hold its peak at some batch, from aligned traces at two batches."""
    pairs = zip(getattr(low, pass_name).snapshots, getattr(high, pass_name).snapshots, strict=True)
    return memory_model.peak_moments(_line(a, low.batch_size, b, high.batch_size) for a, b in pairs)


def _traced_memory(
    first: Traced,
    second: Traced,
    retrace: Callable[[int], Traced],
    *,
    batch: int,
    granule: int,
    warnings: list[str],
) -> tuple[TracedMemory, tuple[Traced, Traced] | None]:
    """The memory model from traces at two batch sizes: every moment of a pass, linear in batch.

    Each allocation of the first trace meets its counterpart in the second, so what was live
    then is known at any batch, and the peak at any batch is the largest of those moments: the
    model does not depend on which two batches were traced. A batch of one may skip copies that
    larger batches make (a transpose of a size-1 dimension is already contiguous); when the two
    traces do not allocate alike, a third at three times the batch pairs with the second. Should
    those differ too, the peaks of the two traces are joined by one line (and a warning says so).
    Returns the model and the two traces that fitted its moments (``None`` for the joined peaks).
    """
    low, high = first, second
    if not _aligned(low, high):
        low, high = second, retrace(3 * first.batch_size)
    pair: tuple[Traced, Traced] | None = (low, high)
    if _aligned(low, high):
        train, infer = _moments(low, high, "train"), _moments(low, high, "infer")
    else:
        pair = None
        low, high = first, second
        train, infer = (
            (
                _line(
                    max(getattr(low, name).snapshots, key=lambda snapshot: snapshot.total_bytes),
                    low.batch_size,
                    max(getattr(high, name).snapshots, key=lambda snapshot: snapshot.total_bytes),
                    high.batch_size,
                ),
            )
            for name in ("train", "infer")
        )
        warnings.append(
            f"the traces at batches {low.batch_size} and {high.batch_size} allocate differently; "
            "the memory model extrapolates their peaks linearly"
        )
    module = first.instance.module
    trainable = [p for p in module.parameters() if p.requires_grad]
    weights = sum(-(-nbytes(t) // granule) * granule for t in (*module.parameters(), *module.buffers()))
    memory = TracedMemory(
        batch_size=batch,
        traced_batch_sizes=(low.batch_size, high.batch_size),
        weights_bytes=float(weights),
        trainable_bytes=float(sum(nbytes(p) for p in trainable)),
        largest_parameter_bytes=float(max((nbytes(p) for p in trainable), default=0)),
        train_moments=train,
        train_end=_line(low.train.end, low.batch_size, high.train.end, high.batch_size),
        infer_moments=infer,
    )
    return memory, pair


def _scaled(ops: list[OpCost], scale: float) -> tuple[OpCost, ...]:
    if scale == 1.0:
        return tuple(ops)
    return tuple(
        replace(
            op,
            flops=None if op.flops is None else op.flops * scale,
            bytes_read=op.bytes_read * scale,
            bytes_written=op.bytes_written * scale,
            layout_bytes=op.layout_bytes * scale,
        )
        for op in ops
    )


def _layers(
    ops: tuple[OpCost, ...], module: torch.nn.Module, activations: dict[str, float], scale: float
) -> tuple[LayerCost, ...]:
    modules = dict(module.named_modules())
    layers = []
    for name, group in by_module(ops).items():
        owner = modules.get(name)
        layers.append(
            LayerCost(
                name=name or "(top level: loss, glue)",
                type=type(owner).__name__ if owner is not None and name else "",
                num_parameters=sum(p.numel() for p in owner.parameters(recurse=False))
                if owner is not None and name
                else 0,
                forward_flops=sum_flops(group, "forward"),
                backward_flops=sum_flops(group, "backward"),
                bytes_moved=sum(op.bytes_read + op.bytes_written for op in group),
                activation_bytes=activations.get(name, 0.0) * scale,
            )
        )
    return tuple(layers)


def _assemble(
    name: str,
    batch: int,
    sequence_length: int | None,
    precision: str,
    optimizer: str,
    first: Traced,
    traced: TracedMemory,
    method: str,
    warnings: list[str],
    *,
    memory_kind: MemoryKind,
    foreach: bool,
    channels_last: bool = False,
) -> ModelCost:
    module = first.instance.module
    scale = batch / first.batch_size
    ops = _scaled(first.train.ops, scale)
    parameters = list(module.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    num_trainable = sum(p.numel() for p in trainable)
    optimizer_flops, optimizer_bytes = memory_model.optimizer_work(
        optimizer, num_trainable, trainable[0].element_size() if trainable else 4
    )
    flop_coverage, uncounted = coverage(ops)
    return ModelCost(
        model=name,
        batch_size=batch,
        sequence_length=sequence_length,
        precision=precision,
        optimizer=optimizer,
        num_parameters=sum(p.numel() for p in parameters),
        num_trainable_parameters=num_trainable,
        forward_flops=sum_flops(ops, "forward"),
        backward_flops=sum_flops(ops, "backward"),
        optimizer_flops=optimizer_flops,
        forward_bytes=sum_bytes(ops, "forward"),
        backward_bytes=sum_bytes(ops, "backward"),
        optimizer_bytes=optimizer_bytes,
        flop_coverage=flop_coverage,
        uncounted_ops=uncounted,
        num_parameter_tensors=len(trainable),
        parameter_tensor_bytes=tuple(sorted((float(nbytes(p)) for p in trainable), reverse=True)),
        input_bytes=float(
            sum(
                nbytes(t) * scale
                for t in tree_leaves((first.instance.inputs, first.instance.keyword_inputs))
                if isinstance(t, torch.Tensor)
            )
        ),
        num_module_calls=first.infer.num_module_calls,
        infer_ops=_scaled(first.infer.ops, scale),
        ops=ops,
        layers=_layers(ops, module, first.train.activations_by_module, scale),
        classes=class_costs(ops),
        traced_memory=traced,
        foreach=foreach,
        memory=memory_model.estimate_memory(
            traced, optimizer=optimizer, foreach=foreach, memory_kind=memory_kind, batch_size=batch
        ),
        method=method,
        warnings=tuple(warnings),
        channels_last=channels_last,
    )
