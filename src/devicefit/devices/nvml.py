"""NVIDIA Management Library access, behind one module so tests can patch it at this import site.

Every query degrades to ``None``: NVML may be missing (no NVIDIA driver, a ROCm machine, a
container without the library), or a field may be unsupported on a given board.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from devicefit.devices.energy import (
    DEFAULT_SAMPLE_PERIOD_S,
    Counter,
    CounterMeter,
    EnergyMeter,
    NoMeter,
    SampledMeter,
)
from devicefit.records import GPUFact, GPUSample

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class NVMLReading:
    """What NVML says about one GPU; ``None`` wherever the query is unsupported."""

    name: str | None = None
    driver_version: str | None = None
    sm_clock_max_hz: float | None = None
    memory_clock_max_hz: float | None = None
    memory_bus_width_bits: int | None = None
    power_limit_w: float | None = None
    pcie_generation_max: int | None = None
    pcie_width_max: int | None = None
    pcie_generation_current: int | None = None
    pcie_width_current: int | None = None


def _load() -> Any | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


@contextmanager
def _session(pynvml: Any) -> Iterator[bool]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        yield False
        return
    try:
        yield True
    finally:
        pynvml.nvmlShutdown()


def _query(pynvml: Any, call: Callable[..., T], *args: Any) -> T | None:
    try:
        return call(*args)
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _handle(pynvml: Any, uuid: str | None, index: int) -> Any | None:
    """The GPU's NVML handle, by UUID (stable when ``CUDA_VISIBLE_DEVICES`` reorders GPUs), else index."""
    handle = None
    if uuid:
        key = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
        handle = _query(pynvml, pynvml.nvmlDeviceGetHandleByUUID, key)
    if handle is None:
        handle = _query(pynvml, pynvml.nvmlDeviceGetHandleByIndex, index)
    return handle


