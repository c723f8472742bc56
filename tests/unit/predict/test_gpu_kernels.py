"""The GPU kernel model: tiles and waves over the multiprocessors, the shipped fit, its refit."""

import json
import sys
from pathlib import Path

import pytest

from devicefit.predict.devices import catalog_default_model
from devicefit.predict.gpu_kernels import NODE_ENERGY, kernel_family, op_product_s, product_s
from devicefit.predict.roofline import op_time
from devicefit.records import OpCost, ProductKernelFit

FIT = ProductKernelFit(
    fraction=0.8, tile_reuse_half=4.0, k_prologue=32.0, bandwidth_fraction=0.6, floor_s=0.0
)
DEVICE = {"peak_flops_per_s": 10e12, "bandwidth_bytes_per_s": 1e12, "num_multiprocessors": 80}
BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "published" / "neusight-kernels"


def _square(n: int, batch: int = 1) -> float:
    return product_s(batch, n, n, n, 12.0 * batch * n * n, fit=FIT, **DEVICE)


def test_a_wave_more_of_tiles_costs_a_whole_wave_unless_smaller_tiles_finish_first():
    # 80 products of one 128 x 128 tile fill the 80 multiprocessors once; 160 take two full waves.
    full = _square(128, 80)
    assert _square(128, 160) == pytest.approx(2 * full)
    # 81 would leave a second wave of 128 x 128 tiles almost empty: 128 x 64 tiles (162 of them,
    # 3 waves of half the work each, at a little less reuse) finish first.
    assert full < _square(128, 81) < 2 * full


def test_time_grows_with_size_and_large_products_near_the_fitted_fraction():
    times = [_square(n) for n in (64, 256, 1024, 4096, 16384)]
    assert times == sorted(times)
    achieved = 2.0 * 16384**3 / times[-1] / DEVICE["peak_flops_per_s"]
    # 0.8 x 64 / (64 + 4) for 128 x 128 tiles, less the prologue: 32 K-steps of 16384.
    assert 0.72 < achieved < 0.8 * 64 / 68


def test_every_gpu_architecture_of_the_catalog_has_fitted_parameters_with_a_source(catalog):
    for spec in catalog.devices:
        if spec.kind != "gpu":
            continue
        family = kernel_family(spec.architecture)
        assert family.source.startswith("kernel model fitted on"), spec.id
        assert 0 < family.matmul.fraction <= 1 and 0 < family.bandwidth_fraction <= 1
    assert "no published kernels" in kernel_family("hopper").source
    assert kernel_family("hopper").matmul.fraction == 0.81  # measured on Hopper


def test_catalog_gpus_time_products_with_the_kernel_model(catalog):
    model = catalog_default_model(catalog.get("nvidia-tesla-v100-pcie-32gb"))
    assert set(model.product_kernels) == {"matmul", "conv"}
    m, k, n = 4096, 4096, 4096
    op = OpCost(
        name="mm",
        op_class="matmul",
        flops=2.0 * m * k * n,
        bytes_read=8.0 * m * k,
        bytes_written=4.0 * m * n,
        dtype="fp32",
        shape=(m, k, n),
        phase="forward",
        module="",
    )
    expected = product_s(
        1,
        m,
        k,
        n,
        12.0 * m * k,
        peak_flops_per_s=14.029e12,
        bandwidth_bytes_per_s=900e9,
        num_multiprocessors=80,
        fit=model.product_kernels["matmul"],
        sustained_flops_per_s=model.product_kernels["matmul"].sustained_fp32_flops_per_s,
    )
    assert op_time(op, model, host_overhead_s=0.0).compute_s == pytest.approx(expected)


