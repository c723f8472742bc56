"""The report's measured sections: the machine, the roofline, why wide hardware needs work, the history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from devicefit.records import DeviceDescription, Result, Run
from devicefit.records.report import ModelReport
from devicefit.records.vocabulary import HOST_LINK_BENCHMARKS, STREAM_KERNELS, Benchmark
from devicefit.report.figure import (
    Figure,
    Section,
    layout,
    line,
    log_range,
    plot_text,
    roof,
    rows_of,
    scatter,
)
from devicefit.report.units import format_decimal

Points = list[tuple[float, float, int | str, str]]
#: Cases the history follows at most: the ones most runs share (a figure of every case is unreadable).
MAX_HISTORY_CASES = 12
#: The matrix products whose fastest is a device's measured compute ceiling (at any thread count).
PRODUCTS = (Benchmark.MATMUL, Benchmark.MATMUL_THREADS)
#: Intensities the roofline spans (FLOP per byte): from elementwise kernels to large products.
ROOFLINE_INTENSITY = (1e-2, 1e4)


def _ok(run: Run, device: str, benchmarks: Iterable[str]) -> list[Result]:
    wanted = set(benchmarks)
    return [
        r
        for r in run.results
        if r.device == device and r.benchmark in wanted and r.status == "ok" and r.value is not None
    ]


def _points(results: Iterable[Result], run_id: int, x: str) -> Points:
    """``(x, value, run, case)`` sorted by x; ``x`` names a result field."""
    pts = [(float(getattr(r, x)), float(r.value or 0.0), run_id, r.case_id) for r in results if getattr(r, x)]
    return sorted(pts)


def machine_section(runs: Sequence[Run]) -> Section | None:
    """Each device of the selected runs with its peaks and how they were derived (as ``devices`` shows)."""
    figures = []
    for run in runs:
        traces, rows = [], []
        for device in run.devices:
            peaks = sorted(device.peaks, key=lambda p: p.flops_per_s)
            traces.append(
                {
                    "type": "bar",
                    "name": plot_text(f"{device.id}: {device.name}"),
                    "x": [p.dtype for p in peaks],
                    "y": [p.flops_per_s for p in peaks],
                    "customdata": [[str(run.run_id), plot_text(p.derivation)] for p in peaks],
                    "hovertemplate": "%{x}: %{y:.4g} "
                    "FLOP/s<br>%{customdata[1]}<extra>%{fullData.name}</extra>",
                }
            )
            rows += [(device.id, device.name, p.dtype, p.flops_per_s, "FLOP/s", p.derivation) for p in peaks]
            if device.peak_bandwidth_bytes_per_s:
                rows.append(
                    (
                        device.id,
                        device.name,
                        "memory",
                        device.peak_bandwidth_bytes_per_s,
                        "B/s",
                        device.bandwidth_derivation,
                    )
                )
        if not traces:
            continue
        figures.append(
            Figure(
                id=f"machine-run{run.run_id}",
                title=f"Run {run.run_id} on {run.environment.hostname}: theoretical peaks",
                caption=(
                    "The most each device could do per second by number format, from its datasheet or "
                    "derived "
                    ""
                    "from its cores, vector width and clock (the derivation is in the table). "
                    "Lower-precision "
                    ""
                    "formats are faster only where the hardware has units for them; the measured sections "
                    "below show how much of these peaks real work reaches."
                ),
                traces=tuple(traces),
                layout=layout("number format", "peak FLOP/s", log_x=False, barmode="group"),
                columns=("device", "name", "dtype", "peak", "unit", "derivation"),
                rows=tuple(rows),
            )
        )
    if not figures:
        return None
    return Section(
        id="machine", title="The machine", intro="The devices the runs measured.", figures=tuple(figures)
    )


def _model_points(models: Sequence[ModelReport], device: str, dtype: str) -> list[tuple[str, Points]]:
    """Each model's operator classes on ``device``: (intensity, predicted FLOP/s, batch, class)."""
    series = []
    for model in models:
        if model.precision != dtype:
            continue
        prediction = next((p for p in model.predictions if p.device == device), None)
        if prediction is None:
            continue
        times = {c.op_class: c.time_s for c in prediction.breakdown}
        points: Points = []
        for cls in model.classes:
            flops = cls.forward_flops + cls.backward_flops
            moved = cls.forward_bytes + cls.backward_bytes
            if flops > 0 and moved > 0 and times.get(cls.op_class):
                points.append(
                    (
                        flops / moved,
                        flops / times[cls.op_class],
                        f"predicted, batch {model.batch_size}",
                        cls.op_class,
                    )
                )
        if points:
            series.append((f"{model.model} (predicted, by operator class)", sorted(points)))
    return series


