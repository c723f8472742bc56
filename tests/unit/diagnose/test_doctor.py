"""doctor's rules, each triggered through fakes; probes that crash or hang; the system from a fake root."""

import dataclasses
import os
import sys
import textwrap

import pytest

from devicefit.devices import nvml
from devicefit.diagnose import probes
from devicefit.diagnose.doctor import CHECKS, diagnose, load_rules
from devicefit.records import FrameworkProbe, GPUFact, ProofTiming, SystemFacts

#: A healthy NVIDIA machine: driver 550 (CUDA 12.4), one H100, a CUDA 12.4 PyTorch that works.
H100 = GPUFact(index=0, name="NVIDIA H100 80GB HBM3", vendor="nvidia", compute_capability="9.0")
SYSTEM = SystemFacts(
    driver_version="550.54.15",
    driver_cuda_version="12.4",
    gpus=(H100,),
    cuda_visible_devices=None,
    nvidia_device_nodes=True,
    is_wsl=False,
    in_container=False,
    container_wants_gpu=False,
    platform="Linux x86_64",
)
TORCH = FrameworkProbe(
    name="torch",
    status="ok",
    version="2.5.1+cu124",
    build="cuda 12.4",
    cuda_version="12.4",
    devices=("cpu", "cuda:0 NVIDIA H100 80GB HBM3"),
    gpu_works=True,
    arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"),
)
NO_GPU = dataclasses.replace(
    SYSTEM, driver_version=None, driver_cuda_version=None, gpus=(), nvidia_device_nodes=False
)
CPU_TORCH = dataclasses.replace(
    TORCH,
    version="2.13.0+cpu",
    build="cpu",
    cuda_version=None,
    devices=("cpu",),
    gpu_works=None,
    arch_list=(),
)


def rules(frameworks=(TORCH,), system=SYSTEM, proof=()):
    return [f.rule for f in diagnose(frameworks, system, proof)]


def only(rule, frameworks=(TORCH,), system=SYSTEM, proof=()):
    found = [f for f in diagnose(frameworks, system, proof) if f.rule == rule]
    assert len(found) == 1, rules(frameworks, system, proof)
    return found[0]


def test_a_healthy_gpu_machine_has_no_finding():
    assert rules() == []


def test_every_rule_of_the_table_has_a_check_a_source_and_a_test():
    table = load_rules()
    assert [r["id"] for r in table] == list(CHECKS)
    assert all(r["source"].startswith("https://") and r["fix"] and r["cause"] for r in table)
    tested = {
        name.removeprefix("test_rule_").split("__")[0] for name in globals() if name.startswith("test_rule_")
    }
    assert set(CHECKS) <= tested, f"rules without a test: {sorted(set(CHECKS) - tested)}"


def test_rule_no_gpu__on_a_machine_without_one():
    finding = only("no_gpu", (CPU_TORCH,), NO_GPU)
    assert finding.symptom == "no GPU" and finding.fix


def test_rule_torch_cpu_wheel__gives_the_install_command_for_this_driver():
    finding = only("torch_cpu_wheel", (CPU_TORCH,))
    # Driver CUDA 12.4: the newest wheel it runs is cu124, not the newer cu126 or cu128.
    assert "--index-url https://download.pytorch.org/whl/cu124" in finding.fix
    assert "2.13.0+cpu" in finding.symptom


def test_rule_torch_cpu_wheel__without_a_driver_names_the_default_build():
    finding = only("torch_cpu_wheel", (CPU_TORCH,), NO_GPU)
    assert (
        "pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu" in finding.fix
    )
    assert "nvidia-smi" in finding.fix


def test_rule_driver_too_old__for_a_wheel_of_a_newer_cuda_major():
    old_driver = dataclasses.replace(SYSTEM, driver_version="470.82.01", driver_cuda_version="11.4")
    finding = only("driver_too_old", (dataclasses.replace(TORCH, gpu_works=False),), old_driver)
    assert "CUDA 12.4" in finding.symptom and "470.82.01" in finding.symptom
    # No wheel is as old as CUDA 11.4; cu118 runs on it by CUDA's minor version compatibility.
    assert "whl/cu118" in finding.fix
    assert "upgrade the NVIDIA driver" in finding.fix


