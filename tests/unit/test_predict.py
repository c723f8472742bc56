"""Prediction: efficiency curves, the per-op roofline, calibration fits, stored calibrations, catalog
device models, ``--device`` resolution and the ``predict`` / ``validate`` commands.

The arithmetic tests use a hand-made device with flat curves and round numbers, and a hand-made
traced step, so every expected figure is worked out in the comments beside it.
"""

import dataclasses
import json
import math
import socket
import sqlite3

import pytest
from rich.console import Console
from typer.testing import CliRunner

from devicefit.analyze.memory import RUNTIME_OVERHEAD_BYTES, estimate_memory
from devicefit.analyze.shapes import conv_channel_blocking, runs_blocked
from devicefit.catalog import load_catalog
from devicefit.cli import app
from devicefit.errors import UsageError
from devicefit.predict.calibration import LOCAL_ERROR_BAND, calibration_threads, fit_device_model, summarize
from devicefit.predict.curves import efficiency_at
from devicefit.predict.devices import (
    catalog_default_model,
    default_parameters,
    local_default_model,
    transferred_model,
)
from devicefit.predict.interpolate import interpolate_layers, interpolate_shape
from devicefit.predict.roofline import (
    OPTIMIZER_FOREACH_CALLS,
    OPTIMIZER_OPS_PER_TENSOR,
    _wave_utilization,
    cold_share,
    op_time,
    predict_step,
)
from devicefit.predict.targets import needs_local_devices, resolve_targets
from devicefit.records import (
    CPUProperties,
    DeviceDescription,
    DeviceModel,
    EfficiencyCurve,
    Environment,
    LiveMemory,
    Measurement,
    ModelCost,
    OpCost,
    Peak,
    Result,
    Summary,
    TracedMemory,
)
from devicefit.report.prediction import prediction_to_dict, render_prediction
from devicefit.store.schema import MIGRATIONS, SCHEMA_VERSION
from devicefit.store.sqlite import Store

H100_SXM = "nvidia-h100-sxm5-80gb"
H200 = "nvidia-h200-sxm-141gb"
CPU_OVERHEAD = RUNTIME_OVERHEAD_BYTES["cpu"]  # 384 MiB = 402,653,184 bytes


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# --- efficiency curves and shape interpolation ------------------------------------------------


def test_curve_is_log_linear_between_points_and_flat_beyond():
    curve = EfficiencyCurve(points=((10.0, 0.2), (1000.0, 0.6)))
    # log10(100) = 2 is halfway between 1 and 3: 0.2 + 0.5 * (0.6 - 0.2).
    assert efficiency_at(curve, 100.0) == pytest.approx(0.4)
    # log10(10 ** 1.5) = 1.5, a quarter of the way.
    assert efficiency_at(curve, 10**1.5) == pytest.approx(0.3)
    assert efficiency_at(curve, 10.0) == pytest.approx(0.2)
    assert efficiency_at(curve, 1000.0) == pytest.approx(0.6)
    assert efficiency_at(curve, 1.0) == efficiency_at(curve, 1e-9) == 0.2
    assert efficiency_at(curve, 1e12) == 0.6


def test_empty_curve_is_full_speed_and_fractions_never_reach_zero():
    assert efficiency_at(EfficiencyCurve(points=()), 123.0) == 1.0
    assert efficiency_at(EfficiencyCurve(points=((1.0, 0.0),)), 5.0) == 1e-6


def test_measured_shape_returns_its_own_fraction():
    points = ((64.0, 64.0, 64.0, 0.2), (256.0, 256.0, 256.0, 0.6))
    assert interpolate_shape(points, (256, 256, 256)) == 0.6
    # A batched product's shape (B, M, K, N) is matched on its last three sizes.
    assert interpolate_shape(points, (8, 64, 64, 64)) == 0.2


def shepard(points, shape):
    """Inverse squared log2 distance weighting of the four nearest points, worked out directly."""

    def squared(point):
        return sum((math.log2(a) - math.log2(b)) ** 2 for a, b in zip(shape, point[:-1], strict=True))

    nearest = sorted((squared(p), p[-1]) for p in points)[:4]
    return sum(f / d for d, f in nearest) / sum(1 / d for d, _ in nearest)


def test_shape_inside_a_measured_grid_cell_is_interpolated_trilinearly_in_log2_sizes():
    # A 2 x 2 x 2 grid: M 8 and 64, K 512 and 2048, N 1024 and 4096; efficiency 0.1 at M 8 and 0.5 at
    # M 64, plus 0.1 where K is 2048 and 0.2 where N is 4096.
    points = tuple(
        (m, k, n, (0.1 if m == 8 else 0.5) + (0.1 if k == 2048 else 0.0) + (0.2 if n == 4096 else 0.0))
        for m in (8.0, 64.0)
        for k in (512.0, 2048.0)
        for n in (1024.0, 4096.0)
    )
    # (16, 1024, 2048): a third of the way from M 8 to 64 (log2 3 to 6), half-way in K and in N:
    # 0.1 + 0.4 / 3 + 0.1 / 2 + 0.2 / 2.
    assert interpolate_shape(points, (16, 1024, 2048)) == pytest.approx(0.1 + 0.4 / 3 + 0.05 + 0.1)
    # On a grid face, the face's four corners alone: M 64 exactly.
    assert interpolate_shape(points, (64, 1024, 1024)) == pytest.approx(0.5 + 0.05)
    # Shepard's weights would leave M = 64 out altogether: (16, 1024, 2048) is 1 + 1 + 1 = 3 away
    # (squared, log2) from each of the four M = 8 corners and 4 + 1 + 1 = 6 from the M = 64 ones, so
    # its four nearest are the M = 8 corners, whose mean is 0.1 + 0.05 + 0.1.
    assert shepard(points, (16, 1024, 2048)) == pytest.approx(0.25)


def test_odd_extra_shapes_do_not_break_the_grid_and_an_unmeasured_corner_falls_back_to_the_nearest():
    sizes = (512.0, 1024.0)
    grid = tuple((m, k, n, 0.1 if m == 64 else 0.5) for m in (64.0, 512.0) for k in sizes for n in sizes)
    # A vocabulary-wide head at M 128, between the grid's 64 and 512, measured once against four
    # times for each grid size: not a grid size, so (256, 512, 512) is still in the cell from M 64
    # to 512 (two thirds of the way in log2), not in one from 128 whose corners nobody measured.
    head = (128.0, 512.0, 32000.0, 0.9)
    assert interpolate_shape((*grid, head), (256, 512, 512)) == pytest.approx(0.1 + 0.4 * 2 / 3)
    # Beyond the grid (M 1024), the nearest products.
    beyond = (1024, 512, 512)
    assert interpolate_shape((*grid, head), beyond) == pytest.approx(shepard((*grid, head), beyond))
    # With a corner of its cell missing, a shape is interpolated from its nearest products.
    holed = grid[1:]  # no (64, 512, 512)
    assert interpolate_shape(holed, (256, 512, 512)) == pytest.approx(shepard(holed, (256, 512, 512)))
    assert shepard(holed, (256, 512, 512)) != pytest.approx(0.1 + 0.4 * 2 / 3)


def test_a_measured_product_inside_a_cell_is_not_interpolated_over():
    # The grid's M sizes are 1, 8 and 64 (four products each); M 4 was measured once (its other
    # products too small to time past the host's cost), under half as often: not a grid size.
    sizes = (512.0, 1024.0)
    efficiency = {1.0: 0.2, 8.0: 0.4, 64.0: 0.6}
    grid = tuple((m, k, n, efficiency[m]) for m in efficiency for k in sizes for n in sizes)
    points = (*grid, (4.0, 1024.0, 1024.0, 0.05))
    # A measured product is its own measurement, not the cell's interpolation (0.2 + 0.2 * 2 / 3).
    assert interpolate_shape(points, (4, 1024, 1024)) == 0.05
    # A shape whose cell holds a product measured between its corners: its nearest products, the
    # slow M = 4 ones among them, not the corners alone.
    between = (6, 1024, 1024)
    assert interpolate_shape(points, between) == pytest.approx(shepard(points, between))
    # Without it, the cell from M 1 to 8: log2(6) / log2(8) of the way.
    assert interpolate_shape(grid, between) == pytest.approx(0.2 + 0.2 * math.log2(6) / 3)
    # A cell the few products are outside of still interpolates: M 16 to 64 is clear of them.
    assert interpolate_shape(points, (16, 1024, 1024)) == pytest.approx(0.4 + 0.2 / 3)


def test_a_convolution_takes_its_own_layer_s_rate_along_m_and_interpolates_across_layers():
    # Two layers, each run at three batches: (K 75, N 16) at M 1024, 8192 and 32768, and (K 400,
    # N 16) at M 256 and 2048; and a 1x1 layer (K 96, N 24) measured only at M 25088.
    points = (
        (1024.0, 75.0, 16.0, 0.2),
        (8192.0, 75.0, 16.0, 0.4),
        (32768.0, 75.0, 16.0, 0.5),
        (256.0, 400.0, 16.0, 0.3),
        (2048.0, 400.0, 16.0, 0.6),
        (25088.0, 96.0, 24.0, 0.05),
    )
    # Along M, in log2: M 4096 is two thirds of the way from 1024 to 8192.
    assert interpolate_layers(points, (4096, 75, 16)) == pytest.approx(0.2 + 0.2 * 2 / 3)
    # Beyond its measured M the layer keeps its last rate: not the 1x1 layer measured at that M,
    # which Shepard's method over (M, K, N) leans on.
    assert interpolate_layers(points, (100352, 75, 16)) == pytest.approx(0.5)
    assert interpolate_shape(points, (25088, 75, 16)) < 0.4
    assert interpolate_layers(points, (64, 75, 16)) == pytest.approx(0.2)
    # Across layers, in (K, N), each at the shape's M: at M 8192 the (75, 16) layer runs at 0.4,
    # the (400, 16) one keeps its M 2048 rate, 0.6, and the 1x1 layer its 0.05. K 150 has no
    # measured cell around it (no layer at K 96 and N 16): Shepard's method over the three.
    layers = ((75.0, 16.0, 0.4), (400.0, 16.0, 0.6), (96.0, 24.0, 0.05))
    assert interpolate_layers(points, (8192, 150, 16)) == pytest.approx(shepard(layers, (150, 16)))
    # With two layers alone, bracketing K 150 at the same N: linear in log2 K between them.
    two = points[:5]
    share = math.log2(150 / 75) / math.log2(400 / 75)
    assert interpolate_layers(two, (8192, 150, 16)) == pytest.approx(0.4 + share * 0.2)


