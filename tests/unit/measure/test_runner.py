"""Running cases: values from work and time, failures as statuses, sweeps that stop, interrupted runs."""

import dataclasses

import pytest
import torch

from devicefit.app.session import plan_cases, run_benchmarks
from devicefit.devices.fake import FakeDevice
from devicefit.errors import DevicefitError
from devicefit.measure import micro
from devicefit.measure.case import Case
from devicefit.measure.runner import RunnerConfig, execute, run_case
from devicefit.measure.timer import TimerConfig
from devicefit.store.sqlite import Store

# Simulated seconds cost nothing real; a long budget keeps timer overhead out of the checked values.
FAST = TimerConfig(warmup_s=0.0, min_time_s=0.01, budget_s=1.0, min_samples=3)


def failing_case(error, case_id="broken"):
    def build():
        raise error

    return Case(
        id=case_id,
        benchmark="matmul",
        device="fake",
        unit="FLOP/s",
        build=build,
        dtype="fp32",
        flops_per_iteration=1.0,
    )


class BuildingFake(FakeDevice):
    """A fake device that simulates nothing, so the runner builds the case's real callable."""

    simulate = None


def test_values_follow_from_work_and_median():
    device = FakeDevice()
    case = micro.matmul(device="fake", device_kind="fake", dtype="bf16", n=4096, peak=160e12)
    result = run_case(case, device, FAST)
    # 2 x 4096^3 FLOP at 80% of 160 TFLOP/s.
    assert result.status == "ok"
    assert result.value == pytest.approx(0.8 * 160e12, rel=1e-3)
    assert result.peak_fraction == pytest.approx(0.8, rel=1e-3)
    assert result.value == pytest.approx(case.flops_per_iteration / result.median_s)


def test_bandwidth_and_latency_units():
    device = FakeDevice(launch_s=4e-6)
    triad = run_case(micro.stream(device="fake", kernel="triad", n=2**26, peak=1e12), device, FAST)
    assert triad.unit == "B/s" and triad.value == pytest.approx(0.8e12, rel=1e-3)
    launch = run_case(micro.launch(device="fake"), device, FAST)
    assert launch.unit == "s" and launch.value == pytest.approx(4e-6, rel=1e-3)
    assert launch.peak_fraction is None


class RecordingFake(FakeDevice):
    """A fake device that remembers the work the runner declared to it."""

    def __init__(self):
        super().__init__()
        self.simulated = []

    def simulate(self, **work):
        self.simulated.append(work)
        return super().simulate(**work)


def test_a_simulated_device_is_fed_the_work_the_case_declares():
    device = RecordingFake()
    matmul = micro.matmul(device="fake", device_kind="fake", dtype="bf16", n=64, peak=None)
    copy = micro.transfer(device="fake", direction="h2d", num_bytes=2**20, pinned=True, peak=None)
    for case in (matmul, copy):
        assert run_case(case, device, FAST).status == "ok"
    assert device.simulated == [
        dict(
            flops=2.0 * 64**3,
            bytes_moved=3 * 64**2 * 2.0,
            memory_bytes=3 * 64**2 * 2,
            dtype="bf16",
            link=False,
        ),
        dict(flops=0.0, bytes_moved=2.0**20, memory_bytes=2**20, dtype="fp32", link=True),
    ]


def test_a_real_device_runs_the_callable_the_case_builds():
    device, built = BuildingFake(), []

    def build():
        built.append(1)
        return device.work(bytes_moved=1e9)  # advances the simulated clock, as real work would

    case = dataclasses.replace(micro.launch(device="fake"), build=build)
    assert run_case(case, device, FAST).status == "ok"
    assert built == [1]


def test_out_of_memory_is_recorded_and_memory_released():
    device = FakeDevice(memory_bytes=2**20)
    released = []
    device.release_memory = lambda: released.append(True)
    result = run_case(
        micro.matmul(device="fake", device_kind="fake", dtype="fp32", n=8192, peak=None), device, FAST
    )
    assert (result.status, result.value, result.measurement) == ("oom", None, None)
    assert "fake device" in result.error
    assert released == [True]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"), "oom"),
        (RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'"), "unsupported"),
        (NotImplementedError("no kernel"), "unsupported"),
        (ValueError("something else"), "error"),
    ],
)
def test_failures_become_statuses(error, status):
    result = run_case(failing_case(error), BuildingFake(), FAST)
    assert result.status == status
    assert result.error


def test_unexpected_errors_are_raised_with_debug():
    with pytest.raises(ValueError):
        run_case(failing_case(ValueError("bug")), BuildingFake(), FAST, raise_errors=True)


def test_illegal_memory_access_stops_the_run():
    error = RuntimeError("CUDA error: an illegal memory access was encountered")
    with pytest.raises(DevicefitError, match="beyond recovery"):
        run_case(failing_case(error), BuildingFake(), FAST)