def test_a_newer_minor_cuda_that_works_is_no_finding():
    driver = dataclasses.replace(SYSTEM, driver_cuda_version="12.2")
    assert "driver_too_old" not in rules(system=driver)


def test_rule_unsupported_compute_capability__a_gpu_newer_than_the_wheel():
    blackwell = GPUFact(index=0, name="NVIDIA GeForce RTX 5090", vendor="nvidia", compute_capability="12.0")
    system = dataclasses.replace(SYSTEM, driver_cuda_version="12.8", gpus=(blackwell,))
    finding = only("unsupported_compute_capability", (dataclasses.replace(TORCH, gpu_works=False),), system)
    assert "sm_120" in finding.fix and "whl/cu128" in finding.fix and "12.0" in finding.symptom


@pytest.mark.parametrize(
    ("capability", "arch_list", "runs"),
    [
        ("8.6", ("sm_80",), True),  # same major, higher minor: binary compatible
        ("8.0", ("sm_86",), False),  # lower minor cannot run sm_86 code
        ("9.0", ("sm_80", "compute_80"), True),  # PTX compiles for newer GPUs
        ("9.0", ("sm_80",), False),
        ("9.0", ("sm_90a",), True),
    ],
)
def test_compute_capability_against_the_arch_list(capability, arch_list, runs):
    gpu = dataclasses.replace(H100, compute_capability=capability)
    found = rules(
        (dataclasses.replace(TORCH, arch_list=arch_list),), dataclasses.replace(SYSTEM, gpus=(gpu,))
    )
    assert ("unsupported_compute_capability" not in found) == runs


@pytest.mark.parametrize("value", ["", "-1", " "])
def test_rule_cuda_visible_devices_hides__when_empty_or_minus_one(value):
    system = dataclasses.replace(SYSTEM, cuda_visible_devices=value)
    finding = only("cuda_visible_devices_hides", system=system)
    assert finding.fix.startswith("unset CUDA_VISIBLE_DEVICES")


def test_rule_cuda_visible_devices_hides__indices_past_the_gpus():
    system = dataclasses.replace(SYSTEM, cuda_visible_devices="3")
    assert "GPUs 0 to 0" in only("cuda_visible_devices_hides", system=system).symptom
    assert "cuda_visible_devices_hides" not in rules(
        system=dataclasses.replace(SYSTEM, cuda_visible_devices="0")
    )


def test_rule_onnxruntime_both_packages__says_which_to_remove():
    ort = FrameworkProbe(
        name="onnxruntime",
        status="ok",
        version="1.20.1",
        build="cpu",
        packages=("onnxruntime", "onnxruntime-gpu"),
        providers=("CPUExecutionProvider",),
    )
    finding = only("onnxruntime_both_packages", (TORCH, ort))
    assert finding.fix == "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"


def test_rule_onnxruntime_cuda_fallback__provider_listed_but_session_on_the_cpu():
    ort = FrameworkProbe(
        name="onnxruntime",
        status="ok",
        version="1.20.1",
        build="cuda",
        packages=("onnxruntime-gpu",),
        providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        gpu_works=False,
    )
    assert "onnxruntime-gpu[cuda,cudnn]" in only("onnxruntime_cuda_fallback", (TORCH, ort)).fix
    working = dataclasses.replace(ort, gpu_works=True)
    assert rules((TORCH, working)) == []


def test_rule_jax_without_cuda__on_a_gpu_machine():
    jax = FrameworkProbe(name="jax", status="ok", version="0.4.35", build="cpu", devices=("cpu:0",))
    finding = only("jax_without_cuda", (TORCH, jax))
    assert finding.fix == "pip install -U 'jax[cuda12]'"
    assert rules((CPU_TORCH, jax), NO_GPU).count("jax_without_cuda") == 0


def test_rule_tensorflow_windows_native__after_2_10():
    tf = FrameworkProbe(
        name="tensorflow", status="ok", version="2.17.0", build="cpu", devices=("/physical_device:CPU:0",)
    )
    windows = dataclasses.replace(SYSTEM, platform="Windows AMD64")
    assert "WSL2" in only("tensorflow_windows_native", (TORCH, tf), windows).fix
    assert "tensorflow_cuda_libraries" not in rules((TORCH, tf), windows)


