"""The per-op roofline on a hand-made device and step: kernels, host costs, memory fit, curve
fallbacks, convolutions and wave quantization.

Every expected figure is worked out in the comments beside it (see ``helpers``).
"""

import dataclasses
import math

import pytest

from devicefit.analyze.memory import RUNTIME_OVERHEAD_BYTES
from devicefit.predict.interpolate import interpolate_shape
from devicefit.predict.roofline import (
    OPTIMIZER_FOREACH_CALLS,
    OPTIMIZER_OPS_PER_TENSOR,
    _wave_utilization,
    cold_share,
    op_time,
    predict_step,
)
from devicefit.records import EfficiencyCurve, OpCost
from tests.unit.predict.helpers import FLAT, VIEW, add, make_cost, make_device, make_gpu, mm

CPU_OVERHEAD = RUNTIME_OVERHEAD_BYTES["cpu"]  # 384 MiB = 402,653,184 bytes


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
    # Layers measured at batch 1: 256 units at 0.2, 1024 at 0.05 (forward); backward at 0.04 both.
    forward = ((1.0, 256.0, 1024.0, 0.2), (1.0, 1024.0, 4096.0, 0.05))
    device = make_device(
        lstm_shapes={
            "lstm.fp32": forward,
            "lstm_backward.fp32": ((1.0, 256.0, 1024.0, 0.04), (1.0, 1024.0, 4096.0, 0.04)),
        },
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


def _paged(op, device, mode="infer", **overrides):
    """The step of ``op`` alone, with and without the device's cost of fresh pages (seconds)."""
    cost = make_cost(ops=(op,), infer_ops=(op,), **overrides)
    unpaged = dataclasses.replace(device, first_touch_s_per_byte=0.0)
    return (
        predict_step(cost, device, mode=mode, memory_kind="cpu"),
        predict_step(cost, unpaged, mode=mode, memory_kind="cpu"),
    )


def test_outputs_above_the_mapping_threshold_pay_for_their_fresh_pages_once():
    device = make_device(first_touch_s_per_byte=1e-9)
    # A ReLU writing 64 MiB (above glibc's 32 MiB threshold) is mapped afresh at every call:
    # 67.1 ms at 1 ns per byte, on top of its kernel, counted as memory time.
    big = dataclasses.replace(add(), name="relu", bytes_written=64 * 2**20)
    paged, unpaged = _paged(big, device)
    assert paged.step_time_s - unpaged.step_time_s == pytest.approx(64 * 2**20 * 1e-9)
    assert paged.memory_s - unpaged.memory_s == pytest.approx(64 * 2**20 * 1e-9)
    # In place, below the threshold or on a GPU (its caching allocator keeps its pages): none.
    for op, target in (
        (dataclasses.replace(big, name="relu_"), device),
        (dataclasses.replace(big, bytes_written=16 * 2**20), device),
        (big, make_gpu(first_touch_s_per_byte=1e-9)),
    ):
        paged, unpaged = _paged(op, target)
        assert paged.step_time_s == pytest.approx(unpaged.step_time_s)
    # A 64 MiB parameter's gradient, written by a backward operator, is paid for by it alone.
    gradient = dataclasses.replace(big, name="embedding_dense_backward", phase="backward")
    paged, unpaged = _paged(gradient, device, "train", parameter_tensor_bytes=(64 * 2**20,))
    assert paged.backward_s - unpaged.backward_s == pytest.approx(64 * 2**20 * 1e-9)
