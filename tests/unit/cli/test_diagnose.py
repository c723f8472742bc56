"""``devicefit doctor`` and ``devicefit watch`` through the command line, on this (GPU-less) machine."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import devicefit
from devicefit.app import doctor as doctor_app
from devicefit.cli import app
from devicefit.records import DoctorOutcome, FrameworkProbe, ProofTiming, SystemFacts

runner = CliRunner()
SOURCE = str(Path(devicefit.__file__).parents[1])


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


@pytest.mark.skipif(bool(torch.version.cuda or torch.version.hip), reason="needs the CPU-only PyTorch build")
def test_doctor_json_on_a_cpu_only_machine_finds_no_gpu_and_the_cpu_wheel_and_exits_1():
    result = invoke("doctor", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    torch_probe = next(f for f in report["frameworks"] if f["name"] == "torch")
    assert torch_probe["build"] == "cpu" and torch_probe["version"] == torch.__version__
    assert torch_probe["devices"] == ["cpu"] and torch_probe["gpu_works"] is None
    assert {f["name"] for f in report["frameworks"]} == {"torch", "jax", "tensorflow", "cupy", "onnxruntime"}
    findings = {f["symptom"]: f for f in report["findings"]}
    assert findings["no GPU"]["fix"] and findings["no GPU"]["source"].startswith("https://")
    cpu_wheel = next(f for f in report["findings"] if "CPU-only build" in f["symptom"])
    assert "pip install --force-reinstall torch --index-url" in cpu_wheel["fix"]
    (cpu,) = report["proof"]["devices"]
    assert cpu["device"] == "cpu"
    assert {(t["operation"], t["size"]) for t in cpu["timings"]} == {
        ("matmul", 64),
        ("matmul", 1024),
        ("copy", 1 << 24),
    }
    assert all(t["time_s"] > 0 and t["rate_per_s"] > 0 for t in cpu["timings"])
    assert report["proof"]["sentence"].startswith("only the CPU runs PyTorch here: a 1024 product takes")
    assert report["system"]["gpus"] == []


HEALTHY = DoctorOutcome(
    frameworks=(
        FrameworkProbe(
            name="torch",
            status="ok",
            version="2.5.1+cu124",
            build="cuda 12.4",
            cuda_version="12.4",
            devices=("cpu", "cuda:0 NVIDIA H100 80GB HBM3"),
            gpu_works=True,
            arch_list=("sm_90",),
        ),
        FrameworkProbe(name="jax", status="missing"),
    ),
    system=SystemFacts(
        driver_version="550.54.15",
        driver_cuda_version="12.4",
        gpus=(),
        cuda_visible_devices=None,
        nvidia_device_nodes=True,
        is_wsl=False,
        in_container=False,
        container_wants_gpu=False,
        platform="Linux x86_64",
    ),
    findings=(),
    proof=(
        ProofTiming(device="cpu", operation="matmul", size=64, time_s=2e-6, rate_per_s=2.6e11),
        ProofTiming(device="cpu", operation="matmul", size=1024, time_s=0.02, rate_per_s=1.07e11),
        ProofTiming(device="cuda:0", operation="matmul", size=64, time_s=5e-6, rate_per_s=1e11),
        ProofTiming(device="cuda:0", operation="matmul", size=1024, time_s=5e-5, rate_per_s=4.3e13),
    ),
)


def test_doctor_exits_0_when_all_is_well_and_says_how_much_faster_the_gpu_is(monkeypatch):
    monkeypatch.setattr(doctor_app, "doctor", lambda **options: HEALTHY)
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "no problem found" in result.stdout
    assert (
        "the GPU cuda:0 runs, and is 400x the CPU on a 1024 product; at 64 it is 0.4x: launch-bound"
        in " ".join(result.stdout.split())
    )
    assert json.loads(invoke("doctor", "--json").stdout)["findings"] == []


TRAIN = """
import time
total = 0
for step in range(25):
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        total += 1
    print(f"step {step}", flush=True)