def test_rule_tensorflow_cuda_libraries__linux_gpu_unseen():
    tf = FrameworkProbe(
        name="tensorflow",
        status="ok",
        version="2.17.0",
        build="cuda 12.3",
        devices=("/physical_device:CPU:0",),
    )
    assert only("tensorflow_cuda_libraries", (TORCH, tf)).fix == "pip install 'tensorflow[and-cuda]'"
    seen = dataclasses.replace(tf, devices=("/physical_device:CPU:0", "/physical_device:GPU:0"))
    assert rules((TORCH, seen)) == []


def test_rule_cupy_driver_too_old__names_the_wheel_for_the_driver():
    cupy = FrameworkProbe(
        name="cupy",
        status="ok",
        version="13.3.0",
        build="cuda 12.6",
        cuda_version="12.6",
        packages=("cupy-cuda12x",),
    )
    old = dataclasses.replace(SYSTEM, driver_version="470.82.01", driver_cuda_version="11.4")
    finding = only("cupy_driver_too_old", (TORCH, cupy), old)
    assert finding.fix.startswith("pip uninstall -y cupy-cuda12x && pip install cupy-cuda11x")


def test_rule_framework_import_crashed__and_hung():
    crashed = FrameworkProbe(name="jax", status="crashed", detail="the import crashed (killed by signal 11)")
    hung = FrameworkProbe(name="cupy", status="timeout", detail="importing cupy did not finish within 60 s")
    found = diagnose((TORCH, crashed, hung), SYSTEM)
    assert [f.rule for f in found] == ["framework_import_crashed", "framework_import_hung"]
    assert "import jax" in found[0].fix and "signal 11" in found[0].cause
    assert "import cupy" in found[1].fix


test_rule_framework_import_hung = test_rule_framework_import_crashed__and_hung


def test_rule_wsl_without_gpu__no_dxg():
    wsl = dataclasses.replace(NO_GPU, is_wsl=True)
    found = rules((CPU_TORCH,), wsl)
    assert "wsl_without_gpu" in found and "no_gpu" not in found


def test_rule_container_without_devices__image_wants_gpus():
    container = dataclasses.replace(NO_GPU, in_container=True, container_wants_gpu=True)
    found = rules((CPU_TORCH,), container)
    assert "container_without_devices" in found and "no_gpu" not in found
    assert "--gpus all" in only("container_without_devices", (CPU_TORCH,), container).fix


def test_rule_gpu_slower_than_cpu__from_the_proof():
    proof = (
        ProofTiming(device="cpu", operation="matmul", size=1024, time_s=0.02, rate_per_s=1e11),
        ProofTiming(device="cuda:0", operation="matmul", size=1024, time_s=0.05, rate_per_s=4e10),
    )
    assert "0.4x" in only("gpu_slower_than_cpu", proof=proof).symptom
    faster = (proof[0], dataclasses.replace(proof[1], time_s=0.0005))
    assert rules(proof=faster) == []


def write_module(folder, name, source):
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_an_import_that_crashes_is_reported_and_doctor_goes_on(tmp_path):
    env = write_module(tmp_path, "jax", "import os\nos.abort()\n")
    crashed, torch = probes.probe_frameworks(("jax", "torch"), timeout_s=60, env=env)
    assert crashed.status == "crashed" and "signal" in crashed.detail
    assert torch.status == "ok" and torch.build == "cpu"


def test_an_import_that_raises_is_reported_with_its_error(tmp_path):
    env = write_module(
        tmp_path, "cupy", "raise ImportError('libcudart.so.12: cannot open shared object file')\n"
    )
    (probe,) = probes.probe_frameworks(("cupy",), timeout_s=30, env=env)
    assert probe.status == "crashed" and "libcudart.so.12" in probe.detail


def test_an_import_that_hangs_is_cut_at_its_time_limit(tmp_path):
    env = write_module(tmp_path, "tensorflow", "import time\ntime.sleep(600)\n")
    (probe,) = probes.probe_frameworks(("tensorflow",), timeout_s=1.0, env=env)
    assert probe.status == "timeout" and "1 s" in probe.detail