def test_shape_between_measured_ones_is_inverse_squared_log2_distance_weighted():
    points = ((64.0, 64.0, 64.0, 0.2), (256.0, 256.0, 256.0, 0.6), (1024.0, 1024.0, 1024.0, 0.9))
    # 128^3 is at log2 (7, 7, 7): squared distances 3 to 64^3 and to 256^3, 3 * 3^2 = 27 to 1024^3.
    # (0.2/3 + 0.6/3 + 0.9/27) / (1/3 + 1/3 + 1/27) = (5.4 + 1.8 + 0.9) / 19 = 8.1 / 19.
    assert interpolate_shape(points, (128, 128, 128)) == pytest.approx(8.1 / 19)
    # Only the four nearest count: a fifth, farther point changes nothing.
    farther = (*points, (16.0, 16.0, 16.0, 0.01), (8192.0, 8192.0, 8192.0, 0.99))
    four = (*points, (16.0, 16.0, 16.0, 0.01))
    target = (128, 128, 128)
    assert interpolate_shape(farther, target) == pytest.approx(interpolate_shape(four, target))
    # ... and that fourth point is 3 * 3^2 = 27 away too: (8.1 + 0.01) / 20.
    assert interpolate_shape(four, (128, 128, 128)) == pytest.approx(8.11 / 20)


# --- the roofline on a hand-made device and step ----------------------------------------------

FLAT = EfficiencyCurve(points=((1.0, 0.5),))


def make_device(**overrides):
    """A synchronous CPU: 1 TFLOP/s, 100 GB/s, every curve flat at half the peak."""
    fields = dict(
        device="cpu",
        name="Hand CPU",
        kind="cpu",
        asynchronous=False,
        peak_flops_per_s={"fp32": 1e12},
        bandwidth_bytes_per_s=1e11,
        compute={"matmul.fp32": FLAT},
        memory={"elementwise": FLAT, "stream": FLAT},
        op_overhead_s=1e-5,
        backward_op_overhead_s=5e-6,
        view_overhead_s=1e-6,
        module_overhead_s=2e-6,
        conv_overhead_s=2e-5,
        source="hand-made",
        error_band=0.1,
    )
    fields.update(overrides)
    return DeviceModel(**fields)


def make_gpu(**overrides):
    """The same figures on an asynchronous device (launches overlap kernels)."""
    return make_device(
        **{"device": "cuda:0", "name": "Hand GPU", "kind": "gpu", "asynchronous": True, **overrides}
    )


def mm(phase="forward"):
    # 1000 x 1000 x 1000: 2e9 FLOPs, 8 MB read and 4 MB written.
    return OpCost(
        name="mm",
        op_class="matmul",
        module="fc",
        phase=phase,
        flops=2e9,
        bytes_read=8e6,
        bytes_written=4e6,
        dtype="fp32",
        shape=(1000, 1000, 1000),
    )


def add(phase="forward", nbytes=8e6):
    return OpCost(
        name="add",
        op_class="elementwise",
        module="fc",
        phase=phase,
        flops=nbytes / 8,
        bytes_read=nbytes,
        bytes_written=nbytes / 2,
        dtype="fp32",
    )


VIEW = OpCost(
    name="view",
    op_class="data movement",
    module="",
    phase="forward",
    flops=0.0,
    bytes_read=0.0,
    bytes_written=0.0,
    dtype="fp32",
)


def moment(phase, *, gradients=0.0, activations_per_sample=0.0, transient_per_sample=0.0):
    return LiveMemory(
        phase=phase,
        weights_bytes=4e6,
        gradients_bytes=gradients,
        activations_bytes=0.0,
        transient_bytes=0.0,
        gradients_bytes_per_sample=0.0,
        activations_bytes_per_sample=activations_per_sample,
        transient_bytes_per_sample=transient_per_sample,
    )


#: Weights 4e6; training peaks at 4e6 + 1e6 per sample (1.2e7 at batch 8), inference at
#: 4e6 + 1.25e5 per sample (5e6 at batch 8); what outlives backward: weights and gradients.
TRACED = TracedMemory(
    batch_size=8,
    traced_batch_sizes=(8, 16),
    weights_bytes=4e6,
    trainable_bytes=4e6,
    largest_parameter_bytes=2e6,
    train_moments=(moment("backward", activations_per_sample=1e6),),
    train_end=moment("end", gradients=4e6),
    infer_moments=(moment("forward", transient_per_sample=1.25e5),),
)


def make_cost(**overrides):
    """Forward: mm, add, view; backward: two mm; inference: the mm alone; SGD with momentum."""
    fields = dict(
        model="hand",
        batch_size=8,
        sequence_length=None,
        precision="fp32",
        optimizer="sgd-momentum",
        num_parameters=1_000_000,
        num_trainable_parameters=1_000_000,
        forward_flops=2.001e9,
        backward_flops=4e9,
        optimizer_flops=4e6,
        forward_bytes=2.4e7,
        backward_bytes=2.4e7,
        optimizer_bytes=4e7,
        flop_coverage=1.0,
        uncounted_ops=(),
        num_parameter_tensors=4,
        input_bytes=1e6,
        num_module_calls=3,
        ops=(mm(), add(), VIEW, mm("backward"), mm("backward")),
        infer_ops=(mm(),),
        layers=(),
        classes=(),
        memory=estimate_memory(TRACED, optimizer="sgd-momentum", foreach=False, memory_kind="cpu"),
        traced_memory=TRACED,
        foreach=False,
        method="hand",
    )
    fields.update(overrides)
    return ModelCost(**fields)


def test_op_time_is_a_roofline_plus_host_cost():
    device = make_device()
    # mm: 2e9 / (1e12 * 0.5) = 4 ms compute; 1.2e7 / (1e11 * 0.5) = 0.24 ms memory.
    t = op_time(mm(), device, host_overhead_s=1e-5)
    assert (t.compute_s, t.memory_s, t.overhead_s) == pytest.approx((4e-3, 2.4e-4, 1e-5))
    # add: 1e6 FLOPs / 1e12 (no efficiency for non-matrix ops) = 1 us; memory 0.24 ms.
    t = op_time(add(), device, host_overhead_s=1e-5)
    assert (t.compute_s, t.memory_s) == pytest.approx((1e-6, 2.4e-4))
    # A view is metadata only: its own host cost, no kernel.
    t = op_time(VIEW, device, host_overhead_s=1e-5)
    assert (t.compute_s, t.memory_s, t.overhead_s) == (0.0, 0.0, 1e-6)
    # A convolution pays at least the convolution call cost.
    conv = dataclasses.replace(mm(), name="convolution", op_class="conv")
    assert op_time(conv, device, host_overhead_s=1e-5).overhead_s == 2e-5


def test_synchronous_step_adds_kernels_and_host_costs():
    prediction = predict_step(make_cost(), make_device(), mode="train", memory_kind="cpu")
    # forward: (4 ms + 10 us) + (0.24 ms + 10 us) + (0 + 1 us) + 3 module calls * 2 us.
    forward = 4.01e-3 + 2.5e-4 + 1e-6 + 6e-6
    # backward: 2 * (4 ms + 5 us), the autograd engine's cost per call.
    backward = 2 * (4e-3 + 5e-6)
    # optimizer: 4e7 bytes / (1e11 * 0.5, the stream curve at 4e7 bytes) = 0.8 ms, plus per tensor
    # OPTIMIZER_OPS_PER_TENSOR["sgd-momentum"] (3) * 10 us, for 4 tensors.
    assert OPTIMIZER_OPS_PER_TENSOR["sgd-momentum"] == 3
    optimizer = 8e-4 + 4 * 3 * 1e-5
    assert prediction.forward_s == pytest.approx(forward)
    assert prediction.backward_s == pytest.approx(backward)
    assert prediction.optimizer_s == pytest.approx(optimizer)
    assert prediction.step_time_s == pytest.approx(forward + backward + optimizer)  # 13.197 ms
    assert prediction.throughput_samples_per_s == pytest.approx(8 / 1.3197e-2)
    assert prediction.transfer_s == 0.0  # no host link on a CPU
    assert (prediction.model, prediction.device, prediction.mode) == ("hand", "cpu", "train")
    assert (prediction.error_band, prediction.calibration) == (0.1, "hand-made")

    by_class = {c.op_class: c for c in prediction.breakdown}
    assert [c.op_class for c in prediction.breakdown] == ["matmul", "elementwise", "data movement"]
    matmul = by_class["matmul"]
    assert matmul.num_ops == 3
    assert matmul.time_s == pytest.approx(4.01e-3 + 2 * 4.005e-3)
    assert (matmul.compute_s, matmul.memory_s, matmul.overhead_s) == pytest.approx((1.2e-2, 0.0, 2e-5))
    assert matmul.bound == "compute"
    elementwise = by_class["elementwise"]
    assert (elementwise.compute_s, elementwise.memory_s) == pytest.approx((0.0, 2.4e-4))
    assert elementwise.bound == "memory"
    views = by_class["data movement"]
    assert (views.time_s, views.num_ops, views.bound) == (pytest.approx(1e-6), 1, "overhead")
    # Totals by bound: module calls count as overhead; the optimizer as memory.
    assert prediction.compute_s == pytest.approx(1.202e-2)
    assert prediction.memory_s == pytest.approx(2.5e-4 + optimizer)
    assert prediction.overhead_s == pytest.approx(6e-6 + 1e-6)


