"""GPU logic without a GPU: PCIe and bandwidth arithmetic, properties from stand-ins, NVML through a fake."""

from types import SimpleNamespace
from unittest import mock

import pynvml
import pytest

from devicefit.devices import nvml
from devicefit.devices.cuda import (
    CUDADevice,
    derive_gpu_peaks,
    gpu_description,
    gpu_properties,
    memory_bandwidth,
    pcie_bytes_per_s,
)
from devicefit.records import ArchitectureSpec

# What torch.cuda.get_device_properties reports for an H100 SXM5 80GB (values from NVIDIA's H100
# datasheet and Hopper whitepaper: 132 SMs, 50 MiB L2, 5120-bit HBM3 at 2619 MHz); a stand-in,
# not a recording. Record a real one into tests/data when a GPU is lent.
H100_TORCH_PROPS = SimpleNamespace(
    name="NVIDIA H100 80GB HBM3",
    major=9,
    minor=0,
    total_memory=85_045_870_592,
    multi_processor_count=132,
    L2_cache_size=50 * 2**20,
    uuid="5c1f9a2e-0000-0000-0000-000000000000",
)
H100_NVML = nvml.NVMLReading(
    name="NVIDIA H100 80GB HBM3",
    driver_version="550.54.15",
    sm_clock_max_hz=1.98e9,
    memory_clock_max_hz=2.619e9,
    memory_bus_width_bits=5120,
    power_limit_w=700.0,
    pcie_generation_max=5,
    pcie_width_max=16,
    pcie_generation_current=5,
    pcie_width_current=16,
)
HOPPER = ArchitectureSpec(
    id="hopper",
    vendor="nvidia",
    compute_capabilities=("9.0",),
    fp32_flops_per_clock_per_multiprocessor=256,
    matrix_flops_per_clock_per_multiprocessor={"tf32": 2048, "bf16": 4096},
)


@pytest.mark.parametrize(
    ("generation", "width", "expected"),
    [
        (3, 16, 8e9 * 128 / 130 * 16 / 8),  # 15.75 GB/s
        (4, 16, 31.5e9),
        (5, 16, 63.0e9),
        (2, 8, 5e9 * 0.8 * 8 / 8),  # 4 GB/s
        (None, 16, None),
        (9, 16, None),
    ],
)
def test_pcie_rate_per_direction(generation, width, expected):
    result = pcie_bytes_per_s(generation, width)
    assert result == (pytest.approx(expected, rel=1e-3) if expected else None)


def test_memory_bandwidth_from_nvml_clock_matches_the_h100_datasheet():
    # 2619 MHz x 2 x 5120 bit / 8 = 3.352 TB/s; NVIDIA quotes 3.35 TB/s.
    assert memory_bandwidth(2.619e9, 5120) == pytest.approx(3.352e12, rel=1e-3)
    assert memory_bandwidth(None, 5120) is None


def test_properties_combine_torch_and_nvml():
    props = gpu_properties(H100_TORCH_PROPS, index=0, backend="cuda", runtime_version="12.4", nvml=H100_NVML)
    assert props.compute_capability == "9.0"
    assert props.num_multiprocessors == 132
    assert props.sm_clock_max_hz == 1.98e9
    assert props.driver_version == "550.54.15"
    assert props.pcie_generation_max == 5


def test_properties_without_nvml_fall_back_to_torch_clocks():
    torch_props = SimpleNamespace(
        **vars(H100_TORCH_PROPS), clock_rate=1_980_000, memory_clock_rate=2_619_000, memory_bus_width=5120
    )
    props = gpu_properties(torch_props, index=1, backend="cuda", runtime_version="12.4", nvml=None)
    assert props.sm_clock_max_hz == pytest.approx(1.98e9)
    assert props.memory_bus_width_bits == 5120
    assert props.power_limit_w is None


def test_rocm_devices_report_their_gfx_target():
    torch_props = SimpleNamespace(
        name="AMD Instinct MI300X",
        major=9,
        minor=4,
        total_memory=192 * 2**30,
        multi_processor_count=304,
        gcnArchName="gfx942:sramecc+:xnack-",
    )
    props = gpu_properties(torch_props, index=0, backend="rocm", runtime_version="6.2", nvml=None)
    assert props.compute_capability == "gfx942"
    assert props.backend == "rocm"


def test_peaks_derive_from_sms_rate_and_clock():
    props = gpu_properties(H100_TORCH_PROPS, index=0, backend="cuda", runtime_version="12.4", nvml=H100_NVML)
    peaks = {p.dtype: p.flops_per_s for p in derive_gpu_peaks(props, HOPPER)}
    # 132 SMs x 256 FLOP/clock x 1.98 GHz = 66.9 TFLOP/s fp32, the datasheet figure.
    assert peaks["fp32"] == pytest.approx(66.9e12, rel=1e-3)
    assert peaks["bf16"] == pytest.approx(132 * 4096 * 1.98e9)
    assert derive_gpu_peaks(props, None) == ()