def _roofline(
    run: Run, device: DeviceDescription, dtype: str, models: Sequence[ModelReport]
) -> Figure | None:
    products = [r for r in _ok(run, device.id, PRODUCTS) if r.dtype == dtype and r.bytes_per_iteration]
    streams = _ok(run, device.id, STREAM_KERNELS)
    if not products or not streams:
        return None
    xs = log_range(*ROOFLINE_INTENSITY)
    ceiling = max(r.value or 0.0 for r in products)
    largest = max(streams, key=lambda r: (r.bytes_per_iteration or 0.0, r.value or 0.0))
    fastest = max(streams, key=lambda r: r.value or 0.0)
    measured: Points = sorted(
        (
            (r.flops_per_iteration or 0.0) / (r.bytes_per_iteration or 1.0),
            r.value or 0.0,
            run.run_id,
            r.case_id,
        )
        for r in products
    )
    traces = [
        roof(
            f"measured: {format_decimal(ceiling, 'FLOP/s')}, "
            f"memory at {format_decimal(largest.value or 0, 'B/s')}",
            ceiling,
            largest.value or 0.0,
            xs,
            dashed=False,
        ),
    ]
    if fastest is not largest:
        traces.append(
            roof(
                f"measured, in cache: {format_decimal(fastest.value or 0, 'B/s')}",
                ceiling,
                fastest.value or 0.0,
                xs,
                dashed=False,
                opacity=0.5,
            )
        )
    peak = device.peak_flops_per_s(dtype)
    if peak and device.peak_bandwidth_bytes_per_s:
        traces.append(roof("theoretical peaks", peak, device.peak_bandwidth_bytes_per_s, xs, dashed=True))
    elif peak:
        # No datasheet bandwidth (CPUs): the compute peak alone.
        traces.append(line("theoretical peak", [xs[0], xs[-1]], [peak, peak], dashed=True))
    traces.append(scatter("matrix products (measured)", measured, mode="markers", marker={"size": 9}))
    series = [("matrix products (measured)", measured)]
    for name, points in _model_points(models, device.id, dtype):
        traces.append(
            scatter(
                name,
                points,
                mode="markers+text",
                text=[p[3] for p in points],
                textposition="top center",
                marker={"symbol": "diamond", "size": 10},
            )
        )
        series.append((name, points))
    rows = rows_of(series) + (
        (
            "measured compute ceiling",
            None,
            ceiling,
            run.run_id,
            max(products, key=lambda r: r.value or 0).case_id,
        ),
        ("measured memory bandwidth (B/s)", None, largest.value, run.run_id, largest.case_id),
        ("theoretical peak", None, peak, run.run_id, "device description"),
    )
    return Figure(
        id=f"roofline-run{run.run_id}-{device.id}-{dtype}",
        title=f"Roofline of {device.id} ({device.name}), {dtype}, run {run.run_id}",
        caption=(
            "Work per byte (arithmetic intensity) against speed, both on log scales. Left of the bend "
            "a kernel "
            "waits for memory, right of it for arithmetic. The solid roof is what this machine measured (its "
            "fastest matrix product and its STREAM bandwidth), the dashed one the theoretical peaks: the gap "
            "between them is what the hardware promises but does not deliver. Each selected model's operator "
            "classes sit where their intensity puts them, at the speed predicted for them on this device: "
            "points far below the roof are held back by overheads rather than by the hardware."
        ),
        traces=tuple(traces),
        layout=layout("arithmetic intensity (FLOP/byte)", "FLOP/s"),
        columns=("series", "intensity (FLOP/byte)", "rate (FLOP/s)", "run", "case"),
        rows=rows,
    )