def read_gpu(*, uuid: str | None, index: int) -> NVMLReading | None:
    """Reads one GPU's clocks, power limit, memory bus and PCIe link.

    Args:
        uuid: The GPU's UUID as PyTorch reports it (with or without the ``GPU-`` prefix); the
            reliable key when ``CUDA_VISIBLE_DEVICES`` reorders devices.
        index: The NVML index to fall back on when there is no UUID.

    Returns:
        The reading, or ``None`` if NVML is unavailable or the GPU is not found.
    """
    pynvml = _load()
    if pynvml is None:
        return None
    with _session(pynvml) as ready:
        if not ready:
            return None
        handle = _handle(pynvml, uuid, index)
        if handle is None:
            return None
        sm_mhz = _query(pynvml, pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM)
        memory_mhz = _query(pynvml, pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_MEM)
        power_mw = _query(pynvml, pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        return NVMLReading(
            name=_text(_query(pynvml, pynvml.nvmlDeviceGetName, handle)),
            driver_version=_text(_query(pynvml, pynvml.nvmlSystemGetDriverVersion)),
            sm_clock_max_hz=sm_mhz * 1e6 if sm_mhz else None,
            memory_clock_max_hz=memory_mhz * 1e6 if memory_mhz else None,
            memory_bus_width_bits=_query(pynvml, pynvml.nvmlDeviceGetMemoryBusWidth, handle),
            power_limit_w=power_mw / 1e3 if power_mw else None,
            pcie_generation_max=_query(pynvml, pynvml.nvmlDeviceGetMaxPcieLinkGeneration, handle),
            pcie_width_max=_query(pynvml, pynvml.nvmlDeviceGetMaxPcieLinkWidth, handle),
            pcie_generation_current=_query(pynvml, pynvml.nvmlDeviceGetCurrPcieLinkGeneration, handle),
            pcie_width_current=_query(pynvml, pynvml.nvmlDeviceGetCurrPcieLinkWidth, handle),
        )


def driver_version() -> str | None:
    """Returns the NVIDIA driver version, or ``None`` without NVML."""
    pynvml = _load()
    if pynvml is None:
        return None
    with _session(pynvml) as ready:
        return _text(_query(pynvml, pynvml.nvmlSystemGetDriverVersion)) if ready else None


def energy_meter(
    *, uuid: str | None, index: int, period_s: float = DEFAULT_SAMPLE_PERIOD_S, use_counter: bool = True
) -> EnergyMeter:
    """The GPU's energy meter: NVML's total energy counter, else sampled power, else why neither.

    The counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded) exists
    on Volta and later; older boards report power alone (``nvmlDeviceGetPowerUsage``, milliwatts),
    which is sampled. NVML stays initialized for the meter's life (its handle needs it); NVML counts
    initializations, so the short sessions of ``read_gpu`` do not end it.

    Args:
        uuid: The GPU's UUID, as for ``read_gpu``.
        index: The NVML index to fall back on.
        period_s: Time between power samples when there is no counter.
        use_counter: ``False`` samples power even where the counter exists (to compare the two).
    """
    pynvml = _load()
    if pynvml is None:
        return NoMeter("no meter: NVML's Python bindings (nvidia-ml-py) are not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return NoMeter(f"no meter: NVML did not start ({error})")
    handle = _handle(pynvml, uuid, index)
    if handle is None:
        return NoMeter(f"no meter: NVML does not find GPU {uuid or index}")
    note = "the whole board: every process on the GPU counts"
    if use_counter and _query(pynvml, pynvml.nvmlDeviceGetTotalEnergyConsumption, handle) is not None:
        # Millijoules: the counter's unit is its resolution.
        counter = Counter(
            name="gpu", read_j=lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) * 1e-3
        )
        return CounterMeter([counter], meter="NVML total energy counter", resolution_j=1e-3, note=note)
    if _query(pynvml, pynvml.nvmlDeviceGetPowerUsage, handle) is not None:
        return SampledMeter(
            lambda: pynvml.nvmlDeviceGetPowerUsage(handle) * 1e-3,
            meter="NVML power usage",
            period_s=period_s,
            resolution_w=1e-3,
        )
    return NoMeter("no meter: NVML reports neither energy nor power for this GPU (older than Kepler?)")


#: NVML's clock-limit bits (``nvmlClocksEventReason*`` in nvml.h) and the names devicefit gives them.
#: Idle and application-clock settings are left out: they say nothing about a busy job.
THROTTLE_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NVMLSystem:
    """The driver and its GPUs, as NVML lists them.

    Attributes:
        cuda_version: The newest CUDA the driver supports (``12.4``).
    """

    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[GPUFact, ...]


def read_system() -> NVMLSystem | None:
    """Reads the driver version, the CUDA version it supports and every GPU; ``None`` without NVML."""
    pynvml = _load()
    if pynvml is None:
        return None
    with _session(pynvml) as ready:
        if not ready:
            return None
        cuda = _query(pynvml, pynvml.nvmlSystemGetCudaDriverVersion)
        gpus = []
        for index in range(_query(pynvml, pynvml.nvmlDeviceGetCount) or 0):
            handle = _query(pynvml, pynvml.nvmlDeviceGetHandleByIndex, index)
            if handle is None:
                continue
            capability = _query(pynvml, pynvml.nvmlDeviceGetCudaComputeCapability, handle)
            memory = _query(pynvml, pynvml.nvmlDeviceGetMemoryInfo, handle)
            gpus.append(
                GPUFact(
                    index=index,
                    name=_text(_query(pynvml, pynvml.nvmlDeviceGetName, handle)) or f"GPU {index}",
                    vendor="nvidia",
                    compute_capability=f"{capability[0]}.{capability[1]}" if capability else None,
                    memory_total_bytes=int(memory.total) if memory is not None else None,
                )
            )
        return NVMLSystem(
            driver_version=_text(_query(pynvml, pynvml.nvmlSystemGetDriverVersion)),
            # NVML encodes CUDA 12.4 as 12040.
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            gpus=tuple(gpus),
        )


@contextmanager
def gpu_sampler() -> Iterator[Callable[[set[int]], tuple[GPUSample, ...]] | None]:
    """Opens NVML for a watch and yields a function sampling every GPU for a set of pids.

    Yields ``None`` without NVML. The function reads, per GPU: utilization, the memory the given
    processes hold (NVML's running compute and graphics processes), memory used and total, power
    and its limit, the SM clock and the active clock limits.
    """
    pynvml = _load()
    if pynvml is None:
        yield None
        return
    with _session(pynvml) as ready:
        if not ready:
            yield None
            return
        count = _query(pynvml, pynvml.nvmlDeviceGetCount) or 0
        handles = [_query(pynvml, pynvml.nvmlDeviceGetHandleByIndex, i) for i in range(count)]
        yield lambda pids: tuple(
            _sample_gpu(pynvml, index, handle, pids) for index, handle in enumerate(handles) if handle
        )


def _sample_gpu(pynvml: Any, index: int, handle: Any, pids: set[int]) -> GPUSample:
    utilization = _query(pynvml, pynvml.nvmlDeviceGetUtilizationRates, handle)
    memory = _query(pynvml, pynvml.nvmlDeviceGetMemoryInfo, handle)
    power_mw = _query(pynvml, pynvml.nvmlDeviceGetPowerUsage, handle)
    limit_mw = _query(pynvml, pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    sm_mhz = _query(pynvml, pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM)
    # Renamed "clocks event reasons" in recent bindings; the throttle name remains as an alias.
    reasons_call = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    reasons_call = reasons_call or pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
    reasons = _query(pynvml, reasons_call, handle) or 0
    return GPUSample(
        index=index,
        utilization_percent=float(utilization.gpu) if utilization is not None else None,
        tree_memory_bytes=_tree_memory(pynvml, handle, pids),
        memory_used_bytes=int(memory.used) if memory is not None else None,
        memory_total_bytes=int(memory.total) if memory is not None else None,
        power_w=power_mw / 1e3 if power_mw is not None else None,
        power_limit_w=limit_mw / 1e3 if limit_mw else None,
        sm_clock_hz=sm_mhz * 1e6 if sm_mhz is not None else None,
        throttle_reasons=tuple(name for bit, name in THROTTLE_REASONS.items() if reasons & bit),
    )


def _tree_memory(pynvml: Any, handle: Any, pids: set[int]) -> int | None:
    """Memory the processes ``pids`` hold on the GPU; ``None`` when NVML cannot list processes."""
    listed = False
    total = 0
    for call in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        processes = _query(pynvml, getattr(pynvml, call), handle)
        if processes is None:
            continue
        listed = True
        # usedGpuMemory is None where the driver hides it (Windows WDDM); the process still counts.
        total += sum(p.usedGpuMemory or 1 for p in processes if p.pid in pids)
    return total if listed else None
