"""Runs each framework's probe in a subprocess with a time limit, and reads the system below the frameworks.

A framework whose import crashes (a segfault in a CUDA library) or hangs (a driver that does not
answer) is reported as such: the probe is a separate process, killed when its time is up.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devicefit.devices import framework_probe, nvml
from devicefit.records import FrameworkProbe, SystemFacts

#: The frameworks doctor looks for, in the order it reports them.
FRAMEWORKS = ("torch", "jax", "tensorflow", "cupy", "onnxruntime")
#: Each probe's limit: importing TensorFlow and initializing CUDA takes tens of seconds on a cold disk.
DEFAULT_TIMEOUT_S = 60.0


def probe_frameworks(
    names: Sequence[str] = FRAMEWORKS,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
) -> tuple[FrameworkProbe, ...]:
    """Probes each framework in a process of its own, all at once, each within ``timeout_s``.

    Args:
        names: Import names of the frameworks.
        timeout_s: Time limit of each probe, from its start.
        python: The interpreter that runs the probes (this one by default).
        env: The probes' environment (this process's by default).
    """
    started = {
        name: (
            subprocess.Popen(
                [python, framework_probe.__file__, name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                text=True,
            ),
            time.monotonic(),
        )
        for name in names
    }
    return tuple(_finish(name, process, start, timeout_s) for name, (process, start) in started.items())


def _finish(name: str, process: subprocess.Popen[str], start: float, timeout_s: float) -> FrameworkProbe:
    try:
        stdout, stderr = process.communicate(timeout=max(0.0, start + timeout_s - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return FrameworkProbe(
            name=name, status="timeout", detail=f"importing {name} did not finish within {timeout_s:g} s"
        )
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return FrameworkProbe(name=name, status="crashed", detail=_crash_detail(process.returncode, stderr))
    try:
        data = json.loads(lines[-1])
    except ValueError:
        detail = f"the probe's last line is not its result: {lines[-1][:200]!r}"
        return FrameworkProbe(name=name, status="crashed", detail=detail)
    if data["status"] == "missing":
        return FrameworkProbe(name=name, status="missing")
    warning = _last_line(stderr)
    return FrameworkProbe(
        name=name,
        status="ok",
        version=data.get("version"),
        build=data.get("build") or "unknown",
        cuda_version=data.get("cuda_version"),
        devices=tuple(data.get("devices", ())),
        gpu_works=data.get("gpu_works"),
        arch_list=tuple(data.get("arch_list", ())),
        packages=tuple(data.get("packages", ())),
        providers=tuple(data.get("providers", ())),
        detail=data.get("detail") or warning,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _crash_detail(returncode: int, stderr: str) -> str:
    # A negative code is the signal that killed it (-11: a segmentation fault).
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    last = _last_line(stderr)
    return f"the import crashed ({how})" + (f": {last}" if last else "")


def read_system(environ: Mapping[str, str] | None = None, root: Path = Path("/")) -> SystemFacts:
    """The driver, its GPUs, ``CUDA_VISIBLE_DEVICES``, WSL and container facts of this machine.

    Args:
        environ: The environment to read (this process's by default).
        root: The file system root (a fake tree in tests).
    """
    environ = os.environ if environ is None else environ
    system = nvml.read_system()
    dev = root / "dev"
    nodes = any(dev.glob("nvidia[0-9]*")) or (dev / "dxg").exists() or (dev / "kfd").exists()
    try:
        kernel = (root / "proc" / "version").read_text().lower()
    except OSError:
        kernel = platform.release().lower()
    wants = environ.get("NVIDIA_VISIBLE_DEVICES", "").strip().lower()
    return SystemFacts(
        driver_version=system.driver_version if system else None,
        driver_cuda_version=system.cuda_version if system else None,
        gpus=system.gpus if system else (),
        cuda_visible_devices=environ.get("CUDA_VISIBLE_DEVICES"),
        nvidia_device_nodes=nodes,
        is_wsl="microsoft" in kernel or "wsl" in kernel,
        in_container=(root / ".dockerenv").exists() or (root / "run" / ".containerenv").exists(),
        container_wants_gpu=wants not in ("", "void", "none"),
        platform=f"{platform.system()} {platform.machine()}",
    )