def test_measured_optimizer_costs_replace_the_operator_count():
    device = make_device(optimizer_tensor_s={"sgd-momentum": 2e-5})
    prediction = predict_step(make_cost(), device, mode="train", memory_kind="cpu")
    assert prediction.optimizer_s == pytest.approx(8e-4 + 4 * 2e-5)
    # Another optimizer falls back to its operator count: Adam's 8 calls per tensor.
    adam = predict_step(make_cost(optimizer="adam"), device, mode="train", memory_kind="cpu")
    assert adam.optimizer_s == pytest.approx(8e-4 + 4 * OPTIMIZER_OPS_PER_TENSOR["adam"] * 1e-5)


def test_optimizer_pass_runs_at_streams_bandwidth_for_its_own_bytes():
    # STREAM at 2x peak up to 1e7 bytes (a cache), half of it from 1e9 bytes on (memory).
    stream = EfficiencyCurve(points=((1e7, 1.0), (1e9, 0.5)))
    device = make_device(memory={"elementwise": FLAT, "stream": stream})
    small = predict_step(make_cost(optimizer_bytes=4e6), device, mode="train", memory_kind="cpu")
    large = predict_step(make_cost(optimizer_bytes=4e9), device, mode="train", memory_kind="cpu")
    per_tensors = 4 * 3 * 1e-5
    # 4e6 bytes at 1e11 B/s (cache-resident); 4e9 bytes at 5e10 B/s (from memory).
    assert small.optimizer_s == pytest.approx(4e-5 + per_tensors)
    assert large.optimizer_s == pytest.approx(8e-2 + per_tensors)
    # In between, log-linear: 1e8 bytes is halfway, at 0.75.
    middle = predict_step(make_cost(optimizer_bytes=1e8), device, mode="train", memory_kind="cpu")
    assert middle.optimizer_s == pytest.approx(1e8 / 7.5e10 + per_tensors)


def test_training_pays_for_fresh_pages_of_gradients_and_temporaries_above_the_mapping_threshold():
    device = make_device(first_touch_s_per_byte=1e-9)
    # A 64 MiB embedding and a 16 MiB layer: only the embedding is above glibc's 32 MiB threshold.
    sizes = (64 * 2**20, 16 * 2**20)
    plain = predict_step(make_cost(optimizer="adamw"), device, mode="train", memory_kind="cpu")
    large = predict_step(
        make_cost(optimizer="adamw", parameter_tensor_bytes=sizes), device, mode="train", memory_kind="cpu"
    )
    # Its gradient (67.1 ms at 1 ns per byte) in backward; AdamW's sqrt and quotient, twice that.
    assert large.backward_s - plain.backward_s == pytest.approx(64 * 2**20 * 1e-9)
    assert large.optimizer_s - plain.optimizer_s == pytest.approx(2 * 64 * 2**20 * 1e-9)
    assert large.memory_s - plain.memory_s == pytest.approx(3 * 64 * 2**20 * 1e-9)
    # SGD with momentum updates in place: the gradient alone.
    sgd = make_cost(parameter_tensor_bytes=sizes)
    assert predict_step(sgd, device, mode="train", memory_kind="cpu").step_time_s == pytest.approx(
        predict_step(make_cost(), device, mode="train", memory_kind="cpu").step_time_s + 64 * 2**20 * 1e-9
    )
    # Inference allocates no gradients; a GPU's caching allocator keeps its pages; unmeasured is free.
    for cost, dev, mode in (
        (sgd, device, "infer"),
        (sgd, make_gpu(first_touch_s_per_byte=1e-9), "train"),
        (sgd, make_device(), "train"),
    ):
        baseline = make_cost()
        assert predict_step(cost, dev, mode=mode, memory_kind="cpu").step_time_s == pytest.approx(
            predict_step(baseline, dev, mode=mode, memory_kind="cpu").step_time_s
        )


def test_asynchronous_step_overlaps_launches_with_kernels():
    device = make_gpu(host_link_bytes_per_s=1e10)
    prediction = predict_step(make_cost(), device, mode="train", memory_kind="cuda")
    # Each call costs the larger of kernel and launch: 4 ms + 0.24 ms + 1 us (the view).
    assert prediction.forward_s == pytest.approx(4.241e-3)
    assert prediction.backward_s == pytest.approx(8e-3)
    # foreach optimizer: max(0.8 ms of memory, 3 calls * 10 us).
    assert OPTIMIZER_FOREACH_CALLS["sgd-momentum"] == 3
    assert prediction.optimizer_s == pytest.approx(8e-4)
    assert prediction.step_time_s == pytest.approx(4.241e-3 + 8e-3 + 8e-4)
    # 1 MB of inputs over a 10 GB/s link, reported beside the step.
    assert prediction.transfer_s == pytest.approx(1e-4)
    assert prediction.throughput_samples_per_s == pytest.approx(8 / prediction.step_time_s)


def test_a_training_forward_pays_for_recording_the_autograd_graph():
    device = make_device(recorded_op_overhead_s=3e-5)
    plain = predict_step(make_cost(), make_device(), mode="train", memory_kind="cpu")
    recorded = predict_step(make_cost(), device, mode="train", memory_kind="cpu")
    # mm and add record a node each: 2 x (30 - 10) us more; the view keeps its own 1 us.
    assert recorded.forward_s - plain.forward_s == pytest.approx(2 * 2e-5)
    assert recorded.backward_s == pytest.approx(plain.backward_s)
    # Inference records nothing.
    infer = predict_step(make_cost(), device, mode="infer", memory_kind="cpu")
    assert infer.forward_s == pytest.approx(
        predict_step(make_cost(), make_device(), mode="infer", memory_kind="cpu").forward_s
    )


def test_host_bound_phase_costs_at_least_the_host_time():
    # Ten tiny adds: 4.05 kB each, 4.05e3 / 5e10 = 81 ns of memory against 10 us of dispatch.
    tiny = tuple(add(nbytes=2.7e3) for _ in range(10))
    cost = make_cost(ops=tiny, optimizer_bytes=1e3)
    gpu = predict_step(cost, make_gpu(), mode="train", memory_kind="cuda")
    # Kernels hide under launches (10 * 10 us), but the host also runs 3 module calls (6 us).
    assert gpu.forward_s == pytest.approx(10 * 1e-5 + 6e-6)
    assert gpu.backward_s == 0.0
    # The foreach step is launch-bound: 3 calls * 10 us beat 1e3 / 5e10 = 20 ns.
    assert gpu.optimizer_s == pytest.approx(3e-5)
    cpu = predict_step(cost, make_device(), mode="train", memory_kind="cpu")
    # On a CPU every call adds its kernel to its dispatch: 10 * (81 ns + 10 us) + 6 us.
    assert cpu.forward_s == pytest.approx(10 * (8.1e-8 + 1e-5) + 6e-6)
    assert cpu.breakdown[0].bound == "overhead"


def test_inference_uses_the_inference_ops_and_has_no_backward_or_optimizer():
    prediction = predict_step(make_cost(), make_device(), mode="infer", memory_kind="cpu")
    # The mm alone: 4 ms + 10 us, plus 3 module calls.
    assert prediction.forward_s == pytest.approx(4.01e-3 + 6e-6)
    assert (prediction.backward_s, prediction.optimizer_s) == (0.0, 0.0)
    assert prediction.step_time_s == prediction.forward_s
    assert prediction.mode == "infer"
    assert [(c.op_class, c.num_ops) for c in prediction.breakdown] == [("matmul", 1)]
    # The inference peak: the traced one, no optimizer state.
    assert prediction.peak_memory_bytes == 5e6


def test_memory_fit_and_largest_batch():
    cost = make_cost()
    # Training peak: max(1.2e7 traced + 4e6 momentum, 4e6 weights + 4e6 gradients + 4e6 momentum).
    unknown = predict_step(cost, make_device(), mode="train", memory_kind="cpu")
    assert unknown.peak_memory_bytes == 1.6e7
    assert (unknown.fits, unknown.max_batch_size, unknown.memory_capacity_bytes) == (None, None, None)

    # 100 MB is below the runtime overhead alone (384 MiB).
    small = predict_step(cost, make_device(memory_bytes=1e8), mode="train", memory_kind="cpu")
    assert (small.fits, small.max_batch_size) == (False, 0)

    # 1 GB: room = 1e9 - 384 MiB; fixed = 4e6 weights + 4e6 momentum = 8e6; 1e6 per sample.
    large = predict_step(cost, make_device(memory_bytes=1e9), mode="train", memory_kind="cpu")
    assert large.fits is True
    assert large.max_batch_size == math.floor((1e9 - CPU_OVERHEAD - 8e6) / 1e6) == 589
    # Inference: fixed = 4e6 weights; 1.25e5 per sample.
    infer = predict_step(cost, make_device(memory_bytes=1e9), mode="infer", memory_kind="cpu")
    assert infer.max_batch_size == math.floor((1e9 - CPU_OVERHEAD - 4e6) / 1.25e5) == 4746


def test_prediction_shows_what_the_training_peak_holds():
    prediction = predict_step(make_cost(), make_device(memory_bytes=1e9), mode="train", memory_kind="cpu")
    console = Console(width=200, record=True, color_system=None)
    console.print(render_prediction(prediction))
    # The backward moment at batch 8: weights 4e6, activations 8 x 1e6, plus 4e6 of momentum.
    assert (
        "15.3 MiB peak of 954 MiB, in the backward pass: weights 3.81 MiB, gradients 0 B, "
        "optimizer state 3.81 MiB, activations 7.63 MiB, transient 0 B"
    ) in console.export_text()
    data = prediction_to_dict(prediction)
    assert data["memory"]["train_peak_bytes"] == data["peak_memory_bytes"] == 1.6e7
    inference = predict_step(make_cost(), make_device(memory_bytes=1e9), mode="infer", memory_kind="cpu")
    assert prediction_to_dict(inference)["memory"] is None


