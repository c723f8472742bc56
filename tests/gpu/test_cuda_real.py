"""Real-GPU checks, skipped without CUDA: probing, synchronization, timing against CUDA events."""

import dataclasses
import statistics

import pytest
import torch

from devicefit.devices import CUDADevice, select_devices
from devicefit.measure import micro
from devicefit.measure.runner import FULL, run_case

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu():
    return CUDADevice(0)


def test_properties_are_probed(gpu):
    description = gpu.properties()
    torch_props = torch.cuda.get_device_properties(0)
    assert description.name == torch_props.name
    assert description.gpu.num_multiprocessors == torch_props.multi_processor_count
    assert description.memory_bytes == torch_props.total_memory
    assert description.peak_flops_per_s("fp32") > 1e12
    if description.vendor == "nvidia":
        assert description.gpu.driver_version
        assert description.peak_bandwidth_bytes_per_s > 1e11


def test_selection_finds_every_gpu():
    assert len(select_devices("cuda")) == torch.cuda.device_count()


def test_timer_agrees_with_cuda_events(gpu):
    n = 4096
    a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(10):
        torch.matmul(a, b)
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(10):
            torch.matmul(a, b)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / 10)
    result = run_case(
        micro.matmul(device="cuda:0", device_kind="cuda", dtype="bf16", n=n, peak=None), gpu, FULL.timer
    )
    assert result.median_s == pytest.approx(statistics.median(times), rel=0.05)


def test_out_of_memory_is_recorded(gpu):
    too_big = int(gpu.properties().memory_bytes * 2)
    case = micro.stream(device="cuda:0", kernel="copy", n=too_big // 4, peak=None)
    case = dataclasses.replace(case, memory_bytes=0)  # bypass the free-memory check: really run out
    result = run_case(case, gpu, FULL.timer)
    assert result.status == "oom"
    after = run_case(micro.launch(device="cuda:0"), gpu, FULL.timer)
    assert after.status == "ok"


@pytest.mark.parametrize("pinned", [False, True])
def test_transfers_run(gpu, pinned):
    result = run_case(
        micro.transfer(device="cuda:0", direction="h2d", num_bytes=64 * 2**20, pinned=pinned, peak=None),
        gpu,
        FULL.timer,
    )
    assert result.status == "ok" and result.value > 1e9
