"""The host CPU: its properties, its theoretical peak FLOP/s with the derivation, and ``CPUDevice``."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from devicefit.catalog.cores import core_table, microarchitecture, select_core
from devicefit.devices.energy import EnergyMeter
from devicefit.devices.rapl import rapl_meter
from devicefit.records import CPUProperties, DeviceDescription, DeviceKind, Peak

#: Instruction-set features worth showing for deep learning, in display order (Linux flag names).
DL_FEATURES = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "asimd",
    "asimdhp",
    "asimddp",
    "bf16",
    "i8mm",
    "sve",
    "sve2",
    "sme",
)

#: Intel AMX: per core and cycle, 1024 BF16 or 2048 INT8 operations (Intel, "Accelerate Artificial
#: Intelligence Workloads with Intel Advanced Matrix Extensions", 2023, Table 1).
AMX_BF16_FLOP_PER_CYCLE = 1024
AMX_INT8_OPS_PER_CYCLE = 2048


def normalize_feature(flag: str) -> str:
    """Maps cpuinfo's flag spellings (``avx512vnni``) onto Linux's (``avx512_vnni``)."""
    flag = flag.lower()
    aliases = {
        "avx512vnni": "avx512_vnni",
        "avx512bf16": "avx512_bf16",
        "avx512fp16": "avx512_fp16",
        "avxvnni": "avx_vnni",
        "amxbf16": "amx_bf16",
        "amxint8": "amx_int8",
        "amxtile": "amx_tile",
        "amxfp16": "amx_fp16",
        "neon": "asimd",
    }
    return aliases.get(flag, flag)


def derive_cpu_peaks(props: CPUProperties) -> tuple[Peak, ...]:
    """Derives theoretical peak FLOP/s by dtype: cores x lanes x FMA units x 2 x clock.

    Low-precision peaks appear only where the CPU has native instructions for them; without them
    PyTorch converts to fp32 and the fp32 peak is the ceiling.

    Args:
        props: The probed CPU.

    Returns:
        One ``Peak`` per dtype the derivation covers; empty if the clock is unknown.
    """
    clock_hz = props.max_clock_hz or props.base_clock_hz
    if not clock_hz:
        return ()
    cores = props.num_physical_cores
    lanes = props.simd_fp32_lanes
    units = props.fma_units_per_core
    fp32 = cores * lanes * units * 2 * clock_hz
    clock_text = f"{clock_hz / 1e9:.3g} GHz ({props.clock_source})"
    fp32_text = f"{cores} cores x {lanes} fp32 lanes x {units} FMA units x 2 FLOP/FMA x {clock_text}"
    peaks = [
        Peak(dtype="fp32", flops_per_s=fp32, derivation=fp32_text),
        Peak(dtype="fp64", flops_per_s=fp32 / 2, derivation="half the fp32 rate (64-bit lanes)"),
    ]
    features = set(props.isa_features)
    if "amx_bf16" in features:
        peaks.append(
            Peak(
                dtype="bf16",
                flops_per_s=cores * AMX_BF16_FLOP_PER_CYCLE * clock_hz,
                derivation=f"{cores} cores x {AMX_BF16_FLOP_PER_CYCLE} FLOP/cycle (AMX) x {clock_text}",
            )
        )
    elif "avx512_bf16" in features:
        peaks.append(
            Peak(dtype="bf16", flops_per_s=2 * fp32, derivation="2x fp32 (AVX512-BF16 dot products)")
        )
    if "amx_fp16" in features:
        peaks.append(
            Peak(
                dtype="fp16",
                flops_per_s=cores * AMX_BF16_FLOP_PER_CYCLE * clock_hz,
                derivation=f"{cores} cores x {AMX_BF16_FLOP_PER_CYCLE} FLOP/cycle (AMX-FP16) x {clock_text}",
            )
        )
    elif "avx512_fp16" in features or "asimdhp" in features:
        peaks.append(
            Peak(dtype="fp16", flops_per_s=2 * fp32, derivation="2x fp32 (native fp16 FMA, twice the lanes)")
        )
    if "amx_int8" in features:
        peaks.append(
            Peak(
                dtype="int8",
                flops_per_s=cores * AMX_INT8_OPS_PER_CYCLE * clock_hz,
                derivation=f"{cores} cores x {AMX_INT8_OPS_PER_CYCLE} OP/cycle (AMX) x {clock_text}",
            )
        )
    elif features & {"avx512_vnni", "avx_vnni", "asimddp"}:
        peaks.append(
            Peak(dtype="int8", flops_per_s=4 * fp32, derivation="4x fp32 (int8 dot products, 4 per lane)")
        )
    return tuple(peaks)


def read_cache_sizes(sysfs_cpu: Path = Path("/sys/devices/system/cpu")) -> dict[str, int]:
    """Reads L1d and L2 size per core and total L3 from Linux sysfs; empty where unreadable.

    Returns:
        Keys ``l1d``, ``l2`` (bytes per core) and ``l3`` (bytes, all instances together).
    """
    sizes: dict[str, int] = {}
    l3_instances: dict[str, int] = {}
    for index in sorted(sysfs_cpu.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text().strip())
            shared = (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        if level == "1" and kind == "Data":
            sizes.setdefault("l1d", size)
        elif level == "2":
            sizes.setdefault("l2", size)
        elif level == "3":
            l3_instances[shared] = size
    if l3_instances:
        sizes["l3"] = sum(l3_instances.values())
    return sizes


def _parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def probe_cpu(num_threads: int, cpu_info: Mapping[str, Any] | None = None) -> CPUProperties:
    """Collects the CPU's properties from py-cpuinfo, psutil and sysfs.

    Args:
        num_threads: Threads PyTorch uses for intra-op parallelism.
        cpu_info: A ``cpuinfo.get_cpu_info()`` dict; probed (once per boot) when ``None``.
    """
    import psutil

    if cpu_info is None:
        from devicefit.devices.probe_cache import cpu_info as cached_cpu_info

        cpu_info = cached_cpu_info()
    features = tuple(sorted({normalize_feature(f) for f in cpu_info.get("flags", ())}))
    ordered = tuple(f for f in DL_FEATURES if f in features)
    brand = cpu_info.get("brand_raw") or platform.processor() or "unknown CPU"
    vendor = cpu_info.get("vendor_id_raw", "")
    core = select_core(
        vendor=vendor,
        family=cpu_info.get("family"),
        model=cpu_info.get("model"),
        brand=brand,
        features=features,
        table=core_table(),
    )
    max_clock_hz, base_clock_hz, clock_source = _clocks(cpu_info, psutil.cpu_freq())
    caches = read_cache_sizes()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    return CPUProperties(
        model=brand,
        vendor=_vendor_name(vendor, brand),
        architecture=platform.machine(),
        num_physical_cores=psutil.cpu_count(logical=False) or logical,
        num_logical_cpus=logical,
        num_threads=num_threads,
        isa_features=ordered,
        torch_cpu_capability=_torch_cpu_capability(),
        base_clock_hz=base_clock_hz,
        max_clock_hz=max_clock_hz,
        clock_source=clock_source,
        simd_fp32_lanes=core.fma_width_bits // 32,
        fma_units_per_core=core.fma_units,
        fma_units_source=f"{core.name}: {core.source}",
        l1d_cache_bytes_per_core=caches.get("l1d") or _int_or_none(cpu_info.get("l1_data_cache_size")),
        l2_cache_bytes_per_core=caches.get("l2"),
        l3_cache_bytes=caches.get("l3") or _int_or_none(cpu_info.get("l3_cache_size")),
        memory_bytes=psutil.virtual_memory().total,
        microarchitecture=microarchitecture(
            vendor=vendor, family=cpu_info.get("family"), model=cpu_info.get("model")
        ),
    )


def _clocks(cpu_info: Mapping[str, Any], freq: Any) -> tuple[float | None, float | None, str]:
    advertised = cpu_info.get("hz_advertised") or cpu_info.get("hz_actual")
    base_hz = float(advertised[0]) if advertised and advertised[0] else None
    if freq is not None and freq.max:
        return freq.max * 1e6, base_hz, "maximum clock from cpufreq"
    return (
        None,
        base_hz,
        "nominal clock; the boost clock is not visible here, so measured rates may exceed the peak",
    )


def _vendor_name(vendor_id: str, brand: str) -> str:
    names = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
    if vendor_id in names:
        return names[vendor_id]
    return "apple" if brand.startswith("Apple") else (vendor_id.lower() or "unknown")


def _torch_cpu_capability() -> str:
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    # Kineto, the profiler's native library, writes lines to file descriptor 2 at every session
    # start and stop, whatever its log level; a benchmark run would print them for every case.
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profiled_peak_bytes(fn: Callable[[], object]) -> int:
    """Runs ``fn`` under PyTorch's profiler and returns the peak of the running sum of CPU allocations."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = prof.profiler.kineto_results.events()
    events = [e for e in events if e.name() == "[memory]" and e.device_type() == DeviceType.CPU]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def cpu_description(props: CPUProperties) -> DeviceDescription:
    """Builds the device record of a probed CPU (bandwidth unknown until matched to a catalog entry)."""
    return DeviceDescription(
        id="cpu",
        kind="cpu",
        name=props.model,
        vendor=props.vendor,
        memory_bytes=props.memory_bytes,
        peaks=derive_cpu_peaks(props),
        peak_bandwidth_bytes_per_s=None,
        bandwidth_derivation="unknown: memory channels and transfer rate are not visible to devicefit",
        cpu=props,
    )


