"""Real-GPU energy, skipped without CUDA: NVML's counter against sampled power, and bench cases metered."""

import pytest
import torch

from devicefit.devices import CUDADevice, nvml
from devicefit.devices.energy import CounterMeter
from devicefit.measure import micro
from devicefit.measure.runner import QUICK, run_case

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu():
    device = CUDADevice(0)
    if device.properties().vendor != "nvidia":
        pytest.skip("NVML meters NVIDIA GPUs")
    if float(device.properties().gpu.compute_capability) < 7.0:
        pytest.skip("NVML's energy counter starts with Volta")
    return device


def busy(seconds):
    """Keeps the GPU at full load for about ``seconds`` (bf16 products of 8192 x 8192)."""
    a = torch.rand(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.rand(8192, 8192, device="cuda", dtype=torch.bfloat16)
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    while True:
        for _ in range(20):
            torch.matmul(a, b)
        end.record()
        end.synchronize()
        if start.elapsed_time(end) / 1e3 >= seconds:
            return


def test_counter_and_sampled_power_agree_within_5_percent(gpu):
    uuid = gpu.properties().gpu.uuid
    counter = nvml.energy_meter(uuid=uuid, index=0)
    sampled = nvml.energy_meter(uuid=uuid, index=0, use_counter=False)
    assert isinstance(counter, CounterMeter)
    # Power readings average over a window of their own (1 s on recent boards): load the GPU first so
    # that the metered seconds are at steady state, where that lag does not matter.
    busy(2.0)
    stop_counter, stop_sampled = counter.start(), sampled.start()
    busy(4.0)
    by_sampling, by_counter = stop_sampled(), stop_counter()
    assert (by_counter.method, by_sampling.method) == ("counter", "sampled")
    print(f"counter {by_counter.power_w:.1f} W, sampled {by_sampling.power_w:.1f} W")
    assert by_sampling.power_w == pytest.approx(by_counter.power_w, rel=0.05)


def test_bench_cases_record_nvml_energy(gpu):
    limit_w = gpu.properties().gpu.power_limit_w
    for case in (
        micro.matmul(device="cuda:0", device_kind="cuda", dtype="bf16", n=4096, peak=None),
        micro.stream(device="cuda:0", kernel="copy", n=2**26, peak=None),
        micro.transfer(device="cuda:0", direction="h2d", num_bytes=2**28, pinned=True, peak=None),
    ):
        result = run_case(case, gpu, QUICK.timer)
        assert result.status == "ok", result.error
        assert result.energy_method == "counter" and result.energy.meter == "NVML total energy counter"
        assert 0 < result.power_w < 1.5 * (limit_w or 1500)
        assert result.energy_j == pytest.approx(result.power_w * result.median_s)
        if result.unit == "FLOP/s":
            assert result.unit_per_j == "FLOP/J" and result.value_per_j > 0
