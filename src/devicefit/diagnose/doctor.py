"""doctor's rules: from what the frameworks and the system report to findings with a fix.

The rule table (symptom, cause, fix, source) is data, in ``rules.toml``; this module holds one check
per rule, which decides whether the rule applies and fills the table's placeholders. A check returns
one set of values per occurrence (a rule can apply to each GPU, or to each framework).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from devicefit.data import load_packaged_toml
from devicefit.records import Finding, FrameworkProbe, ProofTiming, SystemFacts

Values = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the checks read: each framework's probe (by name), the system, and the proof's timings."""

    frameworks: dict[str, FrameworkProbe]
    system: SystemFacts
    proof: tuple[ProofTiming, ...]
    wheels: tuple[str, ...]
    default_wheel: str

    def ok(self, name: str) -> FrameworkProbe | None:
        """The framework's probe when it ran."""
        probe = self.frameworks.get(name)
        return probe if probe is not None and probe.status == "ok" else None

    @property
    def has_gpu(self) -> bool:
        """The driver lists a GPU, or some framework sees one."""
        return bool(self.system.gpus) or any(p.gpu_works is not None for p in self.frameworks.values())


@cache
def load_rules() -> tuple[dict[str, str], ...]:
    """The rule table, in its file's order."""
    return tuple(load_packaged_toml("devicefit.diagnose", "rules.toml")["rule"])


def _version(text: str | None) -> tuple[int, ...] | None:
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2])) if match else None


def wheel_for_driver(facts: Facts) -> tuple[str, str]:
    """The PyTorch wheel tag to install (``cu124``) and why that one."""
    driver = _version(facts.system.driver_cuda_version)
    if driver is None:
        return (
            f"cu{facts.default_wheel.replace('.', '')}",
            "no NVIDIA driver found here: pick the CUDA version 'nvidia-smi' shows for yours",
        )
    fitting = [w for w in facts.wheels if (_version(w) or (0,)) <= driver]
    # None at or below the driver's version: a wheel of the same CUDA major still runs on it (CUDA's
    # minor version compatibility, from 11.0 on).
    same_major = [w for w in facts.wheels if (_version(w) or (0,))[0] == driver[0]]
    candidates = fitting or same_major
    if not candidates:
        return f"cu{facts.wheels[0].replace('.', '')}", "the driver is older than every build: upgrade it"
    chosen = candidates[-1]
    driver_text = f"{facts.system.driver_version} (CUDA {driver[0]}.{driver[1]})"
    return f"cu{chosen.replace('.', '')}", f"the newest CUDA build the driver {driver_text} runs"


def _no_gpu(facts: Facts) -> list[Values]:
    hidden = facts.system.cuda_visible_devices is not None and _hides_all(facts.system.cuda_visible_devices)
    quiet = not facts.has_gpu and not facts.system.nvidia_device_nodes and not hidden
    return [{}] if quiet and not facts.system.is_wsl and not _container_lacks_devices(facts) else []


def _torch_cpu_wheel(facts: Facts) -> list[Values]:
    torch = facts.ok("torch")
    if torch is None or torch.build != "cpu":
        return []
    tag, why = wheel_for_driver(facts)
    return [{"version": torch.version, "tag": tag, "why": why}]


def _driver_too_old(facts: Facts) -> list[Values]:
    torch, driver = facts.ok("torch"), _version(facts.system.driver_cuda_version)
    wheel = _version(torch.cuda_version) if torch else None
    # Within one CUDA major an older driver runs newer minor releases (minor version compatibility),
    # unless the first kernel proves otherwise.
    if torch is None or wheel is None or driver is None or wheel <= driver:
        return []
    if wheel[0] == driver[0] and torch.gpu_works is not False:
        return []
    tag, _ = wheel_for_driver(facts)
    return [
        {
            "wheel_cuda": torch.cuda_version,
            "driver": facts.system.driver_version,
            "driver_cuda": facts.system.driver_cuda_version,
            "tag": tag,
        }
    ]


