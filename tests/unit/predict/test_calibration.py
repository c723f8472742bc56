"""Calibration fits: benchmark results into curves, measured shapes and host costs."""

import dataclasses

import pytest

from devicefit.predict.calibration import LOCAL_ERROR_BAND, calibration_threads, fit_device_model, summarize
from devicefit.records import DeviceDescription
from tests.unit.predict.helpers import (
    CPU,
    CPU_PROPERTIES,
    LAUNCH_S,
    calibration_results,
    flat,
    matmul_result,
    timed,
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