def test_description_of_an_h100():
    props = gpu_properties(H100_TORCH_PROPS, index=0, backend="cuda", runtime_version="12.4", nvml=H100_NVML)
    description = gpu_description(props, lambda capability: HOPPER if capability == "9.0" else None)
    assert description.id == "cuda:0"
    assert description.peak_bandwidth_bytes_per_s == pytest.approx(3.352e12, rel=1e-3)
    assert description.host_link_bytes_per_s == pytest.approx(63.0e9, rel=1e-3)
    assert "5120-bit bus" in description.bandwidth_derivation
    assert description.peak_flops_per_s("tf32") == pytest.approx(132 * 2048 * 1.98e9)


def fake_pynvml(**returns):
    """An autospec of pynvml whose queries return ``returns`` (or raise NVML errors given as values)."""
    fake = mock.create_autospec(pynvml, instance=False)
    fake.NVMLError = pynvml.NVMLError
    fake.NVML_CLOCK_SM, fake.NVML_CLOCK_MEM = pynvml.NVML_CLOCK_SM, pynvml.NVML_CLOCK_MEM
    fake.nvmlDeviceGetHandleByUUID.return_value = "handle"
    for name, value in returns.items():
        if isinstance(value, pynvml.NVMLError) or callable(value):
            getattr(fake, name).side_effect = value
        else:
            getattr(fake, name).return_value = value
    return fake


def h100_pynvml():
    return fake_pynvml(
        nvmlDeviceGetName="NVIDIA H100 80GB HBM3",
        nvmlSystemGetDriverVersion="550.54.15",
        nvmlDeviceGetMaxClockInfo=lambda handle, clock: {
            pynvml.NVML_CLOCK_SM: 1980,
            pynvml.NVML_CLOCK_MEM: 2619,
        }[clock],
        nvmlDeviceGetMemoryBusWidth=5120,
        nvmlDeviceGetEnforcedPowerLimit=700_000,
        nvmlDeviceGetMaxPcieLinkGeneration=5,
        nvmlDeviceGetMaxPcieLinkWidth=16,
        nvmlDeviceGetCurrPcieLinkGeneration=5,
        nvmlDeviceGetCurrPcieLinkWidth=16,
    )


def test_nvml_reading_converts_units(monkeypatch):
    fake = h100_pynvml()
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    reading = nvml.read_gpu(uuid="5c1f9a2e-0000", index=0)
    assert reading == H100_NVML
    fake.nvmlDeviceGetHandleByUUID.assert_called_once_with("GPU-5c1f9a2e-0000")
    fake.nvmlShutdown.assert_called_once()


def test_unsupported_nvml_fields_read_as_none(monkeypatch):
    fake = h100_pynvml()
    fake.nvmlDeviceGetEnforcedPowerLimit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    fake.nvmlDeviceGetMemoryBusWidth.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    reading = nvml.read_gpu(uuid=None, index=0)
    assert reading is not None
    assert reading.power_limit_w is None and reading.memory_bus_width_bits is None
    assert reading.sm_clock_max_hz == 1.98e9
    fake.nvmlDeviceGetHandleByIndex.assert_called_once_with(0)


def test_nvml_absent_or_failing_gives_no_reading(monkeypatch):
    monkeypatch.setattr(nvml, "_load", lambda: None)
    assert nvml.read_gpu(uuid=None, index=0) is None
    assert nvml.driver_version() is None
    fake = fake_pynvml(nvmlInit=pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    assert nvml.read_gpu(uuid=None, index=0) is None
    fake.nvmlShutdown.assert_not_called()


def test_gpu_missing_from_nvml_gives_no_reading(monkeypatch):
    fake = h100_pynvml()
    fake.nvmlDeviceGetHandleByUUID.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
    fake.nvmlDeviceGetHandleByIndex.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    assert nvml.read_gpu(uuid="abc", index=3) is None


def test_real_pynvml_without_a_driver_is_handled():
    # On a machine without an NVIDIA driver, the real library fails to initialize: no reading, no error.
    if nvml.driver_version() is not None:
        pytest.skip("this machine has an NVIDIA driver")
    assert nvml.read_gpu(uuid=None, index=0) is None


def test_cuda_device_probes_nothing_until_asked():
    device = CUDADevice(2)
    assert (device.id, device.torch_device, device.kind) == ("cuda:2", "cuda:2", "cuda")