def _architectures(arch_list: Sequence[str]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Binary (``sm_XY``) and PTX (``compute_XY``) architectures of a wheel, as (major, minor)."""
    binary: set[tuple[int, int]] = set()
    ptx: set[tuple[int, int]] = set()
    for arch in arch_list:
        match = re.fullmatch(r"(sm|compute)_(\d+)(\d)[a-z]?", arch)
        if match:
            (binary if match[1] == "sm" else ptx).add((int(match[2]), int(match[3])))
    return binary, ptx


def _unsupported_compute_capability(facts: Facts) -> list[Values]:
    torch = facts.ok("torch")
    if torch is None or not torch.arch_list or not torch.cuda_version:
        return []
    binary, ptx = _architectures(torch.arch_list)
    found = []
    for gpu in facts.system.gpus:
        capability = _version(gpu.compute_capability)
        if capability is None:
            continue
        # Kernels run on GPUs of the same major and a higher minor; PTX is compiled for any newer GPU.
        runs = any(b[0] == capability[0] and b[1] <= capability[1] for b in binary) or any(
            p <= capability for p in ptx
        )
        if not runs:
            tag, _ = wheel_for_driver(facts)
            found.append(
                {
                    "gpu": f"GPU {gpu.index} {gpu.name}",
                    "capability": gpu.compute_capability,
                    "arch_list": " ".join(torch.arch_list),
                    "sm": f"{capability[0]}{capability[1]}",
                    "tag": tag,
                }
            )
    return found


def _hides_all(value: str) -> bool:
    return value.strip() in ("", "-1", "none", "NoDevFiles")


def _cuda_visible_devices_hides(facts: Facts) -> list[Values]:
    value = facts.system.cuda_visible_devices
    if value is None:
        return []
    if _hides_all(value):
        return [{"value": value, "hidden": "every GPU"}]
    count = len(facts.system.gpus)
    entries = [e.strip() for e in value.split(",") if e.strip()]
    # Indices past the GPUs NVML lists match nothing (UUIDs and MIG names are left alone).
    if count and entries and all(e.isdecimal() and int(e) >= count for e in entries):
        return [{"value": value, "hidden": f"every GPU (this machine has GPUs 0 to {count - 1})"}]
    return []


def _onnxruntime_both_packages(facts: Facts) -> list[Values]:
    probe = facts.ok("onnxruntime")
    if probe is None or not {"onnxruntime", "onnxruntime-gpu"} <= set(probe.packages):
        return []
    return [{"packages": " and ".join(probe.packages), "uninstall": " ".join(probe.packages)}]


def _onnxruntime_cuda_fallback(facts: Facts) -> list[Values]:
    probe = facts.ok("onnxruntime")
    if probe is None or "CUDAExecutionProvider" not in probe.providers or probe.gpu_works is not False:
        return []
    driver = _version(facts.system.driver_cuda_version)
    return [{"cuda_major": driver[0] if driver else 12}]


def _jax_without_cuda(facts: Facts) -> list[Values]:
    jax = facts.ok("jax")
    if jax is None or not facts.system.gpus or any(not d.startswith("cpu") for d in jax.devices):
        return []
    driver = _version(facts.system.driver_cuda_version)
    extra = "cuda13" if driver is not None and driver[0] >= 13 else "cuda12"
    return [{"version": jax.version, "devices": ", ".join(jax.devices) or "no device", "extra": extra}]


def _tensorflow_no_gpu(facts: Facts, *, windows: bool) -> list[Values]:
    tf = facts.ok("tensorflow")
    if tf is None or any("GPU" in d for d in tf.devices):
        return []
    native = facts.system.platform.startswith("Windows")
    if native != windows or (not windows and not facts.system.gpus):
        return []
    return [{"version": tf.version, "build": tf.build}]


def _cupy_driver_too_old(facts: Facts) -> list[Values]:
    cupy, driver = facts.ok("cupy"), _version(facts.system.driver_cuda_version)
    wheel = _version(cupy.cuda_version) if cupy else None
    if cupy is None or wheel is None or driver is None or wheel <= driver:
        return []
    return [
        {
            "version": cupy.version,
            "cupy_cuda": cupy.cuda_version,
            "driver": facts.system.driver_version,
            "driver_cuda": facts.system.driver_cuda_version,
            "uninstall": " ".join(cupy.packages) or "cupy",
            "major": driver[0],
        }
    ]


def _import_failed(facts: Facts, status: str) -> list[Values]:
    return [
        {"name": p.name, "detail": p.detail, "package": p.name}
        for p in facts.frameworks.values()
        if p.status == status
    ]


def _wsl_without_gpu(facts: Facts) -> list[Values]:
    return [{}] if facts.system.is_wsl and not facts.system.nvidia_device_nodes else []


def _container_lacks_devices(facts: Facts) -> bool:
    system = facts.system
    return system.in_container and system.container_wants_gpu and not system.nvidia_device_nodes


def _container_without_devices(facts: Facts) -> list[Values]:
    return [{"wants": "set"}] if _container_lacks_devices(facts) else []


def _gpu_slower_than_cpu(facts: Facts) -> list[Values]:
    products = [t for t in facts.proof if t.operation == "matmul"]
    if not products:
        return []
    size = max(t.size for t in products)
    cpu = next((t for t in products if t.device == "cpu" and t.size == size), None)
    if cpu is None:
        return []
    return [
        {"device": t.device, "size": size, "ratio": cpu.time_s / t.time_s}
        for t in products
        if t.device != "cpu" and t.size == size and t.time_s > cpu.time_s
    ]


CHECKS: dict[str, Callable[[Facts], list[Values]]] = {
    "no_gpu": _no_gpu,
    "torch_cpu_wheel": _torch_cpu_wheel,
    "driver_too_old": _driver_too_old,
    "unsupported_compute_capability": _unsupported_compute_capability,
    "cuda_visible_devices_hides": _cuda_visible_devices_hides,
    "onnxruntime_both_packages": _onnxruntime_both_packages,
    "onnxruntime_cuda_fallback": _onnxruntime_cuda_fallback,
    "jax_without_cuda": _jax_without_cuda,
    "tensorflow_windows_native": lambda facts: _tensorflow_no_gpu(facts, windows=True),
    "tensorflow_cuda_libraries": lambda facts: _tensorflow_no_gpu(facts, windows=False),
    "cupy_driver_too_old": _cupy_driver_too_old,
    "framework_import_crashed": lambda facts: _import_failed(facts, "crashed"),
    "framework_import_hung": lambda facts: _import_failed(facts, "timeout"),
    "wsl_without_gpu": _wsl_without_gpu,
    "container_without_devices": _container_without_devices,
    "gpu_slower_than_cpu": _gpu_slower_than_cpu,
}


def diagnose(
    frameworks: Sequence[FrameworkProbe], system: SystemFacts, proof: Sequence[ProofTiming] = ()
) -> tuple[Finding, ...]:
    """Applies every rule of the table to the facts; returns the findings in the table's order."""
    wheels = load_packaged_toml("devicefit.diagnose", "rules.toml")["torch_wheels"]
    facts = Facts(
        frameworks={p.name: p for p in frameworks},
        system=system,
        proof=tuple(proof),
        wheels=tuple(wheels["cuda"]),
        default_wheel=wheels["default"],
    )
    findings = []
    for rule in load_rules():
        for values in CHECKS[rule["id"]](facts):
            findings.append(
                Finding(
                    rule=rule["id"],
                    symptom=rule["symptom"].format_map(values),
                    cause=rule["cause"].format_map(values),
                    fix=rule["fix"].format_map(values),
                    source=rule["source"],
                )
            )
    return tuple(findings)