def test_measured_shapes_replace_the_intensity_curve():
    # 1000^3 lies between 512^3 (0.3) and 2048^3 (0.7): log2 distances 3 * 0.966^2 and 3 * 1.034^2.
    points = ((512.0, 512.0, 512.0, 0.3), (2048.0, 2048.0, 2048.0, 0.7))
    device = make_device(matmul_shapes={"fp32": points})
    fraction = interpolate_shape(points, (1000, 1000, 1000))
    d1 = 3 * (math.log2(1000) - 9) ** 2
    d2 = 3 * (11 - math.log2(1000)) ** 2
    assert fraction == pytest.approx((0.3 / d1 + 0.7 / d2) / (1 / d1 + 1 / d2))
    t = op_time(mm(), device, host_overhead_s=0.0)
    assert t.compute_s == pytest.approx(2e9 / (1e12 * fraction))


def test_products_without_curves_of_their_dtype_fall_back_instead_of_failing():
    # Shapes measured for bf16 only: an fp32 product uses the intensity curve.
    device = make_device(matmul_shapes={"bf16": ((512.0, 512.0, 512.0, 0.9),)})
    assert op_time(mm(), device, host_overhead_s=0.0).compute_s == pytest.approx(2e9 / (1e12 * 0.5))
    # No fp32 curve at all: the product runs at the full peak rather than failing.
    bare = make_device(compute={"matmul.bf16": FLAT})
    assert op_time(mm(), bare, host_overhead_s=0.0).compute_s == pytest.approx(2e9 / 1e12)


def conv(shape=(1000, 100, 10), *, backward=False, detail="", blocking="always"):
    """A convolution whose implicit product is ``shape``: 2e6 FLOPs forward by default."""
    flops = 2.0 * math.prod(shape) * (2 if backward else 1)
    return OpCost(
        name="convolution_backward" if backward else "convolution",
        op_class="conv",
        module="conv",
        phase="backward" if backward else "forward",
        flops=flops,
        bytes_read=4e3,
        bytes_written=4e3,
        dtype="fp32",
        detail=detail,
        shape=shape,
        channel_blocking=blocking,
    )


def test_convolutions_interpolate_between_measured_layers_by_their_product_shape():
    # Two measured layers: a narrow one (8 output channels) at 0.1 and a wide one (64) at 0.4.
    forward = ((1000.0, 100.0, 8.0, 0.1), (1000.0, 100.0, 64.0, 0.4))
    device = make_device(
        compute={"matmul.fp32": FLAT, "conv.fp32": FLAT},
        conv_shapes={"conv.fp32": forward, "conv_backward.fp32": ((1000.0, 100.0, 8.0, 0.05),)},
        matmul_shapes={"fp32": ((1000.0, 100.0, 10.0, 0.9),)},  # products' shapes: not for convs
    )
    # A layer of 8 channels is the narrow one measured: 2e6 FLOPs at 0.1 of 1 TFLOP/s = 16 us.
    narrow = conv((1000, 100, 8))
    assert op_time(narrow, device, host_overhead_s=0.0).compute_s == pytest.approx(1.6e-6 / 0.1)
    # 10 channels, between the two layers: log2(10 / 8) / log2(64 / 8) = 0.107 of the way from the
    # narrow one's 0.1 to the wide one's 0.4.
    fraction = 0.1 + (0.4 - 0.1) * math.log2(10 / 8) / 3
    assert op_time(conv(), device, host_overhead_s=0.0).compute_s == pytest.approx(2e6 / (1e12 * fraction))
    # The backward uses its own layers: 3.2e6 FLOPs (two products) of an 8-channel layer at 0.05.
    back = op_time(conv((1000, 100, 8), backward=True), device, host_overhead_s=0.0)
    assert back.compute_s == pytest.approx(3.2e6 / (1e12 * 0.05))
    # Depthwise layers keep their memory curves; without measured layers, the intensity curve.
    assert op_time(conv(detail="depthwise"), device, host_overhead_s=0.0).compute_s == pytest.approx(
        2e6 / (1e12 * 0.5)
    )
    bare = make_device(compute={"matmul.fp32": FLAT, "conv.fp32": FLAT})
    assert op_time(conv(), bare, host_overhead_s=0.0).compute_s == pytest.approx(2e6 / (1e12 * 0.5))


def test_channel_blocked_convolutions_pay_for_whole_blocks_of_output_channels():
    # A two-thread device that computes 16 output channels at once, and one 16-channel layer
    # measured at 0.4 (the fit stores a blocked layer by its padded channels, at the efficiency of
    # that work).
    device = make_device(
        compute={"matmul.fp32": FLAT, "conv.fp32": FLAT},
        conv_shapes={"conv.fp32": ((1000.0, 100.0, 16.0, 0.4),)},
        conv_channel_block=16,
        num_threads=2,
    )

    def compute_s(op, on=device):
        return op_time(op, on, host_overhead_s=0.0).compute_s

    wide = compute_s(conv((1000, 100, 16)))
    assert wide == pytest.approx(3.2e6 / (1e12 * 0.4))  # 8 us
    # 6 and 16 channels take the same time: 6 channels do 6/16 of the work in a whole block. So
    # do their backward passes (here from the forward's layers, at 0.4 too).
    assert compute_s(conv((1000, 100, 6))) == pytest.approx(wide)
    assert compute_s(conv((1000, 100, 6), backward=True)) == pytest.approx(2 * wide)
    # 24 channels take two blocks: 32 channels' work.
    assert compute_s(conv((1000, 100, 24))) == pytest.approx(2 * wide)
    # A layer PyTorch runs by its own kernels (a small one, a grouped one) is priced by its FLOPs.
    assert compute_s(conv((1000, 100, 6), blocking="never")) == pytest.approx(wide * 6 / 16)
    # A small-batch 1x1 layer runs by oneDNN with two threads, by PyTorch's own kernel with one.
    assert compute_s(conv((1000, 100, 6), blocking="threaded")) == pytest.approx(wide)
    one_thread = dataclasses.replace(device, num_threads=1)
    assert compute_s(conv((1000, 100, 6), blocking="threaded"), one_thread) == pytest.approx(wide * 6 / 16)
    # Without blocks (GPUs, older calibrations), FLOPs alone.
    unblocked = dataclasses.replace(device, conv_channel_block=1)
    assert compute_s(conv((1000, 100, 6)), unblocked) == pytest.approx(wide * 6 / 16)
    # Devices from the defaults (no measured layers) pad too, on the intensity curve: 1.2e6 FLOPs
    # padded to 3.2e6, at half the peak.
    bare = make_device(compute={"matmul.fp32": FLAT, "conv.fp32": FLAT}, conv_channel_block=16)
    assert compute_s(conv((1000, 100, 6)), bare) == pytest.approx(3.2e6 / (1e12 * 0.5))


def test_which_convolutions_pytorch_runs_channel_blocked():
    def blocking(batch=8, elements=10**6, kernel=(3, 3), strided=False, groups=1, dtype="fp32"):
        return conv_channel_blocking(
            batch=batch, input_elements=elements, kernel=kernel, strided=strided, groups=groups, dtype=dtype
        )

    assert blocking() == "always"
    # Small layers at batch 1 run by PyTorch's own kernels: 3x3 on 64 x 14 x 14 (12544 elements),
    # not on 64 x 28 x 28, and never a 5x5 (kernels over 3x3 always go to oneDNN).
    assert blocking(batch=1, elements=64 * 14 * 14) == "never"
    assert blocking(batch=1, elements=64 * 28 * 28) == "always"
    assert blocking(batch=1, elements=3 * 32 * 32, kernel=(5, 5)) == "always"
    # Unstrided 1x1 layers below batch 16: oneDNN only with more than one thread.
    assert blocking(batch=4, kernel=(1, 1)) == "threaded"
    assert blocking(batch=16, kernel=(1, 1)) == blocking(batch=4, kernel=(1, 1), strided=True) == "always"
    # Grouped layers run by oneDNN's GEMM; bf16 always by oneDNN.
    assert blocking(groups=2) == "never"
    assert blocking(batch=1, elements=100, dtype="bf16") == "always"
    assert runs_blocked("threaded", 2) and not runs_blocked("threaded", 1) and not runs_blocked("never", 8)


def pointwise(name, detail=""):
    """A pointwise function of 1e6 fp32 elements: 8 MB moved."""
    return OpCost(
        name=name,
        op_class="elementwise",
        module="act",
        phase="backward" if name.endswith("_backward") else "forward",
        flops=1e6,
        bytes_read=4e6,
        bytes_written=4e6,
        dtype="fp32",
        detail=detail,
    )


def test_transcendental_functions_use_the_curve_measured_for_them():
    # Measured: erf's GELU at 0.2 of the bandwidth, tanh's at 0.05, plain elementwise at 0.5.
    curves = {"elementwise": FLAT, "activation": EfficiencyCurve(points=((1.0, 0.2),))}
    device = make_device(memory={**curves, "activation_tanh": EfficiencyCurve(points=((1.0, 0.05),))})

    def memory_s(op, on=device):
        return op_time(op, on, host_overhead_s=0.0).memory_s

    # 8e6 B over 1e11 B/s at 0.2: 0.4 ms for erf's GELU, its backward and SiLU.
    for op in (pointwise("gelu"), pointwise("gelu_backward"), pointwise("silu")):
        assert memory_s(op) == pytest.approx(4e-4)
    # GPT-2's GELU evaluates tanh, as torch.tanh does: at 0.05, 1.6 ms.
    for op in (pointwise("gelu", "tanh"), pointwise("gelu_backward", "tanh"), pointwise("tanh")):
        assert memory_s(op) == pytest.approx(1.6e-3)
    # tanh's backward only multiplies by its saved output: elementwise, at 0.5.
    assert memory_s(pointwise("tanh_backward")) == pytest.approx(1.6e-4)
    # A calibration from before the tanh curve existed uses erf's.
    older = make_device(memory=curves)
    assert memory_s(pointwise("gelu", "tanh"), older) == pytest.approx(4e-4)