class CPUDevice:
    """The host CPU as a measurement target; synchronization is a no-op.

    Args:
        probe: Describes the CPU; probes this machine's when ``None``.
        link: Adds catalog figures to the probed description (discovery passes it).
    """

    id = "cpu"
    kind: DeviceKind = "cpu"
    torch_device = "cpu"

    def __init__(
        self,
        probe: Callable[[], DeviceDescription] | None = None,
        *,
        link: Callable[[DeviceDescription], DeviceDescription] | None = None,
    ) -> None:
        self._probe = probe or self._probe_local
        self._link = link
        self._description: DeviceDescription | None = None
        self._meter: EnergyMeter | None = None

    def synchronize(self) -> None:
        """CPU work is synchronous: nothing to wait for."""

    def now_s(self) -> float:
        """Returns ``time.perf_counter()``."""
        return time.perf_counter()

    def available_memory_bytes(self) -> int | None:
        """Returns the memory the OS reports as available."""
        import psutil

        return int(psutil.virtual_memory().available)

    def release_memory(self) -> None:
        """The CPU allocator returns freed memory by itself."""

    def step_peak_bytes(self, fn: Callable[[], object]) -> int | None:
        """Peak allocation growth during ``fn``, from the CPU allocator's events in PyTorch's profiler.

        PyTorch keeps no peak statistic for its CPU allocator, but the profiler receives every
        allocation and release it makes (``profile_memory=True``); their running sum is the growth.
        Releases of blocks allocated before ``fn`` are not reported, so free what ``fn`` would free
        first (``zero_grad``) for an exact figure.
        """
        return profiled_peak_bytes(fn)

    def properties(self) -> DeviceDescription:
        """Probes the CPU once and returns its description."""
        if self._description is None:
            described = self._probe()
            self._description = self._link(described) if self._link else described
        return self._description

    def energy_meter(self) -> EnergyMeter:
        """The RAPL counters of the CPU's packages and DRAM (``devices/rapl.py``), or why there are none."""
        if self._meter is None:
            self._meter = rapl_meter()
        return self._meter

    @staticmethod
    def _probe_local() -> DeviceDescription:
        import torch

        return cpu_description(probe_cpu(torch.get_num_threads()))
