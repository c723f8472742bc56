"""A fused LSTM layer outside the measured layers' sizes: priced from its products and its cell.

Every expected figure is worked out in the comments beside it (see ``helpers``: 1 TFLOP/s, 100 GB/s,
every curve flat at half the peak).
"""

import pytest

from devicefit.analyze.shapes import lstm_layer_flops
from devicefit.predict.interpolate import interpolate_shape
from devicefit.predict.recurrent import cell_s, lstm_layer_s, parts_s
from devicefit.records import OpCost
from tests.unit.predict.helpers import make_device

#: Measured layers (batch, inputs, gates, efficiency): 256 and 1024 units at batches 1 and 32.
MEASURED = (
    (1.0, 256.0, 1024.0, 0.2),
    (1.0, 1024.0, 4096.0, 0.1),
    (32.0, 256.0, 1024.0, 0.3),
    (32.0, 1024.0, 4096.0, 0.15),
)


def device():
    # Matrix products at 0.5 of the peak whatever their shape (one measured product).
    return make_device(lstm_shapes={"lstm.fp32": MEASURED}, matmul_shapes={"fp32": ((1.0, 1.0, 1.0, 0.5),)})


def layer(steps, rows, inputs, hidden):
    """A forward LSTM layer's op, (T, B, I, 4H), with the analysis's FLOPs (products and cell)."""
    return OpCost(
        name="mkldnn_rnn_layer",
        op_class="matmul",
        module="rnn",
        phase="forward",
        flops=float(lstm_layer_flops(steps, rows, inputs, 4 * hidden, hidden)),
        bytes_read=0.0,
        bytes_written=0.0,
        dtype="fp32",
        shape=(steps, rows, inputs, 4 * hidden),
    )


def test_the_cell_costs_its_activations_and_updates_at_the_elementwise_curves():
    # 64 x 36 = 2,304 units a step: sigmoid over 6,912 values (8 bytes each: 55,296 B), tanh twice
    # over 2,304 (36,864 B), four updates over 2,304 (12 bytes each: 110,592 B); 202,752 B a step
    # at 100 GB/s x 0.5 = 4.05504 us; ten steps 40.5504 us.
    assert cell_s(10, 64, 36, device()) == pytest.approx(4.05504e-5)


def test_a_layer_inside_the_measured_sizes_keeps_the_measured_layers_efficiency():
    op = layer(32, 16, 512, 512)
    # Batch 16 and 2048 gates lie inside the measured 1-32 and 1024-4096: as interpolated before.
    expected = op.flops / (1e12 * interpolate_shape(MEASURED, op.shape))
    assert lstm_layer_s(op, device()) == pytest.approx(expected)


def test_a_narrow_layer_runs_below_the_nearest_measured_layers_efficiency_by_its_parts():
    target = device()
    narrow = layer(10, 64, 36, 36)  # 36 units, batch 64: below the widths, above the batches
    anchor = (10, 32, 256, 1024)  # the nearest measured layer: batch 32, 256 units (inputs too)
    anchor_s = lstm_layer_flops(*anchor, 256) / (1e12 * 0.3)
    expected = (
        anchor_s * parts_s(narrow.shape, target, backward=False) / parts_s(anchor, target, backward=False)
    )
    assert lstm_layer_s(narrow, target) == pytest.approx(expected)
    # The cell's share grows as the layer narrows: the narrow layer runs at a fraction of the
    # measured layer's 0.3 (Shepard's weights alone gave it 0.3: a third of its time).
    assert narrow.flops / (1e12 * lstm_layer_s(narrow, target)) < 0.3 / 2


def test_a_layer_without_measured_layers_is_left_to_the_product_model():
    assert lstm_layer_s(layer(10, 64, 36, 36), make_device()) is None
