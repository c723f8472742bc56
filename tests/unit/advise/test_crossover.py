"""The crossover: the batch from which a GPU stays ahead of a CPU, found on synthetic predictions."""

import pytest

from devicefit.advise.crossover import crossover_point, find_crossover, find_crossovers, step_bound
from devicefit.records.advice import DeviceSweep
from tests.unit.advise.helpers import prediction

BATCHES = (1, 4, 16, 64)


def sweep(device, cpu, step_s, *, fits=True, transfer_s=0.0, measured=None):
    """A device whose step takes ``step_s(batch)``; GPUs pay ``transfer_s`` per sample for the copy."""
    points = tuple(
        crossover_point(
            prediction(
                device,
                batch_size=b,
                step_s=step_s(b),
                transfer_s=transfer_s * b,
                fits=fits if not callable(fits) else fits(b),
            ),
            cpu=cpu,
            measured_s=None if measured is None else measured(b),
        )
        for b in BATCHES
    )
    return DeviceSweep(
        device=device, device_name=device, cpu=cpu, origin="defaults", error_band=0.3, points=points
    )


# The CPU does 1 ms per sample; the GPU pays 10 ms of launches and then 0.1 ms per sample:
# GPU ahead when 10 + 0.1 b < b, i.e. from b > 11.1: batch 16 is the first of the sweep.
CPU = sweep("cpu", True, lambda b: 1e-3 * b)
GPU = sweep("gpu", False, lambda b: 10e-3 + 1e-4 * b)


def test_crossover_is_the_first_batch_from_which_the_gpu_stays_ahead():
    found = find_crossover(GPU, CPU)
    assert found.batch_size == 16
    assert found.winner is None
    assert found.first_speedup == pytest.approx((1 / 10.1e-3) / (1 / 1e-3))
    assert found.last_speedup == pytest.approx((64 / 16.4e-3) / (64 / 64e-3))


def test_a_gpu_ahead_at_every_batch_wins_throughout_with_no_batch():
    fast = sweep("gpu", False, lambda b: 1e-5 * b)
    found = find_crossover(fast, CPU)
    assert (found.batch_size, found.winner) == (None, "gpu")


def test_a_gpu_never_ahead_loses_throughout():
    slow = sweep("gpu", False, lambda b: 1.0)
    found = find_crossover(slow, CPU)
    assert (found.batch_size, found.winner) == (None, "cpu")


def test_the_copy_counts_against_the_gpu_and_can_bound_it():
    # 0.1 ms of launches, 2 ms per sample of copy: the copy alone is slower than the CPU's 1 ms per sample.
    copy_bound = sweep("gpu", False, lambda b: 1e-4, transfer_s=2e-3)
    found = find_crossover(copy_bound, CPU)
    assert found.winner == "cpu"
    assert found.last_gpu_bound == "copy"


def test_a_gpu_that_does_not_fit_does_not_count_as_ahead():
    no_fit_late = sweep("gpu", False, lambda b: 1e-5 * b, fits=lambda b: b < 64)
    found = find_crossover(no_fit_late, CPU)
    assert (found.batch_size, found.winner, found.cpu_ahead_from) == (None, None, 64)


def test_measured_cpu_times_decide_the_crossover():
    # Measured, the CPU is 2x faster than predicted (0.5 ms per sample): the GPU needs 10 + 0.1 b < 0.5 b,
    # b > 25: batch 64, where the predicted CPU would give 16.
    measured = sweep("cpu", True, lambda b: 1e-3 * b, measured=lambda b: 5e-4 * b)
    found = find_crossover(GPU, measured)
    assert found.batch_size == 64 and found.measured


def test_step_bound_names_the_largest_part():
    p = prediction(compute_s=1.0, memory_s=2.0, overhead_s=3.0)
    assert step_bound(p, 0.5) == "launch"
    assert step_bound(p, 4.0) == "copy"


def test_every_gpu_is_paired_with_every_cpu():
    assert [(c.gpu, c.cpu) for c in find_crossovers([CPU, GPU])] == [("gpu", "cpu")]


def width_sweep(device, cpu, step_s, *, batch=8):
    """A device at one batch over the widths of ``WIDTHS``, whose step takes ``step_s(width)``."""
    points = tuple(
        crossover_point(prediction(device, batch_size=batch, step_s=step_s(w)), cpu=cpu, width=w)
        for w in WIDTHS
    )
    return DeviceSweep(
        device=device, device_name=device, cpu=cpu, origin="defaults", error_band=0.3, points=points
    )


WIDTHS = (64, 256, 1024, 4096)


def test_a_width_sweep_finds_the_width_from_which_the_gpu_stays_ahead():
    # A dense layer's work grows as width squared. The CPU does 1 ns per width^2; the GPU pays 1 ms of
    # launches and 0.01 ns per width^2: ahead when 1e-3 + 1e-11 w^2 < 1e-9 w^2, w > 1005: width 1024.
    cpu = width_sweep("cpu", True, lambda w: 1e-9 * w * w)
    gpu = width_sweep("gpu", False, lambda w: 1e-3 + 1e-11 * w * w)
    found = find_crossover(gpu, cpu)
    assert (found.width, found.batch_size, found.winner) == (1024, None, None)
    assert (found.first_width, found.last_width) == (64, 4096)
    assert (found.first_batch_size, found.last_batch_size) == (8, 8)
    assert found.first_speedup == pytest.approx(1e-9 * 64**2 / (1e-3 + 1e-11 * 64**2))


def test_a_width_sweep_where_the_cpu_stays_ahead_names_no_width():
    cpu = width_sweep("cpu", True, lambda w: 1e-9 * w * w)
    slow = width_sweep("gpu", False, lambda w: 1.0)
    found = find_crossover(slow, cpu)
    assert (found.width, found.winner) == (None, "cpu")