def test_a_power_capped_board_runs_large_products_at_what_its_power_sustains():
    # 4 TFLOP/s sustained on a 10 TFLOP/s peak: 0.4 of the peak instead of the fit's 0.8.
    big = (1, 16384, 16384, 16384, 12.0 * 16384**2)
    free, capped = (
        product_s(*big, fit=FIT, **DEVICE),
        product_s(*big, fit=FIT, sustained_flops_per_s=4e12, **DEVICE),
    )
    assert capped == pytest.approx(2 * free, rel=0.01)
    # A cap above what the fit reaches changes nothing.
    assert product_s(*big, fit=FIT, sustained_flops_per_s=9e12, **DEVICE) == free


def test_the_power_cap_binds_on_70_watt_boards_not_on_an_a100(catalog):
    def capped_fraction(device_id: str) -> float:
        spec = catalog.get(device_id)
        sustained = catalog_default_model(spec).product_kernels["matmul"].sustained_fp32_flops_per_s
        assert sustained is not None, device_id
        return sustained / spec.peak_flops_per_s["fp32"]

    assert NODE_ENERGY["TSMC N7"] > NODE_ENERGY["TSMC 12FFN"] > NODE_ENERGY["TSMC 16FF+"]
    assert capped_fraction("nvidia-t4") < 0.6  # 70 W for 8.1 TFLOP/s
    assert capped_fraction("nvidia-a100-40gb-pcie") > kernel_family("ampere").matmul.fraction


def _conv(dtype: str = "fp32", window: tuple[int, ...] = (3, 3), stride: tuple[int, ...] = (1, 1)) -> OpCost:
    # 32 images of 56 x 56, 256 -> 256 channels: a ResNet stage-2 3x3 convolution.
    m, k, n = 32 * 56 * 56, 256 * 9, 256
    size = 2 if dtype == "fp16" else 4
    return OpCost(
        name="convolution",
        op_class="conv",
        module="",
        phase="forward",
        flops=2.0 * m * k * n,
        bytes_read=size * (m * 256 + k * n),
        bytes_written=size * m * n,
        dtype=dtype,
        shape=(m, k, n),
        window=window,
        stride=stride,
        output_size=(56, 56),
    )


def test_a_3x3_stride_1_fp32_convolution_may_run_as_winograd(catalog):
    model = catalog_default_model(catalog.get("nvidia-t4"))
    assert model.product_kernels["conv"].winograd_fraction > 0
    winograd = op_product_s(_conv(), model, "fp32")
    direct = op_product_s(_conv(window=()), model, "fp32")
    assert winograd is not None and direct is not None
    # Winograd does 4x fewer multiplies: faster here, though not 4x (transforms, its efficiency).
    assert direct / 4 < winograd < direct
    # Strided, or in half precision (tensor cores): the implicit product alone.
    assert op_product_s(_conv(stride=(2, 2)), model, "fp32") == direct
    assert op_product_s(_conv("fp16"), model, "fp16") == op_product_s(_conv("fp16", window=()), model, "fp16")


def test_cpus_keep_their_curves(catalog):
    assert catalog_default_model(catalog.get("amd-epyc-7763")).product_kernels == {}


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/published beside the repository")
def test_refit_on_a_subsample_judges_every_gpu_with_the_contract_keys(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import published_kernel_data
    import published_kernels

    # Only the memory-bound kernels of two ops, so the fit takes a second or two.
    monkeypatch.setattr(published_kernel_data, "MEMORY_OPS", {"add": 3, "relu": 2})
    monkeypatch.setattr(published_kernels, "load_products", lambda: {})
    monkeypatch.setattr(published_kernels, "load_convs", lambda: {})
    assert published_kernels.main(["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["families"]) == {"matmul", "conv", "memory"}
    memory = result["families"]["memory"]
    assert "Tesla V100-PCIE-32GB" in memory
    for figures in memory.values():
        assert set(figures) >= {"n", "median_abs_error", "p90_abs_error"}
        assert 0 <= figures["median_abs_error"] <= figures["p90_abs_error"] < 10
    sys.modules.pop("published_kernels", None)
    sys.modules.pop("published_kernel_data", None)