def _bandwidth(run: Run, device: DeviceDescription) -> Figure | None:
    streams = _ok(run, device.id, STREAM_KERNELS)
    if not streams:
        return None
    series = []
    for kernel in STREAM_KERNELS:
        points = _points((r for r in streams if r.benchmark == kernel), run.run_id, "bytes_per_iteration")
        if points:
            series.append((f"{kernel} (measured)", points))
    traces = [scatter(name, points) for name, points in series]
    sizes = [p[0] for _, points in series for p in points]
    if device.peak_bandwidth_bytes_per_s:
        traces.append(
            line(
                "theoretical peak bandwidth",
                [min(sizes), max(sizes)],
                [device.peak_bandwidth_bytes_per_s] * 2,
                dashed=True,
            )
        )
    return Figure(
        id=f"bandwidth-run{run.run_id}-{device.id}",
        title=f"Memory bandwidth of {device.id} by working set, run {run.run_id}",
        caption=(
            "STREAM's kernels (copy, scale, add, triad) over arrays of growing size. While the arrays fit in "
            "a cache the bandwidth is high; past the last cache it falls to what main memory sustains. Those "
            "steps are why the same operation runs at very different speeds at different sizes."
        ),
        traces=tuple(traces),
        layout=layout("bytes read and written per call", "B/s"),
        columns=("series", "bytes per call", "bandwidth (B/s)", "run", "case"),
        rows=rows_of(series),
    )


def roofline_section(runs: Sequence[Run], models: Sequence[ModelReport]) -> Section | None:
    """Per device and precision of each run: measured ceilings, the STREAM curve, the models' classes."""
    figures: list[Figure] = []
    for run in runs:
        for device in run.devices:
            dtypes = sorted({r.dtype for r in _ok(run, device.id, PRODUCTS) if r.dtype})
            figures += [f for dtype in dtypes if (f := _roofline(run, device, dtype, models))]
            figures += [f for f in [_bandwidth(run, device)] if f]
    if not figures:
        return None
    return Section(
        id="roofline",
        title="Roofline",
        intro="How fast each device computes and moves data, measured, and where the models' operators fall.",
        figures=tuple(figures),
    )


def _figure(
    fid: str, title: str, caption: str, series: list[tuple[str, Points]], x: str, y: str, **layout_extra: Any
) -> Figure:
    return Figure(
        id=fid,
        title=title,
        caption=caption,
        traces=tuple(scatter(name, points) for name, points in series),
        layout=layout(x, y, **layout_extra),
        columns=("series", x, y, "run", "case"),
        rows=rows_of(series),
    )


