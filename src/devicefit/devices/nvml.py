"""NVIDIA Management Library access, behind one module so tests can patch it at this import site.

Every query degrades to ``None``: NVML may be missing (no NVIDIA driver, a ROCm machine, a
container without the library), or a field may be unsupported on a given board.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

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
        handle = None
        if uuid:
            key = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
            handle = _query(pynvml, pynvml.nvmlDeviceGetHandleByUUID, key)
        if handle is None:
            handle = _query(pynvml, pynvml.nvmlDeviceGetHandleByIndex, index)
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
