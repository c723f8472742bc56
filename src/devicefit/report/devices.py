"""Local devices in the terminal: what each is, its peaks and their derivations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table

from devicefit.records import DeviceDescription
from devicefit.report.units import format_bytes, format_decimal


def _clock(hz: float | None) -> str:
    return f"{hz / 1e9:.3g} GHz" if hz else "unknown"


def _cpu_rows(device: DeviceDescription) -> Iterable[tuple[str, str]]:
    cpu = device.cpu
    assert cpu is not None
    yield (
        "cores",
        f"{cpu.num_physical_cores} physical, {cpu.num_logical_cpus} logical; "
        f"torch uses {cpu.num_threads} threads",
    )
    yield "ISA for DL", " ".join(cpu.isa_features) or "none detected"
    yield "torch CPU kernels", cpu.torch_cpu_capability
    yield "clock", f"base {_clock(cpu.base_clock_hz)}, max {_clock(cpu.max_clock_hz)}"
    caches = [
        f"L1d {format_bytes(cpu.l1d_cache_bytes_per_core)}/core" if cpu.l1d_cache_bytes_per_core else "",
        f"L2 {format_bytes(cpu.l2_cache_bytes_per_core)}/core" if cpu.l2_cache_bytes_per_core else "",
        f"L3 {format_bytes(cpu.l3_cache_bytes)}" if cpu.l3_cache_bytes else "",
    ]
    yield "caches", ", ".join(c for c in caches if c) or "unknown"
    yield (
        "SIMD",
        f"{cpu.simd_fp32_lanes} fp32 lanes x {cpu.fma_units_per_core} FMA units ({cpu.fma_units_source})",
    )


def _gpu_rows(device: DeviceDescription) -> Iterable[tuple[str, str]]:
    gpu = device.gpu
    assert gpu is not None
    yield "multiprocessors", f"{gpu.num_multiprocessors}, compute capability {gpu.compute_capability}"
    if gpu.l2_cache_bytes:
        yield "L2 cache", format_bytes(gpu.l2_cache_bytes)
    yield "max clocks", f"SM {_clock(gpu.sm_clock_max_hz)}, memory {_clock(gpu.memory_clock_max_hz)}"
    if gpu.memory_bus_width_bits:
        yield "memory bus", f"{gpu.memory_bus_width_bits} bit"
    if gpu.power_limit_w:
        yield "power limit", f"{gpu.power_limit_w:.0f} W"
    if gpu.pcie_generation_max:
        yield (
            "PCIe",
            (
                f"gen {gpu.pcie_generation_max} x{gpu.pcie_width_max} max, "
                f"gen {gpu.pcie_generation_current} x{gpu.pcie_width_current} now"
            ),
        )
    runtime = "ROCm" if gpu.backend == "rocm" else "CUDA"
    yield (
        "versions",
        f"{runtime} {gpu.runtime_version or '?'}, driver {gpu.driver_version or 'unknown (no NVML)'}",
    )


def render_device(device: DeviceDescription) -> RenderableType:
    """One device: what it is and its peaks, each with its derivation."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_header=False,
        title=f"[bold]{device.id}[/] {device.name}",
        title_justify="left",
        expand=False,
        pad_edge=False,
    )
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("kind", f"{device.kind} ({device.vendor})")
    if device.memory_bytes:
        table.add_row("memory", format_bytes(device.memory_bytes))
    rows = _cpu_rows(device) if device.cpu else _gpu_rows(device) if device.gpu else ()
    for name, value in rows:
        table.add_row(name, value)
    for peak in device.peaks:
        table.add_row(
            f"peak {peak.dtype}", f"[bold]{format_decimal(peak.flops_per_s, 'FLOP/s')}[/] = {peak.derivation}"
        )
    if not device.peaks:
        table.add_row("peak FLOP/s", "unknown")
    bandwidth = device.peak_bandwidth_bytes_per_s
    table.add_row(
        "peak bandwidth",
        f"[bold]{format_decimal(bandwidth, 'B/s')}[/] = {device.bandwidth_derivation}"
        if bandwidth
        else device.bandwidth_derivation,
    )
    if device.host_link_bytes_per_s:
        table.add_row("host link", f"{format_decimal(device.host_link_bytes_per_s, 'B/s')} per direction")
    if device.catalog_id:
        table.add_row("catalog", device.catalog_id)
    return table


def render_devices(devices: Sequence[DeviceDescription]) -> RenderableType:
    """Every device, one table each."""
    return Group(*(render_device(d) for d in devices))
