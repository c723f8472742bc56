"""The timer against a fake GPU whose clock only moves by modelled costs (no wall-clock asserts)."""

import pytest

from devicefit.devices.fake import FakeDevice
from devicefit.measure.timer import TimerConfig, measure

#: Bytes that take 1 ms at the fake's 1 TB/s x 0.8 efficiency.
ONE_MS_OF_BYTES = 0.8e12 * 1e-3


def time_on(device, fn, config=None):
    return measure(fn, synchronize=device.synchronize, clock=device.now_s, config=config)


def test_timer_synchronizes_before_reading_the_clock():
    device = FakeDevice(launch_s=5e-6)
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES))
    # The kernel runs 1 ms although its launch returns after 5 us: only a synchronized clock sees it.
    assert measurement.summary.median_s == pytest.approx(1e-3, rel=1e-3)
    assert device.num_synchronizations > 2 * measurement.summary.num_samples


def test_timer_without_synchronization_would_see_only_launches():
    # The failure mode the device-supplied synchronize exists to prevent.
    device = FakeDevice(launch_s=5e-6)
    fn = device.work(bytes_moved=ONE_MS_OF_BYTES)
    unsynchronized = measure(
        fn, synchronize=lambda: None, clock=device.now_s, config=TimerConfig(budget_s=0.01)
    )
    assert unsynchronized.summary.median_s < 1e-4


def test_launch_bound_calls_are_timed_at_the_launch_rate():
    device = FakeDevice(launch_s=5e-6)
    measurement = time_on(device, device.work(bytes_moved=8))
    assert measurement.summary.median_s == pytest.approx(5e-6, rel=1e-3)


def test_synchronous_device_is_timed_by_its_own_work():
    device = FakeDevice(launch_s=1e-6, asynchronous=False)
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES))
    assert measurement.summary.median_s == pytest.approx(1e-3 + 1e-6, rel=1e-3)


def test_block_is_calibrated_until_overhead_is_negligible():
    device = FakeDevice(launch_s=2e-6, sync_s=20e-6)
    measurement = time_on(device, device.work(bytes_moved=8))
    block_s = measurement.summary.median_s * measurement.iterations_per_sample
    assert measurement.overhead_s == pytest.approx(20e-6 + 50e-9, rel=0.01)
    assert measurement.overhead_s <= 1e-4 * block_s * 1.01
    assert measurement.iterations_per_sample > 1000
    assert not any("overhead" in w for w in measurement.summary.warnings)


def test_block_stops_growing_when_samples_would_not_fit_the_budget():
    # 20 us of overhead wants 0.2 s blocks; a 0.1 s budget over 5 samples allows 20 ms.
    device = FakeDevice(launch_s=2e-6, sync_s=20e-6)
    config = TimerConfig(budget_s=0.1, min_samples=5)
    measurement = time_on(device, device.work(bytes_moved=8), config)
    block_s = measurement.summary.median_s * measurement.iterations_per_sample
    assert block_s < 0.05
    assert any("overhead" in w for w in measurement.summary.warnings) is (
        measurement.overhead_s / block_s > 1e-3
    )


def test_long_calls_get_one_call_per_sample_and_the_minimum_samples():
    device = FakeDevice(launch_s=1e-6)
    config = TimerConfig(budget_s=1.0, min_samples=3, warmup_s=0.0)
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES * 500), config)
    assert measurement.iterations_per_sample == 1
    assert measurement.summary.num_samples == 3
    assert measurement.summary.median_s == pytest.approx(0.5, rel=1e-3)


def test_noisy_work_is_sampled_until_the_budget_is_spent():
    device = FakeDevice(jitter=0.3, seed=1)
    config = TimerConfig(budget_s=0.5, min_time_s=0.1, target_relative_iqr=0.01)
    start = device.now_s()
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES), config)
    spent = device.now_s() - start
    block_s = measurement.iterations_per_sample * measurement.summary.mean_s
    samples_s = measurement.summary.num_samples * block_s
    # Sampling ends with the first block that crosses the budget.
    assert 0.5 <= samples_s <= 0.5 + 1.5 * block_s
    # Warm-up, one calibration pass and the overshooting block come on top of the budget.
    assert spent < config.budget_s + config.warmup_s + 3 * block_s
    assert measurement.summary.relative_iqr > 0.01


def test_stable_work_stops_sampling_after_the_minimum_time():
    device = FakeDevice(sync_s=1e-6)  # 10 ms blocks
    config = TimerConfig(budget_s=5.0, min_time_s=0.1)
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES), config)
    sampled_s = (
        measurement.summary.num_samples * measurement.iterations_per_sample * measurement.summary.median_s
    )
    assert measurement.iterations_per_sample * measurement.summary.median_s < 0.02
    assert 0.1 <= sampled_s < 0.12


def test_samples_are_per_iteration_and_kept_raw():
    device = FakeDevice(jitter=0.05, seed=3)
    measurement = time_on(device, device.work(bytes_moved=ONE_MS_OF_BYTES), TimerConfig(budget_s=0.2))
    assert len(measurement.samples_s) == measurement.summary.num_samples
    assert all(0.95e-3 <= s <= 1.05e-3 for s in measurement.samples_s)
    assert measurement.summary.min_s == min(measurement.samples_s)


def test_warmup_calls_precede_timing():
    calls = []
    device = FakeDevice(asynchronous=False)
    work = device.work(bytes_moved=ONE_MS_OF_BYTES)

    def fn():
        calls.append(device.now_s())
        work()

    measurement = time_on(device, fn, TimerConfig(warmup_s=0.05, budget_s=0.05))
    # 50 ms of warm-up at 1 ms per call.
    assert 50 <= measurement.num_warmup_iterations <= 52
    timed_calls = measurement.summary.num_samples * measurement.iterations_per_sample
    assert len(calls) > measurement.num_warmup_iterations + timed_calls