def test_a_first_layer_s_weight_only_backward_uses_the_layers_measured_that_way():
    full, weight = ((1000.0, 100.0, 10.0, 0.4),), ((1000.0, 100.0, 10.0, 0.1),)
    device = make_device(
        compute={"matmul.fp32": FLAT, "conv.fp32": FLAT},
        conv_shapes={
            "conv.fp32": ((1000.0, 100.0, 10.0, 0.5),),
            "conv_backward.fp32": full,
            "conv_backward_weight.fp32": weight,
        },
    )
    # The weight's gradient alone is one forward's FLOPs, 2e6: at 0.1 of 1 TFLOP/s, 20 us.
    first = dataclasses.replace(conv(backward=True, detail="weight_only"), flops=2e6)
    assert op_time(first, device, host_overhead_s=0.0).compute_s == pytest.approx(2e-5)
    # Any other backward (both gradients, 4e6 FLOPs) uses the full backward's layers: 10 us.
    assert op_time(conv(backward=True), device, host_overhead_s=0.0).compute_s == pytest.approx(1e-5)
    # Calibrated before weight-only layers were measured: the full backward's, 5 us.
    older = dataclasses.replace(device, conv_shapes={"conv.fp32": full, "conv_backward.fp32": full})
    assert op_time(first, older, host_overhead_s=0.0).compute_s == pytest.approx(5e-6)


def lstm_layer(backward=False):
    """A 1-layer LSTM op of 35 steps, batch 1, 650 inputs and units: (T, B, I, 4H)."""
    return OpCost(
        name="mkldnn_rnn_layer_backward" if backward else "mkldnn_rnn_layer",
        op_class="matmul",
        module="rnn",
        phase="backward" if backward else "forward",
        flops=2e8 * (2 if backward else 1),
        bytes_read=1e7,
        bytes_written=1e5,
        dtype="fp32",
        shape=(35, 1, 650, 2600),
    )


def test_recurrent_layers_take_the_efficiency_of_the_measured_lstm_layers_nearest_their_shape():
    # Layers measured at batch 1: 256 units at 0.2, 1024 at 0.05 (forward); backward at 0.04.
    forward = ((1.0, 256.0, 1024.0, 0.2), (1.0, 1024.0, 4096.0, 0.05))
    device = make_device(
        lstm_shapes={"lstm.fp32": forward, "lstm_backward.fp32": ((1.0, 1024.0, 4096.0, 0.04),)},
        matmul_shapes={"fp32": ((1.0, 650.0, 2600.0, 0.9),)},  # a lone product: not for the cell
    )
    # 650 units: log2 distances 2 x log2(650/256)^2 and 2 x log2(1024/650)^2 (Shepard weights).
    d1, d2 = 2 * math.log2(650 / 256) ** 2, 2 * math.log2(1024 / 650) ** 2
    fraction = (0.2 / d1 + 0.05 / d2) / (1 / d1 + 1 / d2)
    assert op_time(lstm_layer(), device, host_overhead_s=0.0).compute_s == pytest.approx(
        2e8 / (1e12 * fraction)
    )
    # The backward (4e8 FLOPs) at its own 0.04: 10 ms.
    assert op_time(lstm_layer(True), device, host_overhead_s=0.0).compute_s == pytest.approx(1e-2)
    # Without measured layers the cell is modelled from matrix products (here 0.9 for both parts).
    older = dataclasses.replace(device, lstm_shapes={})
    assert op_time(lstm_layer(), older, host_overhead_s=0.0).compute_s < 1e-3


def test_max_pooling_uses_the_curve_of_its_window_and_direction():
    # Measured: 3x3 forward at 0.04 of the bandwidth, 2x2 forward at 0.1, the backward at 0.5.
    old = {"elementwise": FLAT, "max_pool": EfficiencyCurve(points=((1.0, 0.04),))}
    device = make_device(
        memory={
            **old,
            "max_pool_2x2": EfficiencyCurve(points=((1.0, 0.1),)),
            "max_pool_backward": EfficiencyCurve(points=((1.0, 0.5),)),
        }
    )

    def memory_s(op, on=device):
        return op_time(op, on, host_overhead_s=0.0).memory_s

    forward, backward = pointwise("max_pool2d_with_indices"), pointwise("max_pool2d_with_indices_backward")
    # 8e6 B over 1e11 B/s: 2 ms at 0.04, 0.8 ms at 0.1, 0.16 ms at 0.5.
    assert memory_s(forward) == pytest.approx(2e-3)
    assert memory_s(pointwise("max_pool2d_with_indices", "2x2")) == pytest.approx(8e-4)
    assert memory_s(backward) == pytest.approx(1.6e-4)
    # A calibration from before either was measured uses the 3x3 forward's curve for both.
    older = make_device(memory=old)
    assert memory_s(pointwise("max_pool2d_with_indices", "2x2"), older) == pytest.approx(2e-3)
    assert memory_s(backward, older) == pytest.approx(2e-3)


def test_cold_share_and_the_warm_cold_blend_of_measured_shapes():
    cache = 32 * 2**20
    assert cold_share(cache, cache) == 0.0  # the step fits in the cache: warm
    assert cold_share(1.5 * cache, cache) == pytest.approx(math.log2(1.5))
    assert cold_share(4 * cache, cache) == 1.0
    assert cold_share(1e6, None) == 1.0  # no cache size known: cold
    warm = ((1000.0, 1000.0, 1000.0, 0.8),)
    cold = ((1000.0, 1000.0, 1000.0, 0.4),)
    device = make_device(matmul_shapes={"fp32": warm, "fp32.cold": cold})
    # Half cold: 0.5 * 2e9 / (1e12 * 0.8) + 0.5 * 2e9 / (1e12 * 0.4) = 1.25 ms + 2.5 ms.
    t = op_time(mm(), device, host_overhead_s=0.0, cold_share=0.5)
    assert t.compute_s == pytest.approx(3.75e-3)
    assert op_time(mm(), device, host_overhead_s=0.0, cold_share=0.0).compute_s == pytest.approx(2.5e-3)


# --- wave quantization ------------------------------------------------------------------------


def tiled(m, n, k=64, batch=1):
    return OpCost(
        name="bmm" if batch > 1 else "mm",
        op_class="matmul",
        module="",
        phase="forward",
        flops=2.0 * batch * m * k * n,
        bytes_read=4.0 * batch * (m * k + k * n),
        bytes_written=4.0 * batch * m * n,
        dtype="fp32",
        shape=(batch, m, k, n) if batch > 1 else (m, k, n),
    )


def test_last_wave_of_tiles_leaves_multiprocessors_idle():
    device = make_gpu(matmul_tile=(128, 128), num_multiprocessors=132)
    untiled = dataclasses.replace(device, matmul_tile=None)
    # 133 x 1 tiles of 128 x 128: two waves over 132 SMs, the second with one tile.
    over = tiled(133 * 128, 128)
    assert _wave_utilization(over, device) == pytest.approx(133 / 264)
    slow = op_time(over, device, host_overhead_s=0.0).compute_s
    fast = op_time(over, untiled, host_overhead_s=0.0).compute_s
    assert fast / slow == pytest.approx(133 / 264)
    # 132 tiles fill one wave exactly, and fewer count as full (split-K).
    for m in (132 * 128, 100 * 128, 128):
        op = tiled(m, 128)
        assert _wave_utilization(op, device) == 1.0
        assert op_time(op, device, host_overhead_s=0.0).compute_s == pytest.approx(
            op_time(op, untiled, host_overhead_s=0.0).compute_s
        )
    # A batch of two products of 67 tiles: 134 tiles, two waves.
    assert _wave_utilization(tiled(67 * 128, 128, batch=2), device) == pytest.approx(134 / 264)
    # Partial tiles count whole: 129 rows are two tile rows.
    assert _wave_utilization(tiled(129, 67 * 128), device) == pytest.approx(134 / 264)


# --- calibration fits -------------------------------------------------------------------------

CPU_PROPERTIES = CPUProperties(
    model="Hand EPYC",
    vendor="amd",
    architecture="zen3",
    num_physical_cores=2,
    num_logical_cpus=2,
    num_threads=2,
    isa_features=("avx2", "fma"),
    torch_cpu_capability="AVX2",
    base_clock_hz=2.45e9,
    max_clock_hz=3.5e9,
    clock_source="test",
    simd_fp32_lanes=8,
    fma_units_per_core=2,
    fma_units_source="test",
    l1d_cache_bytes_per_core=32 * 2**10,
    l2_cache_bytes_per_core=512 * 2**10,
    l3_cache_bytes=32 * 2**20,
    memory_bytes=2**34,
)
CPU = DeviceDescription(
    id="cpu",
    kind="cpu",
    name="Hand EPYC",
    vendor="amd",
    memory_bytes=2**34,
    peaks=(Peak(dtype="fp32", flops_per_s=1e11, derivation="round number"),),
    cpu=CPU_PROPERTIES,
)
LAUNCH_S = 4e-6


def timed(benchmark, case_id, median_s, *, unit="s", num_threads=2, **fields):
    """A result whose every sample took ``median_s`` (value: seconds, FLOP/s or B/s by unit)."""
    summary = Summary(
        median_s=median_s, iqr_s=0.0, min_s=median_s, max_s=median_s, mean_s=median_s, cv=0.0, num_samples=5
    )
    if unit == "s":
        value = median_s
    elif unit == "FLOP/s":
        value = fields["flops_per_iteration"] / median_s
    else:
        value = fields["bytes_per_iteration"] / median_s
    return Result(
        device=fields.pop("device", "cpu"),
        benchmark=benchmark,
        case_id=case_id,
        unit=unit,
        num_threads=num_threads,
        value=value,
        measurement=Measurement(
            samples_s=(median_s,) * 5,
            iterations_per_sample=10,
            overhead_s=0.0,
            num_warmup_iterations=10,
            summary=summary,
        ),
        **fields,
    )


