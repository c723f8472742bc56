"""A CPU's recurrent layer (oneDNN's fused LSTM) beyond the sizes its calibration measured.

A layer of T steps runs one product of all T x B inputs by the input weights, then at every step a
small product of the B hidden states by the recurrent weights and the cell's elementwise work over
the B x 4H gates: sigmoid over three of them, tanh over the fourth and over the cell state, and the
cell update's products. The calibration measures whole layers of 256 to 1024 units at batches 1 to
32 (``layers.lstm``); inside that range a layer's efficiency is interpolated between them. Outside
it, Shepard's method would hand a narrow layer a wide one's efficiency, yet the share of the
elementwise work grows as the layer narrows: per gate and step the products do 2 x (I + H)
FLOPs, the cell a fixed few transcendental functions. On a 2-vCPU EPYC VM at
one thread, oneDNN's cell cost 10-16 ns per gate element and step (as PyTorch's own sigmoid and
tanh do), so a 36-unit layer at batch 217 ran at 8 GFLOP/s where 256-unit layers ran at 21-24,
and its time was more than twice that of its products alone (2026-12-07, 10 shapes, fastest of
repeats while other jobs loaded the VM: ratios, not rates).

So a layer outside the measured range is priced from its parts, products from the measured
matrix products and the cell's work from the measured activation and elementwise curves, and
scaled by how far the same parts were from the measured layer nearest it (same steps, batch and
width clamped into the measured range).
"""

from __future__ import annotations

from devicefit.analyze.shapes import lstm_layer_flops
from devicefit.predict.curves import efficiency_at, lstm_points, memory_curve
from devicefit.predict.interpolate import interpolate_shape
from devicefit.records import DeviceModel, OpCost
from devicefit.records.vocabulary import COLD_SHAPES_KEY

_Points = tuple[tuple[float, ...], ...]


def _call_s(device: DeviceModel, family: str, elements: float, arrays: int) -> float:
    """One elementwise call over ``elements`` fp32 values touching ``arrays`` arrays, by its curve."""
    moved = 4.0 * elements * arrays
    return moved / (device.bandwidth_bytes_per_s * efficiency_at(memory_curve(family, device), moved))


def cell_s(steps: int, rows: int, hidden: int, device: DeviceModel) -> float:
    """The cell's elementwise work over ``steps`` steps of ``rows`` samples and ``hidden`` units.

    Per step: sigmoid over three gates, tanh over the candidate and over the new cell state (one
    read, one write each), and the update's three products and one sum (two reads, one write).
    """
    units = float(rows * hidden)
    per_step = (
        _call_s(device, "sigmoid", 3 * units, 2)
        + 2 * _call_s(device, "tanh", units, 2)
        + 4 * _call_s(device, "mul", units, 3)
    )
    return steps * per_step


def parts_s(shape: tuple[int, ...], device: DeviceModel, *, backward: bool) -> float:
    """A layer's time from its parts: its products (measured matrix products) and its cell's work.

    The backward does the products twice (the input's and the weights' gradients) and the cell's
    derivatives, counted as much elementwise work as the forward's cell.
    """
    steps, rows, inputs, gates = shape
    hidden = gates // 4
    peak = device.peak("fp32")
    points = device.matmul_shapes.get("fp32") or device.matmul_shapes.get(
        COLD_SHAPES_KEY.format(dtype="fp32")
    )
    if not points:
        return 0.0
    input_part = 2.0 * steps * rows * inputs * gates
    recurrent_part = 2.0 * steps * rows * hidden * gates
    products = input_part / (
        peak * max(interpolate_shape(points, (steps * rows, inputs, gates)), 1e-6)
    ) + recurrent_part / (peak * max(interpolate_shape(points, (rows, hidden, gates)), 1e-6))
    return (2.0 if backward else 1.0) * products + cell_s(steps, rows, hidden, device)


def lstm_layer_s(op: OpCost, device: DeviceModel) -> float | None:
    """A fused LSTM layer's time from the measured layers (``None``: none measured, or not one).

    Inside the measured batches and widths, interpolated between the measured layers; outside,
    the nearest measured layer's time scaled by the ratio of the layer's parts to that layer's.
    """
    if not op.name.startswith("mkldnn_rnn_layer") or len(op.shape) != 4:
        return None
    points = lstm_points(op, device)
    if not points:
        return None
    peak = device.peak("fp32")
    steps, rows, inputs, gates = op.shape
    flops = op.flops or 0.0

    def measured_s(shape: tuple[int, ...], work: float) -> float:
        return work / (peak * max(interpolate_shape(points, shape), 1e-6))

    rows_measured = [p[0] for p in points]
    gates_measured = [p[2] for p in points]
    anchor_rows = int(min(max(rows, min(rows_measured)), max(rows_measured)))
    anchor_gates = int(min(max(gates, min(gates_measured)), max(gates_measured)))
    if (anchor_rows, anchor_gates) == (rows, gates):
        return measured_s(op.shape, flops)
    # The measured layers ran their own width as inputs (I = H).
    anchor = (steps, anchor_rows, anchor_gates // 4, anchor_gates)
    own = lstm_layer_flops(steps, rows, inputs, gates, gates // 4)
    anchor_flops = flops * lstm_layer_flops(*anchor, anchor_gates // 4) / own if own else 0.0
    backward = op.name.endswith("_backward")
    ours, theirs = parts_s(op.shape, device, backward=backward), parts_s(anchor, device, backward=backward)
    if not ours or not theirs:
        return measured_s(op.shape, flops)
    return measured_s(anchor, anchor_flops) * ours / theirs
