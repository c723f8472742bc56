"""Device models from the catalog's figures: defaults per architecture, and transfers of a
calibration to another device of its architecture.
"""

import dataclasses

import pytest

from devicefit.errors import UsageError
from devicefit.predict.devices import catalog_default_model, default_parameters, transferred_model
from devicefit.predict.gpu_kernels import kernel_family
from tests.unit.predict.helpers import H100_SXM, H200


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
    # Memory ramps to Hopper's measured 0.90 of the bandwidth, half of it at the bandwidth times
    # the kernel floor fitted on Ampere's published kernels.
    floor_s = kernel_family("hopper").kernel_floor_s
    size, fraction = model.memory["stream"].points[-1]
    assert size == 4.0**17
    assert fraction == pytest.approx(0.90 * size / (size + 3.35e12 * floor_s))
    # Kernel families scale the ramp (batch norm makes several passes: 0.7 on GPUs).
    assert model.memory["batch_norm"].points[-1][1] == pytest.approx(0.7 * fraction)
    defaults = default_parameters("gpu", "hopper")
    assert model.error_band == defaults["error_band"] == 0.35
    assert (model.op_overhead_s, model.module_overhead_s) == (
        defaults["op_overhead_s"],
        defaults["module_overhead_s"],
    )
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
