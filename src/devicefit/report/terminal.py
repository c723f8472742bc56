"""Rich renderables for the terminal: devices, benchmark results, run history, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from devicefit.records import DeviceDescription, Result, Run, RunSummary
from devicefit.report.tables import Column, FittedTable, FoldedName
from devicefit.report.units import format_bytes, format_count, format_decimal, format_percent, format_value


def progress_bar(console: Console) -> Progress:
    """A progress bar showing the current case, how far the run is, and the time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("•"),
        TimeElapsedColumn(),
        TextColumn("• left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


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


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one family of results is pivoted into a table."""

    title: str
    benchmarks: frozenset[str]
    row: Callable[[Result], str]
    column: Callable[[Result], str]
    row_header: str
    #: A second column derived from each result (label, cell), where one figure is not enough.
    extra: Callable[[Result], tuple[str, Text]] | None = None


def _time_per_call(result: Result) -> tuple[str, Text]:
    return "time per call", Text(format_value(result.median_s, "s") if result.median_s else "")


_OVERHEAD_ROWS = {
    "launch": "torch.add on 1 element (launch on GPUs)",
    "recorded_op": "the same, recording an autograd node",
    "view": "Tensor.view (no kernel)",
    "module_call": "nn.Module call (Python)",
    "backward_op": "operator in backward (autograd engine)",
}


def _model_row(result: Result) -> str:
    flags = "".join(f", {flag}" for flag in result.flags)
    return f"{result.model} ({result.dtype}{flags})"


_LAYOUTS = (
    _Layout(
        "Matrix multiply, n x n x n",
        frozenset({"matmul"}),
        lambda r: r.dtype or "",
        lambda r: f"n={r.size}",
        "dtype",
    ),
    _Layout(
        "Memory bandwidth (STREAM), by array size",
        frozenset({"copy", "scale", "add", "triad"}),
        lambda r: format_bytes((r.bytes_per_iteration or 0) / {"copy": 2, "scale": 2}.get(r.benchmark, 3)),
        lambda r: r.benchmark,
        "array",
    ),
    _Layout(
        "Host-device transfer",
        frozenset({"h2d", "d2h"}),
        lambda r: format_bytes(r.size or 0),
        lambda r: f"{r.benchmark} {'pinned' if r.pinned else 'pageable'}",
        "size",
    ),
    _Layout(
        "Host overhead per call: what small operators and layers cost beyond their work",
        frozenset({"launch", "recorded_op", "view", "module_call", "backward_op"}),
        lambda r: _OVERHEAD_ROWS[r.benchmark],
        lambda r: "time per call",
        "call",
    ),
    _Layout(
        "Elementwise z = x * y, by problem size",
        frozenset({"elementwise"}),
        lambda r: format_count(r.size or 0),
        lambda r: "throughput",
        "elements",
        _time_per_call,
    ),
    _Layout(
        "CPU thread scaling",
        frozenset({"matmul_threads", "triad_threads"}),
        lambda r: str(r.num_threads),
        lambda r: "matmul fp32 n=1024" if r.benchmark == "matmul_threads" else "triad (DRAM)",
        "threads",
    ),
    _Layout(
        "conv2d 3x3, 64->64 channels, 56x56 (depthwise: 144 channels, one group each)",
        frozenset({"conv2d", "conv2d_depthwise"}),
        lambda r: f"{r.dtype} depthwise" if r.benchmark == "conv2d_depthwise" else r.dtype or "",
        lambda r: f"batch {r.size}",
        "dtype",
    ),
    _Layout(
        "Models: training step (forward, backward, optimizer) and inference (no-grad forward)",
        frozenset({"train_step", "inference"}),
        lambda r: f"{_model_row(r)} batch {r.batch_size}",
        lambda r: "training: samples/s, peak memory" if r.benchmark == "train_step" else "inference",
        "model",
    ),
    _Layout(
        "Largest training batch that fits",
        frozenset({"max_batch"}),
        _model_row,
        lambda r: "batch",
        "model",
    ),
)


def _cell(result: Result) -> Text:
    if result.status != "ok" or result.value is None:
        return Text(result.status, style="yellow" if result.status in ("skipped", "unsupported") else "red")
    if result.unit == "samples":
        return Text(f"{result.value:.0f}")
    text = Text(format_value(result.value, result.unit))
    if result.peak_memory_bytes is not None:
        text.append(f" {format_bytes(result.peak_memory_bytes)}", style="dim")
    if result.peak_fraction is not None:
        text.append(f" {format_percent(result.peak_fraction)}", style="dim")
    if result.warnings:
        text.append(" ~", style="magenta")
    return text


def render_results(results: Sequence[Result], run_id: int | None = None) -> RenderableType:
    """Results pivoted per device and benchmark family; ``~`` marks noisy measurements."""
    tables: list[RenderableType] = []
    for device in dict.fromkeys(r.device for r in results):
        for layout in _LAYOUTS:
            group = [r for r in results if r.device == device and r.benchmark in layout.benchmarks]
            if not group:
                continue
            cells = {(layout.row(r), layout.column(r)): _cell(r) for r in group}
            if layout.extra:
                cells.update({(layout.row(r), layout.extra(r)[0]): layout.extra(r)[1] for r in group})
            columns = list(dict.fromkeys(column for _, column in cells))
            rows = list(dict.fromkeys(layout.row(r) for r in group))
            # Every cell is a measurement: a narrow terminal wraps them between words, never drops one.
            table = FittedTable(
                [
                    Column(header=layout.row_header, style="cyan", wrap=True),
                    *(Column(header=column, justify="right", wrap=True) for column in columns),
                ],
                [(row, *(cells.get((row, column), Text("")) for column in columns)) for row in rows],
            )
            tables += [Text.from_markup(f"[bold]{device}[/] {layout.title}"), table]
    return Group(*tables, _footnote(results, run_id))


def _footnote(results: Sequence[Result], run_id: int | None) -> Text:
    details = f"'devicefit show {run_id if run_id is not None else 'RUN'} --details'"
    notes = Text("Percentages are of the device's theoretical peak. ", style="dim")
    noisy = sum(1 for r in results if r.warnings)
    if noisy:
        notes.append(f"~ {noisy} noisy result(s): see {details}. ", style="magenta")
    skipped = sum(1 for r in results if r.status == "skipped")
    if skipped:
        notes.append(
            f"{skipped} case(s) skipped: too slow for the time limit or too big for free memory. ",
            style="yellow",
        )
    failed = [r for r in results if r.status in ("oom", "error")]
    if failed:
        notes.append(f"{len(failed)} case(s) failed: see {details}.", style="red")
    return notes


def render_details(results: Sequence[Result]) -> RenderableType:
    """Every result with its full statistics; warnings and errors as numbered notes below.

    On a narrow terminal the repetition counts, the minimum and the CV are left out, in that order,
    before any figure would be cut; case ids wrap after a dot.
    """
    columns = [
        Column(header="case", style="cyan", wrap=True, min_width=16),
        Column(header="value", justify="right"),
        Column(header="median", justify="right"),
        Column(header="IQR", justify="right"),
        Column(header="min", justify="right", drop=2),
        Column(header="CV", justify="right", drop=1),
        Column(header="n x iters", justify="right", drop=3),
        Column(header="note", justify="right"),
    ]
    rows = []
    notes: list[Text] = []
    several_devices = len({r.device for r in results}) > 1
    for r in results:
        s = r.measurement.summary if r.measurement else None
        label = f"{r.device} {r.case_id}" if several_devices else r.case_id
        note = "; ".join(r.warnings) or r.error
        if note:
            notes.append(
                Text(
                    f"[{len(notes) + 1}] {r.device} {r.case_id}: {note}",
                    style="magenta" if r.warnings else "yellow",
                )
            )
        rows.append(
            (
                FoldedName(label),
                Text(format_value(r.value, r.unit)) if r.value is not None else _cell(r),
                format_value(s.median_s, "s") if s else "",
                format_percent(s.relative_iqr) if s else "",
                format_value(s.min_s, "s") if s else "",
                format_percent(s.cv) if s else "",
                f"{s.num_samples} x {r.measurement.iterations_per_sample}" if s and r.measurement else "",
                f"[{len(notes)}]" if note else "",
            )
        )
    return Group(FittedTable(columns, rows, title="Statistics per case"), *notes)


def render_run_header(run: Run) -> RenderableType:
    """Run identity, status, duration and environment."""
    env = run.environment
    duration = ""
    if run.ended_at:
        seconds = (
            datetime.fromisoformat(run.ended_at) - datetime.fromisoformat(run.started_at)
        ).total_seconds()
        duration = f" in {seconds:.0f} s"
    status = str(run.status)
    if run.status == "abandoned" and run.pid is not None:
        status = f"abandoned (process {run.pid} died without ending it)"
    lines = [
        f"[bold]run {run.run_id}[/] {status}{duration}, started {run.started_at}"
        + (f" — {run.label}" if run.label else ""),
        f"[dim]{run.command}[/]",
        f"[dim]{env.hostname}: {env.platform}, Python {env.python_version}, torch {env.torch_version}"
        + (f", CUDA {env.cuda_runtime_version}" if env.cuda_runtime_version else "")
        + (f", driver {env.nvidia_driver_version}" if env.nvidia_driver_version else "")
        + f", devicefit {env.devicefit_version}[/]",
    ]
    return Text.from_markup("\n".join(lines))


def render_runs(runs: Sequence[RunSummary]) -> RenderableType:
    """The history table, newest first; devices and the command wrap on a narrow terminal."""
    columns = [
        Column(header="run", justify="right"),
        Column(header="started"),
        Column(header="status"),
        Column(header="devices", wrap=True),
        Column(header="results", justify="right"),
        Column(header="command", wrap=True, min_width=20),
    ]
    styles = {
        "complete": "green",
        "interrupted": "yellow",
        "failed": "red",
        "abandoned": "red",
        "running": "cyan",
    }
    rows = [
        (
            str(run.run_id),
            run.started_at.replace("T", " ")[:19],
            # A running run may be another host's, whose process cannot be checked from here.
            Text(
                f"running on {run.hostname}" if run.status == "running" else run.status,
                style=styles[run.status],
            ),
            ", ".join(run.devices),
            str(run.num_results),
            run.label or run.command,
        )
        for run in runs
    ]
    return FittedTable(columns, rows)
