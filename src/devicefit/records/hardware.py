"""Records of hardware: local devices with their peaks, and catalog specs with their sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devicefit.records.vocabulary import DeviceClass, DeviceKind

#: The last-level cache assumed for a device that does not report one (bytes).
DEFAULT_CACHE_BYTES = 32 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class Peak:
    """A theoretical peak rate of one device for one dtype.

    Attributes:
        dtype: ``fp32``, ``tf32``, ``bf16``, ``fp16``, ``int8``...
        flops_per_s: Peak operations per second (a multiply-add counts 2).
        derivation: How the figure was obtained, readable by a person.
        source: ``derived`` (computed from device properties) or ``catalog:<id>``.
    """

    dtype: str
    flops_per_s: float
    derivation: str
    source: str = "derived"


@dataclass(frozen=True, slots=True, kw_only=True)
class CPUProperties:
    """What a CPU is, as far as deep learning cares."""

    model: str
    vendor: str
    architecture: str
    num_physical_cores: int
    num_logical_cpus: int
    num_threads: int
    isa_features: tuple[str, ...]
    torch_cpu_capability: str
    base_clock_hz: float | None
    max_clock_hz: float | None
    clock_source: str
    simd_fp32_lanes: int
    fma_units_per_core: int
    fma_units_source: str
    l1d_cache_bytes_per_core: int | None
    l2_cache_bytes_per_core: int | None
    l3_cache_bytes: int | None
    memory_bytes: int
    #: The core's microarchitecture as the catalog names it (``zen3``), from its CPUID; ``None``: unknown.
    microarchitecture: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUProperties:
    """What a CUDA or ROCm GPU is; the NVML fields are ``None`` where NVML is absent."""

    index: int
    name: str
    backend: Literal["cuda", "rocm"]
    memory_bytes: int
    num_multiprocessors: int
    compute_capability: str
    l2_cache_bytes: int | None = None
    runtime_version: str | None = None
    driver_version: str | None = None
    uuid: str | None = None
    sm_clock_max_hz: float | None = None
    memory_clock_max_hz: float | None = None
    memory_bus_width_bits: int | None = None
    power_limit_w: float | None = None
    pcie_generation_max: int | None = None
    pcie_width_max: int | None = None
    pcie_generation_current: int | None = None
    pcie_width_current: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchitectureSpec:
    """Per-multiprocessor rates of a GPU architecture, to derive peaks for GPUs not in the catalog.

    Attributes:
        id: ``hopper``, ``ampere``...
        vendor: ``nvidia`` or ``amd``.
        compute_capabilities: Compute capabilities (``9.0``) or gfx targets it covers.
        fp32_flops_per_clock_per_multiprocessor: Non-tensor FP32 FLOP per clock per SM/CU.
        matrix_flops_per_clock_per_multiprocessor: Dense tensor/matrix-unit FLOP per clock per
            SM/CU, by dtype.
        sources: Source keys of each figure, by field path.
    """

    id: str
    vendor: str
    compute_capabilities: tuple[str, ...]
    fp32_flops_per_clock_per_multiprocessor: float
    matrix_flops_per_clock_per_multiprocessor: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """Where catalog figures come from.

    Attributes:
        citation: The document, readable by a person.
        url: Where to find it, if online.
        trust: ``vendor``, ``vendor-via-third-party``, ``third-party``, ``derived``, or ``user``
            (a figure the user gave in their own catalog file).
    """

    citation: str
    url: str = ""
    trust: Literal["vendor", "vendor-via-third-party", "third-party", "derived", "user"] = "third-party"


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSpec:
    """Purchase and rental prices, each with its date."""

    list_usd: float | None = None
    list_date: str | None = None
    cloud_usd_per_hour: float | None = None
    cloud_date: str | None = None
    cloud_note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSpec:
    """A catalog device: datasheet figures, each with its sources (``sources[field] = keys``).

    Peaks are dense (no 2:4 sparsity); ``matrix_precisions`` says which of them run on tensor or
    matrix units.
    """

    id: str
    name: str
    vendor: str
    kind: DeviceClass
    architecture: str
    sources: dict[str, tuple[str, ...]]
    compute_capability: str | None = None
    isa: str | None = None
    aliases: tuple[str, ...] = ()
    launch_date: str | None = None
    memory_bytes: int | None = None
    memory_type: str | None = None
    bandwidth_bytes_per_s: float | None = None
    num_multiprocessors: int | None = None
    #: Separate devices one package exposes (MI250X: 2 GCDs); every figure of the entry is per device.
    num_devices_per_package: int | None = None
    boost_clock_hz: float | None = None
    tdp_w: float | None = None
    interconnect: str | None = None
    host_link_bytes_per_s: float | None = None
    matrix_precisions: tuple[str, ...] = ()
    peak_flops_per_s: dict[str, float] = field(default_factory=dict)
    price: PriceSpec | None = None
    #: A GPU's usual host CPU (a catalog CPU id): what launches its work in the systems its
    #: published results come from (a DGX's CPU).
    typical_host: str | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """A catalog interconnect that collectives cross (``catalog/links.toml``), with its sources.

    Attributes:
        id: Lowercase id (``nvlink3-nvswitch``, ``infiniband-hdr``).
        name: Readable name.
        kind: ``nvlink``, ``pcie``, ``infiniband`` or ``ethernet``.
        scope: ``node`` (between the GPUs of one machine) or ``network`` (between machines).
        peak_bytes_per_s: Per direction: per GPU for a node link, per adapter for a network link;
            ``None`` for ``pcie``, whose rate is each GPU's host link.
        bus_fraction: The share of the peak a large ring collective reaches as bus bandwidth
            (the ``nccl-tests`` convention).
        latency_s: The time of one ring step of a small message.
        sources: Source keys by field, as the device catalog's.
        devices: Catalog GPUs whose machines use this node link.
        gpus_per_node: GPUs one such machine holds.
        network: The network link between such machines (a ``network`` link's id).
        nics_per_node: Network adapters per machine that collectives use.
        notes: What a reader should know (assumptions, recalled figures).
    """

    id: str
    name: str
    kind: str
    scope: str
    bus_fraction: float
    latency_s: float
    sources: dict[str, tuple[str, ...]]
    peak_bytes_per_s: float | None = None
    devices: tuple[str, ...] = ()
    gpus_per_node: int | None = None
    network: str | None = None
    nics_per_node: int | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDescription:
    """One local compute device with its peak figures.

    Attributes:
        id: ``cpu``, ``cuda:0``, ``mps``, ``fake``.
        kind: The local backend that runs it.
        name: Marketing name as the driver reports it.
        vendor: Lowercase vendor name.
        memory_bytes: Memory the device can use (system RAM for CPUs).
        peaks: Peak FLOP/s by dtype, each with its derivation.
        peak_bandwidth_bytes_per_s: Peak memory bandwidth, ``None`` where it cannot be known.
        bandwidth_derivation: How the bandwidth figure was obtained, or why it is unknown.
        host_link_bytes_per_s: Peak host-to-device bandwidth per direction (GPUs).
        catalog_id: The matching hardware catalog entry, if any.
    """

    id: str
    kind: DeviceKind
    name: str
    vendor: str
    memory_bytes: int | None
    peaks: tuple[Peak, ...] = ()
    peak_bandwidth_bytes_per_s: float | None = None
    bandwidth_derivation: str = ""
    host_link_bytes_per_s: float | None = None
    catalog_id: str | None = None
    cpu: CPUProperties | None = None
    gpu: GPUProperties | None = None

    def peak_flops_per_s(self, dtype: str) -> float | None:
        """Returns the peak for ``dtype``, or ``None`` if it is not known."""
        return next((peak.flops_per_s for peak in self.peaks if peak.dtype == dtype), None)

    @property
    def last_level_cache_bytes(self) -> int:
        """The device's last-level cache (L3 of CPUs, L2 of GPUs), or a typical size when unknown."""
        if self.cpu and self.cpu.l3_cache_bytes:
            return self.cpu.l3_cache_bytes
        if self.gpu and self.gpu.l2_cache_bytes:
            return self.gpu.l2_cache_bytes
        return DEFAULT_CACHE_BYTES

    @property
    def cold_working_set_bytes(self) -> int:
        """Data a calibration case cycles through to be measured cold: twice the last-level cache.

        A case whose own data are this large runs cold as it is (it is not rotated).
        """
        return 2 * self.last_level_cache_bytes