def test_a_sweep_stops_before_a_case_that_would_run_too_long():
    device = FakeDevice(peak_flops_per_s={"fp32": 1e9}, efficiency=1.0)
    cases = [
        micro.matmul(device="fake", device_kind="fake", dtype="fp32", n=n, peak=None) for n in (64, 256, 1024)
    ]
    config = RunnerConfig(timer=FAST, max_iteration_s=0.1)
    results = list(execute(cases, {"fake": device}, config))
    # 2 x 256^3 / 1e9 = 34 ms runs; 1024 would take 64x that, 2.1 s, over the 0.1 s limit.
    assert [r.status for r in results] == ["ok", "ok", "skipped"]
    assert "2.1 s" in results[2].error


def test_a_case_that_needs_more_than_free_memory_is_skipped():
    device = FakeDevice(memory_bytes=100 * 2**20)
    case = micro.stream(device="fake", kernel="copy", n=2**24, peak=None)  # 3 x 64 MiB
    (result,) = execute([case], {"fake": device}, RunnerConfig(timer=FAST))
    assert result.status == "skipped"
    assert "GiB free" in result.error


def test_progress_callback_sees_every_case_in_order():
    device = FakeDevice()
    cases = [micro.launch(device="fake"), micro.stream(device="fake", kernel="copy", n=1024, peak=None)]
    seen = []
    list(
        execute(
            cases,
            {"fake": device},
            RunnerConfig(timer=FAST),
            on_case=lambda c, done: seen.append((c.id, done)),
        )
    )
    assert seen == [("launch", 0), ("copy.fp32.1024", 1)]


def test_interrupted_run_keeps_finished_results(tmp_path):
    device = BuildingFake()
    launch = micro.launch(device="fake")
    cases = [
        launch,
        dataclasses.replace(launch, id="launch2"),
        failing_case(KeyboardInterrupt(), "ctrl-c"),
        launch,
    ]
    store = Store(tmp_path / "r.db")
    outcome = run_benchmarks(cases, [device], store, quick=True)
    assert outcome.interrupted
    assert [r.case_id for r in outcome.results] == ["launch", "launch2"]
    run = store.load_run(outcome.run_id)
    assert run.status == "interrupted"
    assert [r.case_id for r in run.results] == ["launch", "launch2"]


def test_complete_run_is_stored(tmp_path):
    store = Store(tmp_path / "r.db")
    device = FakeDevice()
    cases = plan_cases([device], suite="micro", quick=True, only="matmul.bf16.*,launch")
    outcome = run_benchmarks(cases, [device], store, quick=True, label="dry run")
    run = store.load_run(outcome.run_id)
    assert (run.status, run.label, outcome.interrupted) == ("complete", "dry run", False)
    assert [r.case_id for r in run.results] == [
        "matmul.bf16.1024",
        "matmul.bf16.4096",
        "matmul.bf16.8192",
        "launch",
    ]
    assert run.devices[0].id == "fake"


def test_a_metered_case_carries_its_energy_and_performance_per_watt():
    device = FakeDevice(power_w=300.0)
    case = micro.matmul(device="fake", device_kind="fake", dtype="bf16", n=4096, peak=160e12)
    result = run_case(case, device, FAST)
    assert (result.energy_method, result.energy.meter) == ("counter", "simulated counter")
    # The simulated counter integrates 300 W over the simulated clock of the whole timing.
    assert result.power_w == pytest.approx(300.0)
    assert result.energy.duration_s > result.median_s * result.measurement.iterations_per_sample
    # One matmul takes median_s at 300 W; FLOP/J is the rate over the power: 128 TFLOP/s / 300 W.
    assert result.energy_j == pytest.approx(300.0 * result.median_s)
    assert result.value_per_j == pytest.approx(0.8 * 160e12 / 300.0, rel=1e-3)
    assert result.unit_per_j == "FLOP/J"


def test_a_model_step_reports_samples_per_joule():
    step = Case(
        id="mlp.train.8",
        benchmark="train_step",
        device="fake",
        unit="samples/s",
        build=lambda: lambda: None,
        size=8,
        model="mlp",
        flops_per_iteration=2e9,
    )
    result = run_case(step, FakeDevice(power_w=50.0), FAST)
    assert result.unit_per_j == "samples/J"
    assert result.value_per_j == pytest.approx(result.value / 50.0)
    assert result.value_per_j == pytest.approx(8 / result.energy_j)


def test_a_device_without_a_meter_says_so_and_has_no_figure():
    result = run_case(micro.launch(device="fake"), FakeDevice(), FAST)
    assert result.energy_method == "none"
    assert result.energy_j is None and result.power_w is None and result.value_per_j is None
    assert result.energy_note.startswith("no meter: a simulated GPU")


def test_a_result_stored_before_energy_was_metered_says_so():
    result = run_case(micro.launch(device="fake"), FakeDevice(power_w=10.0), FAST)
    old = dataclasses.replace(result, energy=None, schema_version=2)
    assert (old.energy_method, old.energy_j) == ("none", None)
    assert "stored before devicefit read energy meters" in old.energy_note
    failed = run_case(failing_case(RuntimeError("boom")), BuildingFake(), FAST)
    assert (failed.energy_method, failed.energy_note) == ("none", "nothing was timed")
