"""GPU energy meters through a patched NVML (with and without its energy counter) and a patched amdsmi."""

import threading
from unittest import mock

import pynvml
import pytest

from devicefit.devices import amdsmi, nvml
from devicefit.devices.energy import CounterMeter, NoMeter, SampledMeter

NOT_SUPPORTED = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)


def fake_pynvml(**returns):
    """An autospec of pynvml whose queries return ``returns`` (or raise what is given as an error)."""
    fake = mock.create_autospec(pynvml, instance=False)
    fake.NVMLError = pynvml.NVMLError
    fake.nvmlDeviceGetHandleByUUID.return_value = "handle"
    for name, value in returns.items():
        if isinstance(value, Exception) or callable(value):
            getattr(fake, name).side_effect = value
        else:
            getattr(fake, name).return_value = value
    return fake


def test_volta_and_later_read_the_total_energy_counter(monkeypatch):
    # Millijoules since the driver loaded: read when the meter is made, then at both ends of the window.
    readings = iter((900_000, 1_000_000, 1_450_500))
    fake = fake_pynvml(nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(readings))
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    meter = nvml.energy_meter(uuid="5c1f9a2e", index=0)
    assert isinstance(meter, CounterMeter)
    fake.nvmlDeviceGetHandleByUUID.assert_called_once_with("GPU-5c1f9a2e")
    meter.clock = iter((0.0, 1.5)).__next__
    reading = meter.start()()
    assert reading.method == "counter" and reading.meter == "NVML total energy counter"
    assert reading.energy_j == pytest.approx(450.5)
    assert reading.power_w == pytest.approx(450.5 / 1.5)
    assert reading.resolution_j == 1e-3
    fake.nvmlDeviceGetPowerUsage.assert_not_called()


def test_older_gpus_sample_power_instead(monkeypatch):
    """Without the counter (before Volta), power in milliwatts is sampled in a thread and integrated."""
    calls = []

    def power_mw(handle):
        calls.append(handle)
        return 87_250

    fake = fake_pynvml(nvmlDeviceGetTotalEnergyConsumption=NOT_SUPPORTED, nvmlDeviceGetPowerUsage=power_mw)
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    meter = nvml.energy_meter(uuid=None, index=1, period_s=0.001)
    assert isinstance(meter, SampledMeter)
    fake.nvmlDeviceGetHandleByIndex.assert_called_once_with(1)
    stop = meter.start()
    while len(calls) < 4:
        threading.Event().wait(0.001)
    reading = stop()
    assert reading.method == "sampled" and reading.meter == "NVML power usage"
    assert reading.power_w == pytest.approx(87.25)
    assert reading.num_samples >= 4 and reading.sample_period_s == 0.001


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda monkeypatch: monkeypatch.setattr(nvml, "_load", lambda: None), "nvidia-ml-py"),
        (
            lambda monkeypatch: monkeypatch.setattr(
                nvml,
                "_load",
                lambda: fake_pynvml(nvmlInit=pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)),
            ),
            "NVML did not start",
        ),
        (
            lambda monkeypatch: monkeypatch.setattr(
                nvml,
                "_load",
                lambda: fake_pynvml(
                    nvmlDeviceGetHandleByUUID=NOT_SUPPORTED, nvmlDeviceGetHandleByIndex=NOT_SUPPORTED
                ),
            ),
            "does not find GPU",
        ),
        (
            lambda monkeypatch: monkeypatch.setattr(
                nvml,
                "_load",
                lambda: fake_pynvml(
                    nvmlDeviceGetTotalEnergyConsumption=NOT_SUPPORTED, nvmlDeviceGetPowerUsage=NOT_SUPPORTED
                ),
            ),
            "neither energy nor power",
        ),
    ],
    ids=["no bindings", "no driver", "gpu not found", "no sensor"],
)
def test_no_nvml_meter_says_why(monkeypatch, setup, reason):
    setup(monkeypatch)
    meter = nvml.energy_meter(uuid="abc", index=0)
    assert isinstance(meter, NoMeter)
    reading = meter.start()()
    assert reading.method == "none" and reading.energy_j is None
    assert reading.note.startswith("no meter:") and reason in reading.note


class FakeAMDSMI:
    """amdsmi's energy API as ROCm 6 has it: an accumulator in units of ``counter_resolution`` µJ."""

    def __init__(self, counts, key="energy_accumulator"):
        self.counts = iter(counts)
        self.key = key

    def amdsmi_init(self):
        pass

    def amdsmi_get_processor_handles(self):
        return ["gpu0", "gpu1"]

    def amdsmi_get_energy_count(self, handle):
        return {self.key: next(self.counts), "counter_resolution": 15.3, "timestamp": 0}


@pytest.mark.parametrize("key", ["energy_accumulator", "power"])
def test_amd_gpus_read_the_rocm_smi_counter(monkeypatch, key):
    # 1,000,000 units of 15.3 µJ = 15.3 J between the two ends of the window.
    fake = FakeAMDSMI([5, 10, 1_000_010], key=key)
    monkeypatch.setattr(amdsmi, "_load", lambda: fake)
    meter = amdsmi.energy_meter(1)
    assert isinstance(meter, CounterMeter)
    meter.clock = iter((0.0, 0.1)).__next__
    reading = meter.start()()
    assert reading.method == "counter" and reading.meter == "ROCm SMI energy counter"
    assert reading.energy_j == pytest.approx(15.3)
    assert reading.resolution_j == pytest.approx(15.3e-6)


def test_amd_meter_absent_or_out_of_range_says_why(monkeypatch):
    monkeypatch.setattr(amdsmi, "_load", lambda: None)
    assert "amdsmi" in amdsmi.energy_meter(0).start()().note
    monkeypatch.setattr(amdsmi, "_load", lambda: FakeAMDSMI([]))
    assert "not GPU 5" in amdsmi.energy_meter(5).start()().note
    assert "cannot read GPU 0" in amdsmi.energy_meter(0).start()().note  # no count to read