def test_a_missing_framework_is_missing(tmp_path):
    (probe,) = probes.probe_frameworks(("onnxruntime",), env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert probe.status in ("missing", "ok")  # ok where the machine has it
    if probe.status == "missing":
        assert probe.version is None


def test_a_fake_framework_reports_its_devices_and_build(tmp_path):
    # A stand-in for ONNX Runtime with both packages' view: CUDA listed, nothing built to try it.
    env = write_module(
        tmp_path,
        "onnxruntime",
        """
        __version__ = "1.20.1"
        def get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        def get_device():
            return "GPU"
        """,
    )
    (probe,) = probes.probe_frameworks(("onnxruntime",), timeout_s=30, env=env)
    assert probe.status == "ok" and probe.version == "1.20.1" and probe.build == "cuda"
    assert probe.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")


def test_the_system_is_read_from_nvml_and_the_file_system(tmp_path, monkeypatch):
    system = nvml.NVMLSystem(driver_version="550.54.15", cuda_version="12.4", gpus=(H100,))
    monkeypatch.setattr(nvml, "read_system", lambda: system)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidia0").touch()
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "version").write_text("Linux version 5.15.153.1-microsoft-standard-WSL2")
    (tmp_path / ".dockerenv").touch()
    facts = probes.read_system({"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "all"}, root=tmp_path)
    assert facts.driver_cuda_version == "12.4" and facts.gpus == (H100,)
    assert facts.cuda_visible_devices == "" and facts.nvidia_device_nodes
    assert facts.is_wsl and facts.in_container and facts.container_wants_gpu


def test_nvml_reads_the_driver_cuda_version_and_compute_capability(monkeypatch):
    from tests.unit.devices.test_gpu_energy import fake_pynvml

    memory = type("Memory", (), {"total": 80 * 2**30, "used": 2**30})()
    fake = fake_pynvml(
        nvmlSystemGetCudaDriverVersion=12040,
        nvmlSystemGetDriverVersion="550.54.15",
        nvmlDeviceGetCount=1,
        nvmlDeviceGetHandleByIndex="handle",
        nvmlDeviceGetName="NVIDIA H100 80GB HBM3",
        nvmlDeviceGetCudaComputeCapability=(9, 0),
        nvmlDeviceGetMemoryInfo=memory,
    )
    monkeypatch.setattr(nvml, "_load", lambda: fake)
    system = nvml.read_system()
    assert system.cuda_version == "12.4" and system.driver_version == "550.54.15"
    assert system.gpus == (dataclasses.replace(H100, memory_total_bytes=80 * 2**30),)


def test_no_nvml_means_no_system_gpus(monkeypatch):
    monkeypatch.setattr(nvml, "_load", lambda: None)
    assert nvml.read_system() is None
    assert probes.read_system({}).gpus == ()


assert sys.executable


def test_the_probe_script_keeps_its_own_folder_off_sys_path(tmp_path):
    # Run as a script, devices/ would come first on sys.path, and its amdsmi.py and cuda.py would hide
    # the packages of those names that frameworks import.
    env = write_module(
        tmp_path,
        "cupy",
        """
        import sys
        if any(p.rstrip("/").endswith("devicefit/devices") for p in sys.path):
            raise ImportError("devicefit/devices is on sys.path")
        raise ImportError("imported with a clean path")
        """,
    )
    (probe,) = probes.probe_frameworks(("cupy",), timeout_s=30, env=env)
    assert probe.status == "crashed" and "clean path" in probe.detail, probe.detail


def test_a_cause_with_brackets_is_printed_as_written():
    from dataclasses import replace

    from rich.console import Console

    from devicefit.records import Finding
    from devicefit.report.doctor import render_doctor
    from tests.unit.cli.test_diagnose import HEALTHY

    cause = "importing jax failed: [/usr/lib/x] jax[cuda12] missing"
    finding = Finding(rule="r", symptom="s", cause=cause, fix="pip install 'jax[cuda12]'", source="u")
    console = Console(width=200, record=True)
    console.print(render_doctor(replace(HEALTHY, findings=(finding,))))
    assert cause in console.export_text()