def scaling_section(runs: Sequence[Run]) -> Section | None:
    """Elementwise throughput by size and thread scaling (CPUs); launch latency and transfers (GPUs)."""
    figures = []
    for run in runs:
        for device in run.devices:
            tag = f"run{run.run_id}-{device.id}"
            small = _points(_ok(run, device.id, [Benchmark.ELEMENTWISE]), run.run_id, "size")
            if small:
                figures.append(
                    _figure(
                        f"elementwise-{tag}",
                        f"Elementwise x * y on {device.id} by size, run {run.run_id}",
                        "Elements per second of one multiplication over arrays of growing size. Tiny "
                        "arrays are "
                        ""
                        "dominated by the fixed cost of calling the operator, so the rate climbs by "
                        "orders of "
                        ""
                        "magnitude with size until the device is busy: wide hardware needs enough work per "
                        "call.",
                        [("x * y (measured)", small)],
                        "elements",
                        "elements/s",
                    )
                )
            threads = [
                (f"{b} (measured)", _points(_ok(run, device.id, [b]), run.run_id, "num_threads"))
                for b in (Benchmark.MATMUL_THREADS, Benchmark.TRIAD_THREADS)
            ]
            threads = [(n, p) for n, p in threads if p]
            if threads:
                figures.append(
                    _figure(
                        f"threads-{tag}",
                        f"Thread scaling on {device.id}, run {run.run_id}",
                        "The same matrix product (FLOP/s) and STREAM triad (B/s) on more and more threads. "
                        "Arithmetic grows with cores; memory bandwidth stops growing once the memory bus is "
                        "full.",
                        threads,
                        "threads",
                        "rate (FLOP/s or B/s)",
                        log_x=False,
                    )
                )
            links = [
                (f"{b} (measured)", _points(_ok(run, device.id, [b]), run.run_id, "size"))
                for b in HOST_LINK_BENCHMARKS
            ]
            links = [(n, p) for n, p in links if p]
            if links and device.kind != "cpu":
                figures.append(
                    _figure(
                        f"transfers-{tag}",
                        f"Host transfers to and from {device.id}, run {run.run_id}",
                        "Copies between host and device memory by size. Small copies pay a fixed latency, "
                        "so only "
                        ""
                        "large batches reach the link's bandwidth: a GPU is fed through this pipe.",
                        links,
                        "bytes",
                        "B/s",
                    )
                )
            launch = _ok(run, device.id, [Benchmark.LAUNCH])
            if launch and device.kind != "cpu":
                figures.append(
                    _figure(
                        f"launch-{tag}",
                        f"Launch latency of {device.id}, run {run.run_id}",
                        "The time to start one tiny kernel: every operator pays it, so small models on a "
                        "GPU are "
                        ""
                        "bounded by launches rather than by arithmetic.",
                        [("launch (measured)", _points(launch, run.run_id, "size"))],
                        "size",
                        "seconds",
                        log_x=False,
                    )
                )
    if not figures:
        return None
    return Section(
        id="scaling",
        title="Why wide hardware needs work",
        intro="Fixed costs against the size of the work.",
        figures=tuple(figures),
    )


def history_section(runs: Sequence[Run]) -> Section | None:
    """The same benchmark cases across runs and machines, with the environment fields that differ."""
    by_case: dict[tuple[str, str], Points] = defaultdict(list)
    for run in runs:
        for r in run.results:
            if r.status == "ok" and r.value is not None and r.unit != "s":
                by_case[(r.device, r.case_id)].append((run.run_id, r.value, run.run_id, r.case_id))
    shared = sorted(((k, v) for k, v in by_case.items() if len(v) > 1), key=lambda kv: (-len(kv[1]), kv[0]))
    if not shared:
        return None
    series = [(f"{device} {case}", sorted(points)) for (device, case), points in shared[:MAX_HISTORY_CASES]]
    figure = _figure(
        "history",
        "The same benchmarks across runs",
        "Each line is one benchmark case in every run that measured it, by run id. A change between two "
        "runs comes from the hardware, the software or the noise: the table below lists what differed in "
        "their environments.",
        series,
        "run",
        "value (the case's unit)",
        log_x=False,
    )
    names = [f.name for f in fields(runs[0].environment)]
    differing = [n for n in names if len({getattr(r.environment, n) for r in runs}) > 1]
    env_rows = tuple((n, r.run_id, str(getattr(r.environment, n))) for n in differing for r in runs)
    environment = Figure(
        id="history-environment",
        title="What differed between the runs",
        caption="The environment fields that are not the same in every run above (all equal: none listed). "
        "Each bar counts the distinct values of a field.",
        traces=(
            {
                "type": "bar",
                "name": "distinct values",
                "x": differing or ["(none)"],
                "y": [len({getattr(r.environment, n) for r in runs}) for n in differing] or [0],
            },
        ),
        layout=layout("environment field", "distinct values", log_x=False, log_y=False),
        columns=("field", "run", "value"),
        rows=env_rows,
    )
    return Section(id="history", title="History", intro="Runs compared.", figures=(figure, environment))