def matmul_result(n, fraction, *, peak=1e11, num_threads=2, **fields):
    """An n^3 fp32 product that ran at ``fraction`` of the peak, plus the launch cost."""
    flops = 2.0 * n**3
    return timed(
        "matmul",
        f"matmul.fp32.{n}",
        flops / (fraction * peak) + LAUNCH_S,
        unit="FLOP/s",
        num_threads=num_threads,
        dtype="fp32",
        size=n,
        shape=(n, n, n),
        flops_per_iteration=flops,
        bytes_per_iteration=12.0 * n * n,
        **fields,
    )


def memory_result(benchmark, nbytes, bandwidth, *, num_threads=2):
    return timed(
        benchmark,
        f"{benchmark}.{int(nbytes)}",
        nbytes / bandwidth + LAUNCH_S,
        unit="B/s",
        num_threads=num_threads,
        dtype="fp32",
        bytes_per_iteration=nbytes,
    )


def flat(points):
    """Curve points or shapes as one list, for pytest.approx."""
    return [x for point in points for x in point]


def calibration_results():
    return [
        timed("launch", "launch", LAUNCH_S),
        timed("recorded_op", "recorded_op", 2.5 * LAUNCH_S),
        timed("view", "view", 1.5e-6),
        timed("module_call", "module_call", 3e-6),
        timed("backward_op", "backward_op", 2e-6),
        timed("conv_call", "conv_call", 1.5e-5),
        matmul_result(64, 0.2),
        matmul_result(256, 0.5),
        # A 3x3 layer of 16 to 32 channels at 8x8, batch 2: the product (128, 144, 32) at 0.3.
        conv_result(0.3),
        conv_result(0.2, backward=True),
        # In cache: 1.2e5 bytes at 40 GB/s (3 us of kernel in 7 us); DRAM: 1.2e7 bytes at 20 GB/s.
        memory_result("triad", 1.2e5, 4e10),
        memory_result("triad", 1.2e7, 2e10),
        # 1.2 kB: 30 ns of kernel in 4.03 us is host cost, not a bandwidth: left out.
        memory_result("triad", 1.2e3, 4e10),
        memory_result("copy", 8e6, 1.6e10),
        # Adam over 1 tensor and over 64: 20 us per tensor, 30 us per step.
        timed("optimizer_step", "optimizer_step.adam.1", 5e-5, dtype="adam", size=1),
        timed("optimizer_step", "optimizer_step.adam.64", 3e-5 + 64 * 2e-5, dtype="adam", size=64),
        # 64 MB filled fresh in 48 ms, rewritten in 8 ms: 0.625 ns per byte of fresh pages.
        timed(
            "first_touch", "first_touch.fresh", 0.048, unit="B/s", bytes_per_iteration=6.4e7, flags=("fresh",)
        ),
        timed("first_touch", "first_touch.reused", 0.008, unit="B/s", bytes_per_iteration=6.4e7),
        # Single thread, another device, a failure: all ignored at 2 threads.
        matmul_result(256, 0.25, num_threads=1),
        timed("launch", "launch", 9e-6, num_threads=1),
        matmul_result(256, 0.9, device="cuda:0"),
        dataclasses.replace(matmul_result(512, 0.9), status="error", error="boom"),
    ]


def conv_result(fraction, *, backward=False, peak=1e11):
    """A 3x3 convolution (batch 2, 16 to 32 channels, 8x8) at ``fraction`` of the peak."""
    flops = (4.0 if backward else 2.0) * 128 * 144 * 32
    benchmark = "conv2d_backward" if backward else "conv2d"
    return timed(
        benchmark,
        f"{benchmark}.fp32.2",
        flops / (fraction * peak) + LAUNCH_S,
        unit="FLOP/s",
        dtype="fp32",
        size=2,
        shape=(2, 16, 8, 8, 32, 3, 3),
        flops_per_iteration=flops,
        bytes_per_iteration=4.0 * (2 * 16 * 64 + 2 * 32 * 64 + 32 * 16 * 9),
    )


def test_fit_turns_benchmarks_into_curves_and_host_costs():
    model = fit_device_model(calibration_results(), CPU, num_threads=2, source="test run 1")
    assert (model.device, model.name, model.kind, model.asynchronous) == ("cpu", "Hand EPYC", "cpu", False)
    assert (model.num_threads, model.source) == (2, "test run 1")
    assert model.error_band == LOCAL_ERROR_BAND["cpu"]
    # Host costs: each benchmark's median; the launch cost is the operator call.
    assert model.op_overhead_s == pytest.approx(LAUNCH_S)
    assert model.recorded_op_overhead_s == pytest.approx(2.5 * LAUNCH_S)
    assert (model.view_overhead_s, model.module_overhead_s) == (1.5e-6, 3e-6)
    assert (model.backward_op_overhead_s, model.conv_overhead_s) == (2e-6, 1.5e-5)
    # Compute: (intensity = 2 n^3 / 12 n^2 = n / 6, fraction = flops / (median - launch) / peak).
    (low, high) = model.compute["matmul.fp32"].points
    assert low == pytest.approx((64 / 6, 0.2))
    assert high == pytest.approx((256 / 6, 0.5))
    assert flat(model.matmul_shapes["fp32"]) == pytest.approx([64, 64, 64, 0.2, 256, 256, 256, 0.5])
    # Convolutions: their implicit products (2 x 8 x 8 outputs, 16 x 9 inputs each, 32 channels).
    assert flat(model.conv_shapes["conv.fp32"]) == pytest.approx([128, 144, 32, 0.3])
    assert flat(model.conv_shapes["conv_backward.fp32"]) == pytest.approx([128, 144, 32, 0.2])
    # Memory: no datasheet bandwidth, so the largest triad's 20 GB/s is the reference.
    assert model.bandwidth_bytes_per_s == pytest.approx(2e10)
    assert model.conv_channel_block == 8  # the CPU's 8 fp32 lanes
    assert flat(model.memory["stream"].points) == pytest.approx([1.2e5, 2.0, 1.2e7, 1.0])
    assert flat(model.memory["copy"].points) == pytest.approx([8e6, 0.8])
    # Adam: slope (1.31e-3 - 5e-5) / 63 per tensor, and the intercept per step.
    assert model.optimizer_tensor_s == pytest.approx({"adam": 2e-5})
    assert model.optimizer_step_s == pytest.approx({"adam": 3e-5})
    assert model.first_touch_s_per_byte == pytest.approx(6.25e-10)
    assert model.peak_flops_per_s == {"fp32": 1e11, "bf16": 1e11, "fp16": 1e11}
    assert (model.memory_bytes, model.cache_bytes) == (2**34, 32 * 2**20)
    assert summarize(model) == pytest.approx(
        {
            "best_matmul_fp32_fraction": 0.5,
            "dram_bandwidth_bytes_per_s": 2e10,
            "op_overhead_s": LAUNCH_S,
            "module_overhead_s": 3e-6,
        }
    )


def test_fit_stores_spatial_layers_by_their_padded_output_channels():
    def layer(c_out, kernel):
        flops = 2.0 * 2048 * 16 * kernel**2 * c_out  # 2 x 32 x 32 outputs
        return timed(
            "conv2d",
            f"conv2d.fp32.{c_out}.{kernel}",
            flops / (0.3 * 1e11) + LAUNCH_S,
            unit="FLOP/s",
            dtype="fp32",
            size=2,
            shape=(2, 16, 32, 32, c_out, kernel, kernel),
            flops_per_iteration=flops,
            bytes_per_iteration=1e4,
        )

    def fitted(threads):
        layers = [dataclasses.replace(layer(6, k), num_threads=threads) for k in (3, 1)]
        results = [timed("launch", "launch", LAUNCH_S, num_threads=threads), *layers]
        return fit_device_model(results, CPU, num_threads=threads, source="t")

    # 8 lanes: the 3x3 layer's 6 channels did 8 channels' work, at 0.3 x 8 / 6 of the peak. At one
    # thread the 1x1 layer (batch 2) ran by PyTorch's own kernel, and is stored as measured.
    one = fitted(1)
    assert flat(sorted(one.conv_shapes["conv.fp32"])) == pytest.approx([2048, 16, 6, 0.3, 2048, 144, 8, 0.4])
    # The intensity curve, for convolutions without measured layers, has the same efficiencies.
    assert sorted(f for _, f in one.compute["conv.fp32"].points) == pytest.approx([0.3, 0.4])
    # At two threads oneDNN ran it, channel-blocked too.
    two = fitted(2)
    assert flat(sorted(two.conv_shapes["conv.fp32"])) == pytest.approx([2048, 16, 8, 0.4, 2048, 144, 8, 0.4])


def test_fit_filters_threads_and_uses_the_datasheet_bandwidth():
    results = calibration_results()
    one = fit_device_model(results, CPU, num_threads=1, source="t")
    assert one.op_overhead_s == 9e-6
    # The one-thread product ran at 0.25 of the peak with 4 us on top; 9 us of launch come off.
    (point,) = one.compute["matmul.fp32"].points
    flops = 2.0 * 256**3
    assert point[1] == pytest.approx(flops / (flops / 0.25e11 + LAUNCH_S - 9e-6) / 1e11)
    # All threads together: the median launch cost of both thread counts.
    both = fit_device_model(results, CPU, num_threads=None, source="t")
    assert both.op_overhead_s == pytest.approx((LAUNCH_S + 9e-6) / 2)
    # With a peak bandwidth, the curve's fractions are of it.
    rated = dataclasses.replace(CPU, peak_bandwidth_bytes_per_s=4e10)
    model = fit_device_model(results, rated, num_threads=2, source="t")
    assert model.bandwidth_bytes_per_s == 4e10
    assert flat(model.memory["stream"].points) == pytest.approx([1.2e5, 1.0, 1.2e7, 0.5])


