"""CUDA and ROCm GPUs through ``torch.cuda``: properties, derived peaks, and ``CUDADevice``.

This is the only module that synchronizes a CUDA device. The arithmetic (bandwidth from the
memory clock, PCIe rates, peaks from the multiprocessor count) lives in small pure functions
that the tests drive with recorded property values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devicefit.devices.energy import EnergyMeter
from devicefit.devices.nvml import NVMLReading
from devicefit.records import DeviceDescription, DeviceKind, GPUProperties, Peak

if TYPE_CHECKING:
    from devicefit.catalog import Catalog
    from devicefit.records import ArchitectureSpec

#: PCIe transfer rate per lane (GT/s) and encoding efficiency by generation (PCI-SIG base
#: specifications: 8b/10b for gen 1-2, 128b/130b for gen 3-5, 242B/256B FLIT payload for gen 6).
PCIE_LANE_RATE = {
    1: (2.5e9, 8 / 10),
    2: (5.0e9, 8 / 10),
    3: (8.0e9, 128 / 130),
    4: (16.0e9, 128 / 130),
    5: (32.0e9, 128 / 130),
    6: (64.0e9, 242 / 256),
}


def pcie_bytes_per_s(generation: int | None, width: int | None) -> float | None:
    """Returns the per-direction payload rate of a PCIe link, or ``None`` if unknown.

    Args:
        generation: PCIe generation (1-6).
        width: Number of lanes.
    """
    if not generation or not width or generation not in PCIE_LANE_RATE:
        return None
    transfers_per_s, efficiency = PCIE_LANE_RATE[generation]
    return transfers_per_s * efficiency * width / 8


def memory_bandwidth(memory_clock_hz: float | None, bus_width_bits: int | None) -> float | None:
    """Peak DRAM bandwidth from NVML's maximum memory clock and bus width.

    NVML reports the clock of the memory interface, which moves data on both edges, so the
    peak is ``clock x 2 x bus width / 8`` bytes per second (H100 SXM: 2619 MHz x 2 x 5120 bit / 8
    = 3.35 TB/s, as on its datasheet).
    """
    if not memory_clock_hz or not bus_width_bits:
        return None
    return memory_clock_hz * 2 * bus_width_bits / 8


def gpu_properties(
    torch_props: Any, *, index: int, backend: str, runtime_version: str | None, nvml: NVMLReading | None
) -> GPUProperties:
    """Combines ``torch.cuda.get_device_properties`` with an NVML reading.

    Args:
        torch_props: The object PyTorch returns (or a stand-in with the same attributes).
        index: The torch device index.
        backend: ``cuda`` or ``rocm``.
        runtime_version: ``torch.version.cuda`` or ``torch.version.hip``.
        nvml: The NVML reading, or ``None`` without NVML.
    """
    nvml = nvml or NVMLReading()
    clock_khz = getattr(torch_props, "clock_rate", None)
    memory_clock_khz = getattr(torch_props, "memory_clock_rate", None)
    if backend == "rocm":
        capability = getattr(torch_props, "gcnArchName", "") or f"{torch_props.major}.{torch_props.minor}"
    else:
        capability = f"{torch_props.major}.{torch_props.minor}"
    uuid = getattr(torch_props, "uuid", None)
    return GPUProperties(
        index=index,
        name=torch_props.name,
        backend="rocm" if backend == "rocm" else "cuda",
        memory_bytes=int(torch_props.total_memory),
        num_multiprocessors=int(torch_props.multi_processor_count),
        compute_capability=capability.split(":")[0],
        l2_cache_bytes=getattr(torch_props, "L2_cache_size", None) or None,
        runtime_version=runtime_version,
        driver_version=nvml.driver_version,
        uuid=str(uuid) if uuid is not None else None,
        sm_clock_max_hz=nvml.sm_clock_max_hz or (clock_khz * 1e3 if clock_khz else None),
        memory_clock_max_hz=nvml.memory_clock_max_hz
        or (memory_clock_khz * 1e3 if memory_clock_khz else None),
        memory_bus_width_bits=nvml.memory_bus_width_bits
        or getattr(torch_props, "memory_bus_width", None)
        or None,
        power_limit_w=nvml.power_limit_w,
        pcie_generation_max=nvml.pcie_generation_max,
        pcie_width_max=nvml.pcie_width_max,
        pcie_generation_current=nvml.pcie_generation_current,
        pcie_width_current=nvml.pcie_width_current,
    )


def derive_gpu_peaks(props: GPUProperties, architecture: ArchitectureSpec | None) -> tuple[Peak, ...]:
    """Derives peak FLOP/s by dtype: multiprocessors x FLOP per clock per multiprocessor x clock.

    Args:
        props: The probed GPU.
        architecture: Per-multiprocessor rates of its architecture (from the catalog), if known.

    Returns:
        The derivable peaks; empty without an architecture entry or a clock.
    """
    if architecture is None or not props.sm_clock_max_hz:
        return ()
    clock_ghz = props.sm_clock_max_hz / 1e9
    rates: dict[str, float] = {"fp32": architecture.fp32_flops_per_clock_per_multiprocessor}
    rates.update(architecture.matrix_flops_per_clock_per_multiprocessor)
    return tuple(
        Peak(
            dtype=dtype,
            flops_per_s=props.num_multiprocessors * per_clock * props.sm_clock_max_hz,
            derivation=(
                f"{props.num_multiprocessors} SMs x {per_clock:g} FLOP/clock/SM "
                f"({architecture.id}) x {clock_ghz:.3g} GHz max SM clock"
            ),
        )
        for dtype, per_clock in rates.items()
    )


def gpu_description(
    props: GPUProperties, architectures: Callable[[str], ArchitectureSpec | None]
) -> DeviceDescription:
    """Builds the device record of a probed GPU.

    Args:
        props: The probed GPU.
        architectures: Looks up an architecture by compute capability (or gfx target).
    """
    bandwidth = memory_bandwidth(props.memory_clock_max_hz, props.memory_bus_width_bits)
    if bandwidth and props.memory_clock_max_hz:
        derivation = (
            f"{props.memory_clock_max_hz / 1e6:.0f} MHz max memory clock x 2 (double data rate) "
            f"x {props.memory_bus_width_bits}-bit bus / 8"
        )
    else:
        derivation = "unknown: NVML gave no memory clock or bus width"
    return DeviceDescription(
        id=f"cuda:{props.index}",
        kind="cuda",
        name=props.name,
        vendor="amd" if props.backend == "rocm" else "nvidia",
        memory_bytes=props.memory_bytes,
        peaks=derive_gpu_peaks(props, architectures(props.compute_capability)),
        peak_bandwidth_bytes_per_s=bandwidth,
        bandwidth_derivation=derivation,
        host_link_bytes_per_s=pcie_bytes_per_s(props.pcie_generation_max, props.pcie_width_max),
        gpu=props,
    )


class CUDADevice:
    """One ``torch.cuda`` device (NVIDIA CUDA or AMD ROCm).

    Args:
        index: The torch device index.
        catalog: Where the architecture's per-multiprocessor rates come from; the packaged one
            (plus the user's files) when ``None``.
        link: Adds catalog figures to the probed description (discovery passes it).
    """

    kind: DeviceKind = "cuda"

    def __init__(
        self,
        index: int,
        *,
        catalog: Catalog | None = None,
        link: Callable[[DeviceDescription], DeviceDescription] | None = None,
    ) -> None:
        self.index = index
        self.id = f"cuda:{index}"
        self.torch_device = f"cuda:{index}"
        self._catalog = catalog
        self._link = link
        self._description: DeviceDescription | None = None
        self._meter: EnergyMeter | None = None

    def synchronize(self) -> None:
        """Blocks until every kernel queued on this GPU has finished."""
        import torch

        torch.cuda.synchronize(self.index)

    def now_s(self) -> float:
        """Returns ``time.perf_counter()``; read it only after ``synchronize``."""
        return time.perf_counter()

    def available_memory_bytes(self) -> int | None:
        """Returns free device memory plus what the caching allocator holds unused."""
        import torch

        free, _total = torch.cuda.mem_get_info(self.index)
        cached = torch.cuda.memory_reserved(self.index) - torch.cuda.memory_allocated(self.index)
        return int(free + cached)

    def release_memory(self) -> None:
        """Returns cached blocks to the driver."""
        import torch

        torch.cuda.empty_cache()

    def step_peak_bytes(self, fn: Callable[[], object]) -> int | None:
        """Peak growth of the caching allocator's allocated bytes during ``fn`` (its own statistics)."""
        import torch

        self.synchronize()
        torch.cuda.reset_peak_memory_stats(self.index)
        before = torch.cuda.memory_allocated(self.index)
        fn()
        self.synchronize()
        return int(torch.cuda.max_memory_allocated(self.index) - before)

    def properties(self) -> DeviceDescription:
        """Probes the GPU once (torch and NVML) and returns its description."""
        if self._description is None:
            from devicefit.catalog import load_catalog

            catalog = self._catalog or load_catalog()
            described = gpu_description(self._probe(), catalog.architecture)
            self._description = self._link(described) if self._link else described
        return self._description

    def energy_meter(self) -> EnergyMeter:
        """NVML's energy counter or sampled power on NVIDIA GPUs, ``amdsmi``'s counter on AMD ones."""
        if self._meter is None:
            from devicefit.devices import amdsmi, nvml

            gpu = self.properties().gpu
            if gpu is not None and gpu.backend == "rocm":
                self._meter = amdsmi.energy_meter(self.index)
            else:
                self._meter = nvml.energy_meter(uuid=gpu.uuid if gpu else None, index=self.index)
        return self._meter

    def _probe(self) -> GPUProperties:
        import torch

        from devicefit.devices import nvml

        torch_props = torch.cuda.get_device_properties(self.index)
        backend = "rocm" if torch.version.hip else "cuda"
        reading = None
        if backend == "cuda":
            reading = nvml.read_gpu(uuid=_uuid_text(torch_props), index=self.index)
        return gpu_properties(
            torch_props,
            index=self.index,
            backend=backend,
            runtime_version=torch.version.hip or torch.version.cuda,
            nvml=reading,
        )


def _uuid_text(torch_props: Any) -> str | None:
    uuid = getattr(torch_props, "uuid", None)
    return str(uuid) if uuid is not None else None
