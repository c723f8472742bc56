"""Rich renderables for models: the zoo listing and a model's profile (totals, classes, layers, memory)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from devicefit.records import MemoryEstimate, ModelCost
from devicefit.report.tables import Column, FittedTable, FoldedName
from devicefit.report.units import format_bytes, format_count, format_decimal, format_percent


def render_models(rows: Sequence[tuple[str, str, int, str]]) -> RenderableType:
    """The zoo: name, family, parameters, description."""
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("model", style="cyan", no_wrap=True)
    table.add_column("family")
    table.add_column("params", justify="right")
    table.add_column("description")
    for name, family, parameters, description in rows:
        table.add_row(name, family, format_count(parameters), description)
    return table


def _flops(value: float) -> str:
    return format_decimal(value, "FLOP")


_PHASES = {"forward": "forward pass", "backward": "backward pass"}


def training_peak_parts(memory: MemoryEstimate) -> str:
    """Where the training peak happens and its parts, which add up to it: what is live then."""
    parts = [
        ("weights", memory.weights_bytes),
        ("gradients", memory.gradients_bytes),
        ("optimizer state", memory.optimizer_state_bytes),
        ("master weights", memory.master_weights_bytes),
        ("activations", memory.activations_bytes),
        ("transient", memory.transient_bytes),
    ]
    # Master weights appear only where a precision keeps them; float noise never shows as negative.
    shown = [(name, value) for name, value in parts if value or name != "master weights"]
    listed = ", ".join(f"{name} {format_bytes(max(value, 0.0))}" for name, value in shown)
    return f"in the {_PHASES.get(memory.train_peak_phase, memory.train_peak_phase)}: {listed}"


def _summary(cost: ModelCost, max_batch: tuple[float, int] | None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column(style="cyan", no_wrap=True)
    table.add_column()
    memory = cost.memory
    per_sample = cost.forward_flops / cost.batch_size
    rows = [
        (
            "parameters",
            f"{format_count(cost.num_parameters)} ({cost.num_parameters:,}; "
            f"{format_count(cost.num_trainable_parameters)} trainable)",
        ),
        (
            "forward",
            f"{_flops(cost.forward_flops)} per batch, {_flops(per_sample)} per sample "
            f"({format_decimal(per_sample / 2, 'MAC')})",
        ),
        (
            "backward",
            f"{_flops(cost.backward_flops)} ({cost.backward_flops / cost.forward_flops:.2f}x forward)"
            if cost.forward_flops
            else _flops(cost.backward_flops),
        ),
        ("optimizer step", f"{_flops(cost.optimizer_flops)} ({cost.optimizer})"),
        (
            "bytes moved",
            f"forward {format_bytes(cost.forward_bytes)}, backward {format_bytes(cost.backward_bytes)}, "
            f"optimizer {format_bytes(cost.optimizer_bytes)}",
        ),
        ("arithmetic intensity", f"forward {cost.forward_intensity:.1f} FLOP/byte"),
        (
            "FLOP coverage",
            f"{format_percent(cost.flop_coverage)} of operator calls have a formula"
            + (f"; uncounted: {', '.join(cost.uncounted_ops)}" if cost.uncounted_ops else ""),
        ),
        ("training memory", f"peak {format_bytes(memory.train_peak_bytes)} {training_peak_parts(memory)}"),
        ("inference memory", f"peak {format_bytes(memory.infer_peak_bytes)}"),
        (
            "per extra sample",
            f"training +{format_bytes(memory.train_bytes_per_sample)}, "
            f"inference +{format_bytes(memory.infer_bytes_per_sample)}",
        ),
        ("runtime overhead", f"+{format_bytes(memory.overhead_bytes)} outside the allocator (estimate)"),
    ]
    if max_batch is not None:
        limit, batch = max_batch
        rows.append(
            (
                "fits",
                (
                    f"batch {cost.batch_size} {'fits' if cost.batch_size <= batch else 'does NOT fit'} in "
                    f"{format_bytes(limit)}; the largest batch that trains there is {batch}"
                )
                if batch
                else f"training does not fit in {format_bytes(limit)} even at batch 1",
            )
        )
    rows.append(("traced on", cost.method))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _classes(cost: ModelCost) -> RenderableType:
    # On a narrow terminal the op count and the bytes per direction go before any figure is cut.
    columns = [
        Column(header="class", wrap=True),
        Column(header="ops", justify="right", drop=3),
        Column(header="forward", justify="right"),
        Column(header="backward", justify="right"),
        Column(header="fwd bytes", justify="right", drop=1),
        Column(header="bwd bytes", justify="right", drop=2),
        Column(header="FLOP/byte", justify="right"),
        Column(header="share", justify="right"),
    ]
    total = cost.forward_flops + cost.backward_flops
    rows = []
    for c in cost.classes:
        flops = c.forward_flops + c.backward_flops
        moved = c.forward_bytes + c.backward_bytes
        rows.append(
            (
                c.op_class,
                str(c.num_ops),
                _flops(c.forward_flops),
                _flops(c.backward_flops),
                format_bytes(c.forward_bytes),
                format_bytes(c.backward_bytes),
                f"{flops / moved:.1f}" if moved else "",
                format_percent(flops / total) if total else "",
            )
        )
    return FittedTable(columns, rows, title="By operator class")


def _layers(cost: ModelCost, limit: int) -> RenderableType:
    layers = list(cost.layers)
    shown = (
        sorted(layers, key=lambda layer: layer.forward_flops + layer.backward_flops, reverse=True)[:limit]
        if limit
        else layers
    )
    order = {id(layer): index for index, layer in enumerate(layers)}
    shown.sort(key=lambda layer: order[id(layer)])
    title = (
        f"Layers (the {len(shown)} costliest of {len(layers)}, in execution order)"
        if limit and limit < len(layers)
        else f"Layers ({len(layers)}, in execution order)"
    )
    # Layer names wrap after a dot ("stages.3.blocks.2." / "attn.qkv"), never losing their tail;
    # on a narrow terminal activations, bytes and parameters go before any figure is cut.
    columns = [
        Column(header="layer", wrap=True, min_width=20),
        Column(header="type", wrap=True, min_width=10),
        Column(header="params", justify="right", drop=1),
        Column(header="forward", justify="right"),
        Column(header="backward", justify="right"),
        Column(header="bytes", justify="right", drop=2),
        Column(header="activations", justify="right", drop=3),
    ]
    rows = [
        (
            FoldedName(layer.name),
            layer.type,
            format_count(layer.num_parameters) if layer.num_parameters else "",
            _flops(layer.forward_flops),
            _flops(layer.backward_flops),
            format_bytes(layer.bytes_moved),
            format_bytes(layer.activation_bytes) if layer.activation_bytes else "",
        )
        for layer in shown
    ]
    return FittedTable(columns, rows, title=title)


def render_profile(
    cost: ModelCost, *, max_batch: tuple[float, int] | None = None, layers: int = 25
) -> RenderableType:
    """A model's profile: summary, operator classes, and the costliest layers (``layers=0``: all)."""
    length = f", {cost.sequence_length} tokens" if cost.sequence_length else ""
    header = Text.from_markup(
        f"[bold]{cost.model}[/]: batch {cost.batch_size}{length}, {cost.precision}, "
        f"optimizer {cost.optimizer}"
    )
    notes = [Text(f"note: {warning}", style="yellow") for warning in cost.warnings]
    return Group(header, _summary(cost, max_batch), _classes(cost), _layers(cost, layers), *notes)
