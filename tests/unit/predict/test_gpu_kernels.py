"""The GPU kernel model: tiles and waves over the multiprocessors, the shipped fit, its refit."""

import json
import sys
from pathlib import Path

import pytest

from devicefit.predict.devices import catalog_default_model
from devicefit.predict.gpu_kernels import kernel_family, product_s
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
    )
    assert op_time(op, model, host_overhead_s=0.0).compute_s == pytest.approx(expected)


def test_cpus_keep_their_curves(catalog):
    assert catalog_default_model(catalog.get("amd-epyc-7763")).product_kernels == {}


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/published beside the repository")
def test_refit_on_a_subsample_judges_every_gpu_with_the_contract_keys(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import published_kernels

    # Only the memory-bound kernels of two ops, so the fit takes a second or two.
    monkeypatch.setattr(published_kernels, "MEMORY_OPS", {"add": 3, "relu": 2})
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
