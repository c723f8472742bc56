"""Benchmark results in the terminal: pivoted per family, the statistics per case, and the run header."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.text import Text

from devicefit.records import Result, Run
from devicefit.records.vocabulary import COMM_BENCHMARKS, HOST_LINK_BENCHMARKS, STREAM_KERNELS, Benchmark
from devicefit.report.tables import Column, FittedTable, FoldedName
from devicefit.report.units import (
    format_bytes,
    format_count,
    format_decimal,
    format_percent,
    format_small,
    format_value,
)


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
    Benchmark.LAUNCH: "torch.add on 1 element (launch on GPUs)",
    Benchmark.RECORDED_OP: "the same, recording an autograd node",
    Benchmark.VIEW: "Tensor.view (no kernel)",
    Benchmark.MODULE_CALL: "nn.Module call (Python)",
    Benchmark.BACKWARD_OP: "operator in backward (autograd engine)",
}
#: Arrays of one size a STREAM kernel touches per element (read plus written): 3 unless given.
_STREAM_ARRAYS = {Benchmark.COPY: 2, Benchmark.SCALE: 2}


def _model_row(result: Result) -> str:
    flags = "".join(f", {flag}" for flag in result.flags)
    return f"{result.model} ({result.dtype}{flags})"


_LAYOUTS = (
    _Layout(
        "Matrix multiply, n x n x n",
        frozenset({Benchmark.MATMUL}),
        lambda r: r.dtype or "",
        lambda r: f"n={r.size}",
        "dtype",
    ),
    _Layout(
        "Memory bandwidth (STREAM), by array size",
        frozenset(STREAM_KERNELS),
        lambda r: format_bytes((r.bytes_per_iteration or 0) / _STREAM_ARRAYS.get(r.benchmark, 3)),
        lambda r: r.benchmark,
        "array",
    ),
    _Layout(
        "Host-device transfer",
        frozenset(HOST_LINK_BENCHMARKS),
        lambda r: format_bytes(r.size or 0),
        lambda r: f"{r.benchmark} {'pinned' if r.pinned else 'pageable'}",
        "size",
    ),
    _Layout(
        "Host overhead per call: what small operators and layers cost beyond their work",
        frozenset(_OVERHEAD_ROWS),
        lambda r: _OVERHEAD_ROWS[r.benchmark],
        lambda r: "time per call",
        "call",
    ),
    _Layout(
        "Elementwise z = x * y, by problem size",
        frozenset({Benchmark.ELEMENTWISE}),
        lambda r: format_count(r.size or 0),
        lambda r: "throughput",
        "elements",
        _time_per_call,
    ),
    _Layout(
        "CPU thread scaling",
        frozenset({Benchmark.MATMUL_THREADS, Benchmark.TRIAD_THREADS}),
        lambda r: str(r.num_threads),
        lambda r: "matmul fp32 n=1024" if r.benchmark == Benchmark.MATMUL_THREADS else "triad (DRAM)",
        "threads",
    ),
    _Layout(
        "conv2d 3x3, 64->64 channels, 56x56 (depthwise: 144 channels, one group each)",
        frozenset({Benchmark.CONV2D, Benchmark.CONV2D_DEPTHWISE}),
        lambda r: f"{r.dtype} depthwise" if r.benchmark == Benchmark.CONV2D_DEPTHWISE else r.dtype or "",
        lambda r: f"batch {r.size}",
        "dtype",
    ),
    _Layout(
        "Models: training step (forward, backward, optimizer) and inference (no-grad forward)",
        frozenset({Benchmark.TRAIN_STEP, Benchmark.INFERENCE}),
        lambda r: f"{_model_row(r)} batch {r.batch_size}",
        lambda r: "training: samples/s, peak memory" if r.benchmark == Benchmark.TRAIN_STEP else "inference",
        "model",
    ),
    _Layout(
        "Collectives between processes: bus bandwidth (nccl-tests), by message size",
        frozenset(COMM_BENCHMARKS),
        lambda r: format_bytes(r.size or 0),
        lambda r: f"{r.benchmark} x{r.num_processes}{''.join(f' {flag}' for flag in r.flags)}",
        "message",
    ),
    _Layout(
        "Largest training batch that fits",
        frozenset({Benchmark.MAX_BATCH}),
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
    if result.value_per_j is not None and result.unit_per_j:
        text.append(f" {format_decimal(result.value_per_j, result.unit_per_j)}", style="green")
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
    notes.append(_energy_note(results))
    return notes


def _energy_note(results: Sequence[Result]) -> Text:
    """Says what the per-joule figures are, and for each device without a meter, why."""
    timed = [r for r in results if r.measurement is not None]
    note = Text()
    if any(r.value_per_j is not None for r in timed):
        methods = " and ".join(sorted({r.energy_method for r in timed if r.energy_method != "none"}))
        note.append(
            f"\nPer-joule figures (FLOP/J, samples/J) are performance per watt: the rate over the case's "
            f"average power, metered by {methods}. ",
            style="green",
        )
    missing = {r.device: r.energy_note for r in timed if r.energy_method == "none" and r.energy_note}
    for device, why in missing.items():
        note.append(f"\nEnergy of {device}: {why}.", style="dim")
    return note


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
        Column(header="energy", justify="right", drop=4),
        Column(header="note", justify="right"),
    ]
    rows: list[tuple[RenderableType, ...]] = []
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
                _energy_cell(r),
                f"[{len(notes)}]" if note else "",
            )
        )
    if not any(r.energy_j is not None for r in results):
        # No meter read anything: the energy column would be empty (the footnote says why).
        energy = columns.index(next(c for c in columns if c.header == "energy"))
        columns.pop(energy)
        rows = [row[:energy] + row[energy + 1 :] for row in rows]
    return Group(FittedTable(columns, rows, title="Statistics per case"), *notes)


def _energy_cell(result: Result) -> str:
    """Joules per iteration and average watts, with how they were obtained; empty without a figure."""
    if result.energy_j is None or result.power_w is None:
        return ""
    return f"{format_small(result.energy_j, 'J')} {format_small(result.power_w, 'W')} {result.energy_method}"


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
