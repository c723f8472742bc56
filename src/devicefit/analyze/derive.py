"""A model's cost at any batch size from its costs at two traced batch sizes, without tracing again.

On fake tensors a model whose operators take the batch as one dimension of their tensors (CNNs,
MLPs, LSTMs, transformers at a fixed sequence length) runs the same operators at every batch size,
and each one's FLOPs, bytes and matrix-product dimensions are affine in the batch: ``a + b x
batch``. Two traces whose operator lists pair up one to one (the same operator, phase, module,
class, dtype and detail) give both coefficients, so the cost at any other batch follows exactly,
as the memory model's moments already do (``analyze/cost.py``).

Safeguards, each of which makes a model not derivable (it is traced at every batch, as before):
every field that is not a line in the batch must be equal in the two traces; a dimension or count
that is whole in both traces must come out whole and non-negative; at most one dimension of a
matrix product may grow with the batch (two would make its FLOPs grow as the batch's square, as
a batch-by-batch similarity matrix does). Whether a CPU runs a convolution channel-blocked changes
at fixed batch sizes; ``channel_blocking_at`` follows it or refuses. No cost is derived below the
smaller traced batch: a batch of one may run other operators (squeezed dimensions), which only a
trace can tell.

This module is free of torch, so a cached model derives a batch in milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import fields, replace

from devicefit.analyze import memory as memory_model
from devicefit.analyze.opclass import OP_CLASSES
from devicefit.analyze.shapes import channel_blocking_at
from devicefit.records import ClassCost, LayerCost, MemoryKind, ModelCost, OpCost

#: Two costs of one model at two batch sizes (smaller first) from which any larger batch derives.
Anchors = tuple[ModelCost, ModelCost]

#: Per-op figures that are lines in the batch.
_OP_LINES = ("flops", "bytes_read", "bytes_written", "layout_bytes")
_OP_DERIVED = frozenset({*_OP_LINES, "shape", "channel_blocking"})
_LAYER_DERIVED = frozenset({"forward_flops", "backward_flops", "bytes_moved", "activation_bytes"})
#: ``ModelCost`` fields recomputed at the derived batch; every other one must match in both traces.
_COST_DERIVED = frozenset(
    {
        "batch_size",
        "forward_flops",
        "backward_flops",
        "forward_bytes",
        "backward_bytes",
        "flop_coverage",
        "uncounted_ops",
        "input_bytes",
        "ops",
        "infer_ops",
        "layers",
        "classes",
        "memory",
        "traced_memory",
        "derived_from_batches",
    }
)


class _NotAffineError(Exception):
    """A figure of the two traces does not extend to the batch asked for."""


def sum_flops(ops: Iterable[OpCost], phase: str) -> float:
    """FLOPs of the ops of one phase (``forward`` or ``backward``); uncounted ops add nothing."""
    return sum(op.flops or 0.0 for op in ops if op.phase == phase)


def sum_bytes(ops: Iterable[OpCost], phase: str) -> float:
    """Bytes read plus written by the ops of one phase."""
    return sum(op.bytes_read + op.bytes_written for op in ops if op.phase == phase)


def by_module(ops: Iterable[OpCost]) -> dict[str, list[OpCost]]:
    """Ops grouped by their module, modules in order of first appearance (the layers' order)."""
    grouped: dict[str, list[OpCost]] = defaultdict(list)
    for op in ops:
        grouped[op.module].append(op)
    return grouped


def class_costs(ops: tuple[OpCost, ...]) -> tuple[ClassCost, ...]:
    """Per operator class, in ``OP_CLASSES`` order."""
    result = []
    for op_class in OP_CLASSES:
        group = tuple(op for op in ops if op.op_class == op_class)
        if group:
            result.append(
                ClassCost(
                    op_class=op_class,
                    num_ops=len(group),
                    forward_flops=sum_flops(group, "forward"),
                    backward_flops=sum_flops(group, "backward"),
                    forward_bytes=sum_bytes(group, "forward"),
                    backward_bytes=sum_bytes(group, "backward"),
                )
            )
    return tuple(result)


def coverage(ops: tuple[OpCost, ...]) -> tuple[float, tuple[str, ...]]:
    """Share of ops with a FLOP formula, and the names of those without one."""
    counted = sum(1 for op in ops if op.flops is not None)
    uncounted = tuple(sorted({op.name for op in ops if op.flops is None}))
    return (counted / len(ops) if ops else 1.0), uncounted


def anchors_align(low: ModelCost, high: ModelCost) -> bool:
    """Whether the costs at two batch sizes differ only in what grows linearly with the batch."""
    if not 1 <= low.batch_size < high.batch_size:
        return False
    if any(
        getattr(low, f.name) != getattr(high, f.name)
        for f in fields(ModelCost)
        if f.name not in _COST_DERIVED
    ):
        return False
    if replace(low.traced_memory, batch_size=0) != replace(high.traced_memory, batch_size=0):
        return False
    if len(low.layers) != len(high.layers) or any(
        getattr(a, f.name) != getattr(b, f.name)
        for a, b in zip(low.layers, high.layers, strict=True)
        for f in fields(LayerCost)
        if f.name not in _LAYER_DERIVED
    ):
        return False
    shared = [f.name for f in fields(OpCost) if f.name not in _OP_DERIVED]
    for first, second in ((low.ops, high.ops), (low.infer_ops, high.infer_ops)):
        if len(first) != len(second):
            return False
        for a, b in zip(first, second, strict=True):
            if any(getattr(a, name) != getattr(b, name) for name in shared):
                return False
            if (a.flops is None) != (b.flops is None) or len(a.shape) != len(b.shape):
                return False
            if sum(x != y for x, y in zip(a.shape, b.shape, strict=True)) > 1:
                return False  # two dimensions grow with the batch: the FLOPs grow as its square
            if b.channel_blocking != channel_blocking_at(a.channel_blocking, low.batch_size, high.batch_size):
                return False
    try:
        derive_cost((low, high), 2 * high.batch_size - low.batch_size, memory_kind="cpu")
    except ValueError:
        return False
    return True


def derive_cost(anchors: Anchors, batch: int, *, memory_kind: MemoryKind) -> ModelCost:
    """The cost at ``batch`` from aligned costs at two batches (``anchors_align``); the traced one at either.

    Args:
        anchors: The costs at two traced batches, smaller first.
        batch: At least the smaller traced batch.
        memory_kind: As ``analyze_model`` (the memory model's allocator and runtime overhead).

    Raises:
        ValueError: ``batch`` is below the smaller traced batch, or a figure does not extend to it
            (a dimension that would not be whole, a convolution whose CPU layout cannot be told).
    """
    low, high = anchors
    low_batch, high_batch = low.batch_size, high.batch_size
    if batch in (low_batch, high_batch):
        return low if batch == low_batch else high  # traced at that batch
    if batch < low_batch:
        raise ValueError(f"batch {batch} is below the smaller traced batch {low_batch}")
    steps, span = batch - low_batch, high_batch - low_batch

    def line(at_low: float, at_high: float) -> float:
        if at_low == at_high:
            return at_low
        value = at_low + (at_high - at_low) / span * steps
        if value < 0 or (at_low % 1 == 0 and at_high % 1 == 0 and value % 1 != 0):
            raise _NotAffineError
        return value

    def dimension(at_low: int, at_high: int) -> int:
        grown, remainder = divmod((at_high - at_low) * steps, span)
        if remainder or at_low + grown < 0:
            raise _NotAffineError
        return at_low + grown

    def derive_op(a: OpCost, b: OpCost) -> OpCost:
        blocking = channel_blocking_at(a.channel_blocking, low_batch, batch)
        if blocking is None:
            blocking = channel_blocking_at(b.channel_blocking, high_batch, batch)
            if blocking is None:
                raise _NotAffineError
        return replace(
            a,
            flops=None if a.flops is None or b.flops is None else line(a.flops, b.flops),
            bytes_read=line(a.bytes_read, b.bytes_read),
            bytes_written=line(a.bytes_written, b.bytes_written),
            layout_bytes=line(a.layout_bytes, b.layout_bytes),
            shape=a.shape
            if a.shape == b.shape
            else tuple(dimension(x, y) for x, y in zip(a.shape, b.shape, strict=True)),
            channel_blocking=blocking,
        )

    try:
        ops = tuple(derive_op(a, b) for a, b in zip(low.ops, high.ops, strict=True))
        infer_ops = tuple(derive_op(a, b) for a, b in zip(low.infer_ops, high.infer_ops, strict=True))
        groups = by_module(ops).values()
        layers = tuple(
            replace(
                at_low,
                forward_flops=sum_flops(group, "forward"),
                backward_flops=sum_flops(group, "backward"),
                bytes_moved=sum(op.bytes_read + op.bytes_written for op in group),
                activation_bytes=line(at_low.activation_bytes, at_high.activation_bytes),
            )
            for group, at_low, at_high in zip(groups, low.layers, high.layers, strict=True)
        )
        input_bytes = line(low.input_bytes, high.input_bytes)
    except _NotAffineError as error:
        raise ValueError(
            f"the traces at batches {low_batch} and {high_batch} do not extend to {batch}"
        ) from error
    traced = replace(low.traced_memory, batch_size=batch)
    flop_coverage, uncounted = coverage(ops)
    return replace(
        low,
        batch_size=batch,
        forward_flops=sum_flops(ops, "forward"),
        backward_flops=sum_flops(ops, "backward"),
        forward_bytes=sum_bytes(ops, "forward"),
        backward_bytes=sum_bytes(ops, "backward"),
        flop_coverage=flop_coverage,
        uncounted_ops=uncounted,
        input_bytes=input_bytes,
        ops=ops,
        infer_ops=infer_ops,
        layers=layers,
        classes=class_costs(ops),
        traced_memory=traced,
        memory=memory_model.estimate_memory(
            traced, optimizer=low.optimizer, foreach=low.foreach, memory_kind=memory_kind, batch_size=batch
        ),
        derived_from_batches=(low_batch, high_batch),
    )
