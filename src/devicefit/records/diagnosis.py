"""Records of ``doctor`` (what each framework sees, the system below, findings, proof) and ``watch``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a framework probe ended: it ran, the package is absent, the import crashed, or it hung.
ProbeStatus = Literal["ok", "missing", "crashed", "timeout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameworkProbe:
    """What one framework reports about itself, from a subprocess.

    Attributes:
        name: ``torch``, ``jax``, ``tensorflow``, ``cupy`` or ``onnxruntime``.
        status: How the probe ended.
        version: The package version (``None`` when not installed or the import failed).
        build: ``cpu``, ``cuda 12.4``, ``rocm 6.2`` or ``unknown``.
        cuda_version: The CUDA version the build targets (``12.4``), ``None`` for a CPU build.
        devices: The devices it sees, as it names them (``cuda:0 NVIDIA H100``, ``cpu``).
        gpu_works: A tiny operation ran on a GPU (``None``: not tried, for want of a GPU or a means).
        arch_list: The GPU architectures the wheel was compiled for (``sm_90``, ``compute_90``).
        packages: Installed distributions of the framework (both ``onnxruntime`` and ``onnxruntime-gpu``).
        providers: ONNX Runtime's available execution providers.
        detail: The error or the probe's note, one line.
    """

    name: str
    status: ProbeStatus
    version: str | None = None
    build: str = "unknown"
    cuda_version: str | None = None
    devices: tuple[str, ...] = ()
    gpu_works: bool | None = None
    arch_list: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUFact:
    """A GPU as the driver (NVML or ROCm SMI) lists it.

    Attributes:
        compute_capability: ``9.0`` (NVIDIA), ``None`` when unknown.
    """

    index: int
    name: str
    vendor: str
    compute_capability: str | None = None
    memory_total_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemFacts:
    """The system below the frameworks.

    Attributes:
        driver_version: The NVIDIA driver (``550.54.15``), ``None`` without NVML.
        driver_cuda_version: The newest CUDA the driver supports (``12.4``).
        gpus: GPUs the driver lists.
        cuda_visible_devices: The variable as set (``None``: unset).
        nvidia_device_nodes: ``/dev/nvidia*`` nodes exist (``/dev/dxg`` under WSL).
        is_wsl: Running under Windows Subsystem for Linux.
        in_container: Running in a container (Docker, Podman).
        container_wants_gpu: The container's image asks for GPUs (``NVIDIA_VISIBLE_DEVICES`` set).
        platform: ``Linux x86_64``, ``Windows AMD64``...
    """

    driver_version: str | None
    driver_cuda_version: str | None
    gpus: tuple[GPUFact, ...]
    cuda_visible_devices: str | None
    nvidia_device_nodes: bool
    is_wsl: bool
    in_container: bool
    container_wants_gpu: bool
    platform: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found, from the rule table: what shows, why, the fix, and where it is documented."""

    rule: str
    symptom: str
    cause: str
    fix: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProofTiming:
    """One timed operation of doctor's proof on one device.

    Attributes:
        device: ``cpu``, ``cuda:0``.
        operation: ``matmul`` (an n x n fp32 product) or ``copy`` (n fp32 elements).
        size: ``n``.
        time_s: Median time of one call.
        rate_per_s: FLOP/s for the product, bytes/s for the copy (read plus written).
    """

    device: str
    operation: str
    size: int
    time_s: float
    rate_per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorOutcome:
    """Everything doctor found; ``ok`` when it found no problem."""

    frameworks: tuple[FrameworkProbe, ...]
    system: SystemFacts
    findings: tuple[Finding, ...]
    proof: tuple[ProofTiming, ...]
    proof_note: str = ""

    @property
    def ok(self) -> bool:
        """No finding."""
        return not self.findings


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUSample:
    """One GPU at one instant; ``None`` wherever NVML does not say.

    Attributes:
        utilization_percent: Share of the last sample period some kernel ran (NVML's figure).
        tree_memory_bytes: Memory held by the watched process tree (``None``: NVML lists no processes).
        throttle_reasons: Active clock limits (``sw_power_cap``, ``hw_thermal_slowdown``...).
    """

    index: int
    utilization_percent: float | None = None
    tree_memory_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_hz: float | None = None
    throttle_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchSample:
    """The watched process tree and the machine at one instant.

    Attributes:
        elapsed_s: Since the watch began.
        cpu_percent: The tree's CPU time over the last period, in % of one core (200: two cores busy).
        core_percents: Each core's utilization (the whole machine).
        iowait_percent: Share of CPU time waiting for I/O (the whole machine; ``None`` where not visible).
        rss_bytes: Resident memory of the tree.
        read_bytes: Bytes the tree read from storage so far (``None`` where not permitted).
        num_processes: Processes in the tree.
    """

    elapsed_s: float
    cpu_percent: float
    core_percents: tuple[float, ...]
    iowait_percent: float | None
    rss_bytes: int
    read_bytes: int | None
    write_bytes: int | None
    num_processes: int
    gpus: tuple[GPUSample, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchFinding:
    """One line of a watch diagnosis: the conclusion and the numbers behind it."""

    finding: str
    evidence: str
    problem: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRate:
    """The job's measured step rate beside devicefit's prediction for the device it ran on.

    Attributes:
        num_steps: Steps counted (from the job's output, or as given).
        measured_step_s: Measured time per step.
        predicted_step_s: devicefit's prediction (``None`` without ``--model``).
        device: The device predicted.
    """

    num_steps: int
    measured_step_s: float
    predicted_step_s: float | None = None
    device: str | None = None
    model: str | None = None
    batch_size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchOutcome:
    """A finished (or interrupted) watch session.

    Attributes:
        session_id: The stored run.
        status: ``complete``, ``interrupted`` (Ctrl-C) or ``failed`` (the command could not start).
        command: What was watched (the command line, or ``pid N``).
        exit_code: The command's exit status (``None`` when attached with ``--pid`` or killed).
        num_cores: Logical cores of the machine.
        gpu_used: Some sample saw the tree hold GPU memory.
    """

    session_id: int
    status: str
    command: str
    duration_s: float
    interval_s: float
    samples: tuple[WatchSample, ...]
    gpu_used: bool
    diagnosis: tuple[WatchFinding, ...]
    num_cores: int
    exit_code: int | None = None
    step_rate: StepRate | None = None
