"""The power model: compute-bound steps draw most, launch-bound least; TDPs from the catalog or per core."""

import pytest

from devicefit.predict.power import CPU_FRACTIONS, GPU_FRACTIONS, device_tdp, estimate_power, with_power
from tests.unit.advise.helpers import prediction
from tests.unit.predict.helpers import CPU


def power(**bounds):
    p = prediction("nvidia-t4", step_s=0.1, power_w=None, **bounds)
    return estimate_power(p, 70.0, "70 W TDP", cpu=False)


def test_compute_bound_draws_more_than_memory_bound_more_than_launch_bound():
    compute = power(compute_s=1.0)
    memory = power(compute_s=0.0, memory_s=1.0)
    launch = power(compute_s=0.0, overhead_s=1.0)
    assert compute.power_w > memory.power_w > launch.power_w
    assert compute.power_w == pytest.approx(70.0 * GPU_FRACTIONS["compute"])
    assert launch.power_w <= 70.0 * 0.5


def test_power_weights_each_bound_by_its_share_of_the_step():
    mixed = power(compute_s=0.75, memory_s=0.25)
    expected = 70.0 * (0.75 * GPU_FRACTIONS["compute"] + 0.25 * GPU_FRACTIONS["memory"])
    assert mixed.power_w == pytest.approx(expected)
    # Energy is power times the step; 32 samples per step.
    assert mixed.energy_j == pytest.approx(expected * 0.1)
    assert mixed.samples_per_j == pytest.approx(32 / (expected * 0.1))
    assert mixed.method == "estimate" and 0 < mixed.error_band < 1


def test_every_fraction_is_a_share_of_tdp():
    for fractions in (GPU_FRACTIONS, CPU_FRACTIONS):
        assert set(fractions) == {"compute", "memory", "overhead"}
        assert all(0 < f <= 1 for f in fractions.values())


def test_catalog_devices_take_their_tdp(catalog):
    tdp, basis = device_tdp("nvidia-t4", catalog)
    assert tdp == 70.0 and "catalog" in basis


def test_a_cpu_without_a_catalog_entry_is_derived_per_core(catalog):
    tdp, basis = device_tdp("cpu", catalog, [CPU])
    per_core = sorted(s.tdp_w / s.num_multiprocessors for s in catalog.devices if s.kind == "cpu" and s.tdp_w)
    assert per_core[0] * CPU.cpu.num_physical_cores <= tdp <= per_core[-1] * CPU.cpu.num_physical_cores
    assert "per core" in basis
    estimated = with_power(prediction("cpu", power_w=None), catalog, [CPU]).power
    assert estimated is not None and estimated.error_band > 0.35


def test_a_device_without_tdp_has_no_power(catalog):
    assert with_power(prediction("apple-m3-max-gpu", power_w=None), catalog).power is None