def test_products_that_overflow_the_rotated_working_set_count_as_warm_and_cold():
    # The plan rotates cases over twice the 32 MiB cache; a 2400^3 product moves 69 MB, more than
    # that alone, so it ran unrotated: already cold, and as warm as it can be.
    cold_256 = dataclasses.replace(matmul_result(256, 0.4), case_id="matmul.fp32.256.cold", flags=("cold",))
    results = [
        timed("launch", "launch", LAUNCH_S),
        matmul_result(256, 0.5),
        cold_256,
        matmul_result(2400, 0.3),
    ]
    model = fit_device_model(results, CPU, num_threads=2, source="t")
    warm, cold = (flat(sorted(model.matmul_shapes[key])) for key in ("fp32", "fp32.cold"))
    assert warm == pytest.approx([256, 256, 256, 0.5, 2400, 2400, 2400, 0.3])
    assert cold == pytest.approx([256, 256, 256, 0.4, 2400, 2400, 2400, 0.3])
    # The intensity curve is of cold products: both of those.
    assert flat(model.compute["matmul.fp32"].points) == pytest.approx([256 / 6, 0.4, 400, 0.3])


def test_calibration_threads():
    assert calibration_threads(CPU) == (1, 2)
    single = dataclasses.replace(CPU, cpu=dataclasses.replace(CPU_PROPERTIES, num_threads=1))
    assert calibration_threads(single) == (1,)
    gpu = DeviceDescription(id="cuda:0", kind="cuda", name="GPU", vendor="nvidia", memory_bytes=2**34)
    assert calibration_threads(gpu) == (None,)


# --- stored calibrations ----------------------------------------------------------------------

ENVIRONMENT = Environment(
    devicefit_version="0.1.0",
    python_version="3.11.7",
    torch_version="2.13.0+cpu",
    numpy_version="2.4.6",
    platform="Linux 6.1 x86_64",
    hostname="box",
    cpu_model="Hand EPYC",
    torch_num_threads=2,
)


def test_calibration_round_trips_through_the_store(tmp_path, catalog):
    fitted = fit_device_model(
        calibration_results(), CPU, num_threads=2, source="test", created_at="2026-11-22"
    )
    # A GPU model has a tile (a tuple) and tuples of tuples in every curve.
    h100 = catalog_default_model(catalog.get(H100_SXM))
    with Store(tmp_path / "c.db") as store:
        run_id = store.start_run(command="devicefit calibrate", environment=ENVIRONMENT, devices=(CPU,))
        store.add_calibration(run_id, fitted)
        store.add_calibration(run_id, h100)
        found = store.latest_calibration("cpu", device_name="Hand EPYC", hostname="box", num_threads=2)
        assert found == fitted
        assert isinstance(found.matmul_shapes["fp32"][0], tuple)
        again = store.latest_calibration(H100_SXM, device_name=h100.name, hostname="box")
        assert again == h100
        assert again.matmul_tile == (128, 128)
        # Another host, or another device in the same slot, has no calibration.
        assert store.latest_calibration("cpu", device_name="Hand EPYC", hostname="elsewhere") is None
        assert store.latest_calibration("cpu", device_name="Other CPU", hostname="box") is None
        assert store.latest_calibration("cpu", device_name="Hand EPYC", hostname="box", num_threads=8) is None


def test_full_calibration_is_preferred_to_a_newer_bench_fit(tmp_path):
    def model(source, threads):
        return make_device(device="cpu", name="Hand EPYC", source=source, num_threads=threads)

    with Store(tmp_path / "c.db") as store:
        runs = [store.start_run(command=str(i), environment=ENVIRONMENT, devices=(CPU,)) for i in range(3)]
        store.add_calibration(runs[0], model("calibrate 1t", 1))
        store.add_calibration(runs[0], model("calibrate 2t", 2))
        store.add_calibration(runs[1], model("bench", 2), origin="bench")

        def latest(threads=None):
            return store.latest_calibration(
                "cpu", device_name="Hand EPYC", hostname="box", num_threads=threads
            ).source

        assert latest(2) == "calibrate 2t"
        assert latest(1) == "calibrate 1t"
        # No thread count: the most threads of the newest full calibration.
        assert latest() == "calibrate 2t"
        store.add_calibration(runs[2], model("calibrate again", 2))
        assert latest(2) == "calibrate again"
    # Every calibration is kept, not replaced.
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("SELECT COUNT(*) FROM calibrations WHERE device = 'cpu'").fetchone() == (4,)


