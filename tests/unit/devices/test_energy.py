"""Energy meters: counters read at both ends (with a wrap), sampled power integrated, and no meter said."""

import threading

import pytest

from devicefit.devices.energy import (
    Counter,
    CounterMeter,
    NoMeter,
    SampledMeter,
    counter_delta_j,
    integrate_power_j,
)


def ticking(*values):
    """A clock or counter that returns ``values`` in turn."""
    return iter(values).__next__


def test_counter_difference_unwraps_one_rollover():
    assert counter_delta_j(10.0, 25.0, range_j=100.0) == 15.0
    # From 95 J the counter passed its 100 J range and restarted: 5 J to the wrap plus 3 J after it.
    assert counter_delta_j(95.0, 3.0, range_j=100.0) == pytest.approx(8.0)
    # A counter without a range that goes backwards was reset: no figure rather than a wrong one.
    assert counter_delta_j(95.0, 3.0, range_j=None) is None


def test_counter_meter_sums_its_domains_over_the_window():
    package = Counter(name="package-0", read_j=ticking(1000.0, 1030.0), range_j=None)
    dram = Counter(name="package-0/dram", read_j=ticking(50.0, 56.0), range_j=None)
    meter = CounterMeter(
        [package, dram], meter="RAPL", resolution_j=1e-6, note="whole package", clock=ticking(10.0, 12.0)
    )
    reading = meter.start()()
    assert reading.method == "counter"
    assert reading.energy_j == pytest.approx(36.0)
    assert [(d.name, d.energy_j) for d in reading.domains] == [("package-0", 30.0), ("package-0/dram", 6.0)]
    assert reading.duration_s == 2.0
    assert reading.power_w == pytest.approx(18.0)
    assert (reading.resolution_j, reading.note) == (1e-6, "whole package")


def test_a_counter_failing_mid_window_gives_no_figure_and_says_why():
    calls = {"n": 0}

    def read_j():
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("device gone")
        return 5.0

    meter = CounterMeter([Counter(name="gpu", read_j=read_j)], meter="NVML", resolution_j=1e-3)
    reading = meter.start()()
    assert reading.method == "none" and reading.energy_j is None and reading.power_w is None
    assert "device gone" in reading.note


def test_a_counter_unreadable_at_the_start_says_so():
    def read_j():
        raise PermissionError("denied")

    reading = CounterMeter([Counter(name="x", read_j=read_j)], meter="RAPL", resolution_j=None).start()()
    assert reading.method == "none" and "denied" in reading.note and reading.note.startswith("no meter")


def test_no_meter_reads_none_with_its_reason():
    reading = NoMeter("no meter: a VM", ticking(1.0, 3.5)).start()()
    assert (reading.method, reading.energy_j, reading.note, reading.duration_s) == (
        "none",
        None,
        "no meter: a VM",
        2.5,
    )


def test_trapezoid_integral_of_power_samples():
    # 100 W for 1 s, then a linear ramp to 200 W over 1 s: 100 + 150 = 250 J.
    assert integrate_power_j([(0.0, 100.0), (1.0, 100.0), (2.0, 200.0)]) == pytest.approx(250.0)
    assert integrate_power_j([(0.0, 100.0)]) == 0.0


def test_sampled_meter_integrates_power_read_in_a_thread():
    threads = []

    def read_w():
        threads.append(threading.current_thread().name)
        return 42.0

    stop = SampledMeter(read_w, meter="NVML power usage", period_s=0.001, resolution_w=1e-3).start()
    # Wait until the background thread has sampled a few times (no wall-clock assertion).
    while sum(name == "devicefit-power-sampler" for name in threads) < 3:
        threading.Event().wait(0.001)
    reading = stop()
    assert reading.method == "sampled"
    assert reading.num_samples >= 5  # the first, three from the thread, the last
    assert reading.power_w == pytest.approx(42.0)
    assert reading.energy_j == pytest.approx(42.0 * reading.duration_s)
    assert reading.sample_period_s == 0.001 and "1 mW steps" in reading.note


def test_sampled_meter_that_cannot_read_gives_no_figure():
    calls = {"n": 0}

    def read_w():
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("NVML_ERROR_GPU_IS_LOST")
        return 10.0

    stop = SampledMeter(read_w, meter="NVML power usage", period_s=0.001).start()
    while calls["n"] < 2:
        threading.Event().wait(0.001)
    reading = stop()
    assert reading.method == "none" and reading.energy_j is None
    assert "NVML_ERROR_GPU_IS_LOST" in reading.note
