"""watch's sampler on real processes, NVML through a fake, and the diagnosis of (synthetic) GPU samples."""

import subprocess
import sys
import time

import pynvml
import pytest

from devicefit.devices import nvml
from devicefit.diagnose.watch import TreeSampler
from devicefit.diagnose.watch_findings import diagnose_watch
from devicefit.records import GPUSample, StepRate, WatchSample
from devicefit.store.schema import SCHEMA_VERSION
from devicefit.store.sqlite import open_store
from tests.unit.devices.test_gpu_energy import fake_pynvml

GIB = 2**30


def sample(t, *, cpu=100.0, rss=GIB, gpus=(), iowait=0.0):
    return WatchSample(
        elapsed_s=t,
        cpu_percent=cpu,
        core_percents=(cpu / 2, cpu / 2),
        iowait_percent=iowait,
        rss_bytes=rss,
        read_bytes=None,
        write_bytes=None,
        num_processes=1,
        gpus=gpus,
    )


def gpu(utilization, *, held=10 * GIB, used=12 * GIB, reasons=(), power=300.0):
    return GPUSample(
        index=0,
        utilization_percent=utilization,
        tree_memory_bytes=held,
        memory_used_bytes=used,
        memory_total_bytes=80 * GIB,
        power_w=power,
        power_limit_w=700.0,
        sm_clock_hz=1.98e9,
        throttle_reasons=reasons,
    )


def findings(samples, **kwargs):
    return diagnose_watch(samples, num_cores=2, gpu_visible=True, **kwargs)


def test_a_cpu_job_never_used_the_gpu_and_its_cpu_use_is_given():
    found = findings([sample(0.2 * i, cpu=150.0) for i in range(1, 11)])
    assert found[0].finding == "the job never used a GPU" and found[0].problem
    assert "10 samples" in found[0].evidence
    cpu = next(f for f in found if f.finding.startswith("CPU"))
    assert "150% of one core" in cpu.finding and "1.5 of 2 cores" in cpu.finding


def test_without_nvml_the_job_never_used_a_gpu_is_no_problem_of_the_job():
    (first, *_) = diagnose_watch([sample(0.2)], num_cores=2, gpu_visible=False)
    assert first.finding == "the job never used a GPU" and not first.problem
    assert "NVML is not available" in first.evidence


def test_idle_gaps_between_busy_spells_read_as_input_bound():
    # 4 steps: 3 busy samples, then 2 idle ones while the next batch loads (40% idle), after a startup
    # with no memory held (not counted).
    pattern = [None] + [99.0, 98.0, 97.0, 0.0, 1.0] * 4 + [99.0]
    samples = [
        sample(0.1 * i, gpus=(gpu(u or 0.0, held=0 if u is None else 10 * GIB),))
        for i, u in enumerate(pattern)
    ]
    (finding, *_) = findings(samples)
    assert finding.problem and "input-bound" in finding.finding
    assert "idle 38%" in finding.finding and "in 4 gaps" in finding.finding
    assert "gaps of 0.2 s" in finding.evidence


def test_a_busy_gpu_is_busy_and_its_memory_headroom_is_given():
    samples = [sample(0.1 * i, gpus=(gpu(95.0, used=79 * GIB),)) for i in range(20)]
    found = findings(samples)
    assert found[0].finding == "GPU 0 busy 100% of the time" and not found[0].problem
    memory = found[1]
    assert "peak 79.00 GiB of 80.00 GiB, 1% headroom" in memory.finding and memory.problem


def test_power_and_thermal_caps_are_reported_when_frequent():
    samples = [
        sample(0.1 * i, gpus=(gpu(99.0, reasons=("sw_power_cap",) if i % 2 else ("hw_thermal_slowdown",)),))
        for i in range(20)
    ]
    caps = [f.finding for f in findings(samples) if "cap" in f.finding]
    assert caps == [
        "GPU 0 clocks held down by a power cap 50% of the time",
        "GPU 0 clocks held down by a thermal cap 50% of the time",
    ]


def test_host_memory_growth_reads_as_a_leak_and_steady_memory_does_not():
    growing = [sample(1.0 * i, rss=GIB + i * 100 * 2**20) for i in range(40)]
    leak = next(f for f in findings(growing) if "host memory" in f.finding)
    assert leak.problem and "a leak?" in leak.finding and "MiB/min" in leak.finding
    steady = next(f for f in findings([sample(1.0 * i) for i in range(40)]) if "host memory" in f.finding)
    assert not steady.problem and steady.finding == "host memory: peak 1.00 GiB"


def test_io_wait_is_reported_above_a_tenth():
    found = findings([sample(0.2 * i, iowait=30.0) for i in range(10)])
    assert any("I/O-bound" in f.finding for f in found)