def test_version_2_database_gains_the_calibrations_table(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.executescript(MIGRATIONS[1])
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices, label) VALUES "
        "('2026-01-01T00:00:00+00:00', 'complete', 'devicefit bench', 'box', ?, '[]', 'old')",
        (json.dumps(dataclasses.asdict(ENVIRONMENT)),),
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()

    with Store(path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
        (run,) = store.list_runs()
        assert (run.command, run.label) == ("devicefit bench", "old")
        tables = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "calibrations" in tables
        store.add_calibration(run.run_id, make_device())
        assert store.latest_calibration("cpu", device_name="Hand CPU", hostname="box") == make_device()


# --- catalog device models --------------------------------------------------------------------


def test_h100_defaults_use_its_datasheet_and_hoppers_fractions(catalog):
    spec = catalog.get(H100_SXM)
    model = catalog_default_model(spec)
    assert (model.device, model.kind, model.asynchronous) == (H100_SXM, "gpu", True)
    assert model.peak_flops_per_s["fp32"] == 66.9e12
    assert model.peak_flops_per_s["bf16"] == 989.4e12
    assert "fp64" not in model.peak_flops_per_s and "fp8" not in model.peak_flops_per_s
    assert model.bandwidth_bytes_per_s == 3.35e12
    assert model.memory_bytes == 85_899_345_920
    assert (model.num_multiprocessors, model.matmul_tile) == (132, (128, 128))
    assert model.fp32_conv_dtype == "tf32"
    # Hopper overrides the asymptote to 0.81: 0.81 * I / (I + 40), highest at I = 16384.
    last = model.compute["matmul.bf16"].points[-1][1]
    assert last == pytest.approx(0.81 * 16384 / (16384 + 40))
    assert 0.80 < last < 0.81
    # Memory ramps to 0.90 of the bandwidth, half of it at 3.35e12 * 2.5 us = 8.375 MB per call.
    size, fraction = model.memory["stream"].points[-1]
    assert size == 4.0**17
    assert fraction == pytest.approx(0.90 * size / (size + 3.35e12 * 2.5e-6))
    # Kernel families scale the ramp (batch norm makes several passes: 0.7 on GPUs).
    assert model.memory["batch_norm"].points[-1][1] == pytest.approx(0.7 * fraction)
    defaults = default_parameters("gpu", "hopper")
    assert model.error_band == defaults["error_band"] == 0.35
    assert (model.op_overhead_s, model.module_overhead_s) == (defaults["op_overhead_s"], 3e-6)
    assert model.origin == "defaults" and "Hopper" in model.source


def test_cpu_peak_is_derived_from_cores_lanes_and_clock(catalog):
    model = catalog_default_model(catalog.get("amd-epyc-7763"))
    # 64 cores x 8 AVX2 lanes x 2 FMA units x 2 FLOP x 3.5 GHz.
    assert model.peak_flops_per_s["fp32"] == pytest.approx(64 * 8 * 2 * 2 * 3.5e9)
    assert (model.kind, model.asynchronous, model.num_threads) == ("cpu", False, 64)
    assert model.bandwidth_bytes_per_s == 204.8e9
    assert model.matmul_tile is None
    assert model.error_band == default_parameters("cpu", "zen3")["error_band"]
    assert "derived from cores" in model.source
    # Zen 4 runs AVX-512 on two 256-bit FMA units: 8 lanes, as Zen 3, not the ISA's 16.
    zen4 = catalog_default_model(catalog.get("amd-epyc-9654"))
    assert zen4.peak_flops_per_s["fp32"] == pytest.approx(96 * 8 * 2 * 2 * 3.7e9)
    assert "8 lanes x 2 FMA units (AMD Zen 4" in zen4.source
    # Its convolutions block channels by one AVX2 register, 8 floats; a GPU's do not.
    assert model.conv_channel_block == 8
    assert catalog_default_model(catalog.get(H100_SXM)).conv_channel_block == 1


def test_tpu_fp32_is_three_bf16_passes(catalog):
    model = catalog_default_model(catalog.get("google-tpu-v4"))
    assert model.peak_flops_per_s["fp32"] == pytest.approx(275e12 / 3)
    assert model.kind == "tpu"


@pytest.mark.parametrize("entry", ["nvidia-b200", "apple-m3-max-gpu", "apple-m3-max-cpu"])
def test_entry_without_an_fp32_peak_is_refused_by_name(catalog, entry):
    with pytest.raises(UsageError, match="fp32 peak") as raised:
        catalog_default_model(catalog.get(entry))
    assert entry in str(raised.value)
    assert raised.value.exit_code == 2


def test_transferred_model_keeps_curves_and_host_costs(catalog):
    reference = dataclasses.replace(
        catalog_default_model(catalog.get(H100_SXM)),
        device="cuda:0",
        name="NVIDIA H100 80GB HBM3",
        op_overhead_s=7e-6,
        source="devicefit calibrate, run 3",
        error_band=0.2,
    )
    spec = catalog.get(H200)
    model = transferred_model(reference, spec)
    assert (model.device, model.name) == (H200, spec.name)
    assert model.compute == reference.compute and model.memory == reference.memory
    assert (model.op_overhead_s, model.module_overhead_s) == (7e-6, reference.module_overhead_s)
    assert model.peak_flops_per_s["bf16"] == 989.5e12
    assert model.peak_flops_per_s["fp32"] == 66.9e12
    assert model.bandwidth_bytes_per_s == 4.8e12
    assert model.memory_bytes == spec.memory_bytes == 151_397_597_184
    assert model.num_multiprocessors == 132
    assert "transferred" in model.source and "devicefit calibrate, run 3" in model.source
    assert model.error_band == 0.25  # at least 0.25 across devices


# --- resolving --device -----------------------------------------------------------------------


def resolve(query, catalog, **kwargs):
    kwargs.setdefault("local_devices", ())
    kwargs["calibrations"] = stored_calibrations(kwargs.pop("store", None), kwargs["local_devices"])
    return resolve_targets(query, catalog=catalog, **kwargs)


def stored_calibrations(store, devices):
    """What the CLI reads from the store for ``resolve_targets``: each local device's calibrations here."""
    if store is None:
        return None
    host = socket.gethostname()
    return {d.id: store.calibrations(d.id, device_name=d.name, hostname=host) for d in devices}


def calibrated(store):
    """What the CLI reads from the store for ``needs_local_devices``."""
    return None if store is None else store.calibrated_devices(socket.gethostname())


def test_catalog_names_resolve(catalog):
    ids = [t.model.device for t in resolve("h100", catalog).targets]
    assert ids == ["nvidia-h100-pcie-80gb", H100_SXM, "nvidia-h100-nvl"]
    (target,) = resolve("a100 80gb pcie", catalog).targets
    assert target.model.device == "nvidia-a100-80gb-pcie"
    assert (target.local, target.memory_kind, target.architecture) == (False, "cuda", "ampere")
    # Comma-separated, duplicates once.
    ids = [t.model.device for t in resolve("h100-sxm, h200, nvidia-h100-sxm5-80gb", catalog).targets]
    assert ids == [H100_SXM, H200]


def test_unknown_names_are_usage_errors(catalog):
    with pytest.raises(UsageError, match="no catalog device matches 'nosuchgpu'"):
        resolve("nosuchgpu", catalog)
    with pytest.raises(UsageError) as raised:
        resolve("nvidia-a100-80gb-pcei", catalog)
    assert "Did you mean" in raised.value.fix and "nvidia-a100-80gb-pcie" in raised.value.fix
    with pytest.raises(UsageError, match=r"no device 'cuda' \(found: none\)"):
        resolve("cuda", catalog)


def test_all_predicts_every_catalog_device_with_figures(catalog):
    resolution = resolve("all", catalog)
    skipped = {device for device, _ in resolution.skipped}
    assert skipped == {"nvidia-b200", "apple-m2-max-gpu", "apple-m3-max-gpu", "apple-m3-max-cpu"}
    assert all("fp32 peak" in reason for _, reason in resolution.skipped)
    predicted = [t.model.device for t in resolution.targets]
    assert sorted(predicted + sorted(skipped)) == sorted(d.id for d in catalog.devices)
    assert all(t.model.origin == "defaults" for t in resolution.targets)


GPU = DeviceDescription(
    id="cuda:0",
    kind="cuda",
    name="NVIDIA H100 80GB HBM3",
    vendor="nvidia",
    memory_bytes=85_899_345_920,
    peaks=(Peak(dtype="fp32", flops_per_s=66.9e12, derivation="catalog"),),
    peak_bandwidth_bytes_per_s=3.35e12,
    catalog_id=H100_SXM,
)


@pytest.fixture
def here(tmp_path):
    """A store with one run on this host."""
    store = Store(tmp_path / "here.db")
    environment = dataclasses.replace(ENVIRONMENT, hostname=socket.gethostname())
    run_id = store.start_run(command="devicefit calibrate", environment=environment, devices=(CPU, GPU))
    yield store, run_id
    store.close()


def test_local_cpu_uses_its_calibration(catalog, here):
    store, run_id = here
    fitted = fit_device_model(calibration_results(), CPU, num_threads=2, source="devicefit calibrate, run 1")
    store.add_calibration(run_id, fitted)
    (target,) = resolve("local", catalog, local_devices=(CPU,), store=store).targets
    assert target.model == fitted
    assert (target.local, target.memory_kind, target.notes) == (True, "cpu", ())
    assert target.model.origin == "calibrated"
    # Asking for a thread count never calibrated falls back to the calibrated one, and says so.
    (target,) = resolve("cpu", catalog, local_devices=(CPU,), store=store, num_threads=1).targets
    assert target.model == fitted
    assert "calibrated with 2 threads, not 1" in target.notes[0]


def test_uncalibrated_local_cpu_says_to_calibrate(catalog, here):
    store, _ = here
    (target,) = resolve("local", catalog, local_devices=(CPU,), store=store).targets
    assert target.model.origin == "defaults"
    assert target.model.peak_flops_per_s["fp32"] == 1e11  # its own peak, the defaults' fractions
    assert any("devicefit calibrate" in note for note in target.notes)
    assert target.model == local_default_model(CPU, None)


def test_calibrated_local_gpu_transfers_to_its_architecture(catalog, here):
    store, run_id = here
    calibrated = dataclasses.replace(
        catalog_default_model(catalog.get(H100_SXM)),
        device="cuda:0",
        name=GPU.name,
        source="devicefit calibrate, run 1",
        origin="calibrated",
        error_band=0.2,
    )
    store.add_calibration(run_id, calibrated)
    resolution = resolve("h200, a100 80gb pcie", catalog, local_devices=(GPU,), store=store)
    h200, a100 = resolution.targets
    assert h200.model.device == H200
    assert h200.model.origin == "transferred" and h200.model.source.startswith("transferred")
    assert h200.model.bandwidth_bytes_per_s == 4.8e12
    # Another architecture keeps the defaults.
    assert a100.model.origin == "defaults" and a100.model.source.startswith("uncalibrated")


def test_catalog_names_need_no_local_devices_unless_a_local_gpu_is_calibrated(catalog, here):
    store, run_id = here
    assert needs_local_devices("local", calibrated(store)) and needs_local_devices(
        "h100, cpu", calibrated(store)
    )
    assert needs_local_devices("cuda:1", None) and needs_local_devices("", None)
    assert not needs_local_devices("h100, a100 80gb pcie", calibrated(store))
    store.add_calibration(run_id, fit_device_model(calibration_results(), CPU, num_threads=2, source="t"))
    assert not needs_local_devices("h100", calibrated(store))  # a CPU lends nothing to a catalog GPU
    gpu = dataclasses.replace(catalog_default_model(catalog.get(H100_SXM)), device="cuda:0", name=GPU.name)
    store.add_calibration(run_id, gpu)
    assert needs_local_devices("h100", calibrated(store))


# --- the command line -------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_predict_json_contract(tmp_path):
    db = str(tmp_path / "p.db")
    result = invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "8", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["batch_size"], data["precision"], data["mode"]) == ("mlp", 8, "fp32", "train")
    (p,) = data["predictions"]
    assert p["device"] == H100_SXM
    assert p["step_time_s"] > 0
    assert p["throughput_samples_per_s"] == pytest.approx(8 / p["step_time_s"])
    phases = p["phases"]
    assert set(phases) == {"forward_s", "backward_s", "optimizer_s"}
    assert sum(phases.values()) == pytest.approx(p["step_time_s"])
    assert phases["backward_s"] > 0 and phases["optimizer_s"] > 0
    assert p["fits"] is True
    assert 0 < p["peak_memory_bytes"] < 85_899_345_920
    memory = p["memory"]
    parts = ("weights", "gradients", "optimizer_state", "master_weights", "activations", "transient")
    assert sum(memory[f"{part}_bytes"] for part in parts) == pytest.approx(p["peak_memory_bytes"])
    assert memory["train_peak_phase"] in ("forward", "backward", "optimizer step")
    assert p["max_batch_size"] > 8
    assert p["error_band"] == 0.35
    assert p["breakdown"] and {"op_class", "time_s", "bound", "num_ops"} <= set(p["breakdown"][0])
    # Kernels and launches of the traced ops: no more than the forward and backward phases.
    assert sum(c["time_s"] for c in p["breakdown"]) <= phases["forward_s"] + phases["backward_s"] + 1e-12
    assert data["skipped"] == []

    result = invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "8", "--infer", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "infer"
    (p,) = data["predictions"]
    assert p["phases"]["backward_s"] == 0 and p["phases"]["optimizer_s"] == 0
    assert p["step_time_s"] == pytest.approx(p["phases"]["forward_s"])


def test_predict_for_catalog_devices_does_not_probe_this_machine(monkeypatch):
    import devicefit.devices

    def refuse():
        raise AssertionError("probed the local devices")

    monkeypatch.setattr(devicefit.devices, "discover_devices", refuse)
    result = invoke("predict", "mlp", "--device", "h100-sxm, a100 80gb pcie", "--batch", "2", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 2


def test_predict_bad_model_and_device_are_one_line(tmp_path):
    db = str(tmp_path / "p.db")
    line = one_line_error(invoke("predict", "nosuchmodel", "--device", "h100-sxm", "--db", db), 2)
    assert "nosuchmodel" in line
    line = one_line_error(invoke("predict", "mlp", "--device", "nosuchgpu", "--db", db), 2)
    assert "nosuchgpu" in line
    # Zero is a bad size, not "the model's default".
    line = one_line_error(invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "0", "--db", db), 2)
    assert "batch size must be at least 1" in line and "--batch" in line
    args = ("predict", "gpt2", "--device", "h100-sxm", "--seq-len", "0", "--db", db)
    line = one_line_error(invoke(*args), 2)
    assert "sequence length must be at least 1" in line and "--seq-len" in line


def test_validate_without_calibration_says_to_calibrate(tmp_path):
    line = one_line_error(invoke("validate", "mlp", "--db", str(tmp_path / "v.db")), 2)
    assert "no calibration" in line and "devicefit calibrate" in line