"""


def test_watch_a_cpu_job_samples_at_the_interval_and_says_no_gpu_was_used(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    result = invoke(
        "watch",
        "--interval",
        "0.1",
        "--json",
        "--steps-regex",
        r"step (\d+)",
        "--",
        sys.executable,
        str(script),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "complete" and report["exit_code"] == 0 and report["gpu_used"] is False
    # At least 80% of the samples the duration allows at the interval asked.
    assert report["samples"] >= 0.8 * report["duration_s"] / 0.1 - 1
    assert report["interval_s"] == 0.1
    findings = [d["finding"] for d in report["diagnosis"]]
    assert findings[0] == "the job never used a GPU"
    assert any(f.startswith("CPU: the job used") for f in findings)
    assert report["step_rate"]["num_steps"] == 24 and report["step_rate"]["measured_step_s"] > 0.04
    assert "step 24" in result.stderr  # the job's output, kept off stdout with --json

    shown = invoke("show", "--json")
    assert json.loads(shown.stdout)["watch"]["diagnosis"] == report["diagnosis"]
    text = invoke("show").stdout
    assert "the job never used a GPU" in text and f"watch {report['session_id']}" in text
    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert run["command"].startswith("devicefit watch") and run["status"] == "complete"


def test_watch_ends_with_the_command_s_failing_status(tmp_path):
    result = invoke(
        "watch", "--json", "--", sys.executable, "-c", "import time, sys; time.sleep(0.5); sys.exit(3)"
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "failed"
    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert run["status"] == "failed"


def test_watch_of_a_command_that_cannot_start_is_one_line():
    result = invoke("watch", "--", "/no/such/program")
    assert result.exit_code == 2
    assert (
        result.stderr.startswith("error: cannot start '/no/such/program'")
        and "Traceback" not in result.stderr
    )


def test_watch_attaches_to_a_pid_until_it_ends():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    try:
        result = invoke("watch", "--pid", str(process.pid), "--interval", "0.1", "--json")
    finally:
        process.kill()
        process.wait()
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["command"] == f"pid {process.pid}" and report["samples"] >= 5


def watch_samples(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM watch_samples").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to another process is POSIX")
def test_ctrl_c_stops_the_command_keeps_the_samples_and_marks_the_session_interrupted(tmp_path, _isolated_db):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devicefit",
            "watch",
            "--interval",
            "0.1",
            "--json",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        deadline = time.monotonic() + 120
        while watch_samples(_isolated_db) < 3 or not pid_file.exists():
            assert time.monotonic() < deadline and watcher.poll() is None, watcher.communicate()
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())
        os.kill(watcher.pid, signal.SIGINT)
        stdout, stderr = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 130, stderr
    report = json.loads(stdout)
    assert report["status"] == "interrupted" and report["samples"] >= 3
    assert watch_samples(_isolated_db) == report["samples"]
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)
    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert run["status"] == "interrupted"
    assert json.loads(invoke("show", "--json").stdout)["watch"]["status"] == "interrupted"


def test_watch_puts_the_measured_step_time_beside_the_prediction():
    result = invoke(
        "watch",
        "--json",
        "--steps",
        "20",
        "--model",
        "mlp",
        "--batch",
        "64",
        "--",
        sys.executable,
        "-c",
        "import time; time.sleep(1)",
    )
    assert result.exit_code == 0, result.output
    step = json.loads(result.stdout)["step_rate"]
    assert step["num_steps"] == 20 and step["device"] == "cpu" and step["batch_size"] == 64
    assert step["measured_step_s"] == pytest.approx(json.loads(result.stdout)["duration_s"] / 20)
    assert step["predicted_step_s"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: watch needs a command or --pid"),
        (("--pid", "1", "--", "true"), "error: watch takes a command or --pid, not both"),
        (("--steps-regex", "step (", "--", "true"), "error: --steps-regex 'step (' is no regular expression"),
    ],
)
def test_watch_usage_errors_are_one_line(args, message):
    result = invoke("watch", *args)
    assert result.exit_code == 2 and result.stderr.startswith(message), result.output