def test_the_step_rate_stands_beside_the_prediction():
    rate = StepRate(
        num_steps=100,
        measured_step_s=0.05,
        predicted_step_s=0.02,
        device="cuda:0",
        model="resnet50",
        batch_size=64,
    )
    step = findings([sample(0.2)], step_rate=rate)[-1]
    assert "50 ms per step" in step.finding and "predicts 20 ms on cuda:0" in step.finding
    assert "2.5x the prediction" in step.finding and step.problem


def test_the_sampler_follows_a_real_process_tree():
    # A parent that starts a busy child: both are in the tree, and their CPU time adds up.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time\\nend = time.time() + 3\\n"
        "while time.time() < end: pass'])\n"
        "child.wait()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        sampler = TreeSampler(process.pid, refresh_every=1)
        samples = []
        while len(samples) < 8:
            time.sleep(0.2)
            samples.append(sampler.sample())
        assert max(s.num_processes for s in samples) == 2
        assert max(s.cpu_percent for s in samples) > 20.0
        assert all(s.rss_bytes > 0 and len(s.core_percents) >= 1 for s in samples)
        assert samples[-1].elapsed_s > samples[0].elapsed_s
        assert sampler.is_alive()
    finally:
        process.kill()
        process.wait()
    assert not sampler.is_alive()


def test_nvml_samples_every_gpu_with_the_tree_memory(monkeypatch):
    process = type("Process", (), {})
    mine, other = process(), process()
    mine.pid, mine.usedGpuMemory = 4242, 6 * GIB
    other.pid, other.usedGpuMemory = 99, 2 * GIB
    memory = type("Memory", (), {"total": 80 * GIB, "used": 8 * GIB})()
    utilization = type("Utilization", (), {"gpu": 87, "memory": 40})()
    fake = fake_pynvml(
        nvmlDeviceGetCount=1,
        nvmlDeviceGetHandleByIndex="handle",
        nvmlDeviceGetUtilizationRates=utilization,
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetPowerUsage=412_000,
        nvmlDeviceGetEnforcedPowerLimit=700_000,
        nvmlDeviceGetClockInfo=1980,
        nvmlDeviceGetCurrentClocksEventReasons=0x4 | 0x40 | 0x1,
        nvmlDeviceGetComputeRunningProcesses=[mine, other],
        nvmlDeviceGetGraphicsRunningProcesses=pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED),
    )
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    with nvml.gpu_sampler() as read:
        (reading,) = read({4242, 4243})
    assert reading == GPUSample(
        index=0,
        utilization_percent=87.0,
        tree_memory_bytes=6 * GIB,
        memory_used_bytes=8 * GIB,
        memory_total_bytes=80 * GIB,
        power_w=412.0,
        power_limit_w=700.0,
        sm_clock_hz=1.98e9,
        throttle_reasons=("sw_power_cap", "hw_thermal_slowdown"),
    )
    fake.nvmlShutdown.assert_called_once()


def test_without_nvml_the_gpu_sampler_is_none(monkeypatch):
    monkeypatch.setattr(nvml, "_load", lambda: None)
    with nvml.gpu_sampler() as read:
        assert read is None


def test_watch_samples_round_trip_through_the_store(_isolated_db):
    from devicefit.records import Environment, WatchOutcome

    environment = Environment(
        devicefit_version="0",
        python_version="3",
        torch_version="2",
        numpy_version="1",
        platform="Linux",
        hostname="h",
        cpu_model="cpu",
        torch_num_threads=2,
    )
    samples = [sample(0.2 * i, gpus=(gpu(90.0),)) for i in range(1, 6)]
    with open_store() as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        run_id = store.start_run(command="devicefit watch -- x", environment=environment, devices=())
        assert store.load_watch_session(run_id) is None
        store.add_watch_samples(run_id, samples[:2])
        store.add_watch_samples(run_id, samples[2:])
        outcome = WatchOutcome(
            session_id=run_id,
            status="complete",
            command="x",
            duration_s=1.0,
            interval_s=0.2,
            samples=tuple(samples),
            gpu_used=True,
            diagnosis=findings(samples),
            num_cores=2,
            exit_code=0,
        )
        store.add_watch_session(outcome)
        assert store.load_watch_session(run_id) == outcome


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_a_non_positive_interval_is_a_usage_error(interval):
    from devicefit.app.watch import watch
    from devicefit.errors import UsageError

    with open_store() as store, pytest.raises(UsageError, match="--interval"):
        watch(["true"], store, interval_s=interval)


def test_an_unknown_model_is_refused_before_the_job_starts(_isolated_db, tmp_path):
    from devicefit.app.watch import watch
    from devicefit.errors import UsageError

    marker = tmp_path / "ran"
    with open_store() as store:
        with pytest.raises(UsageError, match="nope"):
            watch([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], store, model="nope", num_steps=1)
        assert store.list_runs() == []
    assert not marker.exists()
