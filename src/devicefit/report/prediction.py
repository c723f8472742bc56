"""Rich renderables and JSON for predictions, calibrations and validations."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from devicefit.records import DeviceModel, Prediction, ValidationOutcome
from devicefit.report.models import training_peak_parts
from devicefit.report.tables import Column, FittedTable
from devicefit.report.units import format_bytes, format_decimal, format_percent, format_seconds, format_small


def prediction_to_dict(prediction: Prediction, *, notes: Sequence[str] = ()) -> dict[str, Any]:
    """One device's prediction in the ``predict --json`` contract."""
    p = prediction
    return {
        "device": p.device,
        "device_name": p.device_name,
        "step_time_s": p.step_time_s,
        "throughput_samples_per_s": p.throughput_samples_per_s,
        "fits": p.fits,
        "peak_memory_bytes": p.peak_memory_bytes,
        "memory_capacity_bytes": p.memory_capacity_bytes,
        "max_batch_size": p.max_batch_size,
        "memory": dataclasses.asdict(p.memory) if p.memory is not None and p.mode == "train" else None,
        "error_band": p.error_band,
        "phases": {"forward_s": p.forward_s, "backward_s": p.backward_s, "optimizer_s": p.optimizer_s},
        "transfer_s": p.transfer_s,
        "gpus": p.gpus,
        "nodes": p.nodes,
        "parallel": p.parallel,
        "batch_per_replica": p.batch_size,
        "replicas": p.replicas,
        "comm_s": p.comm_s,
        "exposed_comm_s": p.exposed_comm_s,
        "scaling_efficiency": p.scaling_efficiency,
        "interconnect": p.interconnect or None,
        "energy": power_to_dict(p),
        "bound": {"compute_s": p.compute_s, "memory_s": p.memory_s, "overhead_s": p.overhead_s},
        "breakdown": [
            {
                "op_class": c.op_class,
                "time_s": c.time_s,
                "compute_s": c.compute_s,
                "memory_s": c.memory_s,
                "overhead_s": c.overhead_s,
                "num_ops": c.num_ops,
                "bound": c.bound,
            }
            for c in p.breakdown
        ],
        "calibration": p.calibration,
        "origin": p.origin,
        "host": p.host or None,
        "channels_last": p.channels_last,
        "notes": list(notes),
        "warnings": list(p.warnings),
    }


def fit_warnings(models: Sequence[DeviceModel]) -> list[str]:
    """What fitted models' measurements call for, one line each, naming the device."""
    lines = []
    for model in models:
        lines += [f"{model.device}: not used by predict: {reason}" for reason in model.rejected]
        lines += [f"{model.device}: {warning}" for warning in model.warnings]
    return lines


def render_fit_checks(models: Sequence[DeviceModel]) -> RenderableType:
    """Fitted models that predict will not use, and warnings on those it will."""
    parts = []
    for model in models:
        parts += [
            Text(f"{model.device}: this fit is not used by predict: {reason}", style="bold red")
            for reason in model.rejected
        ]
        parts += [Text(f"warning: {model.device}: {warning}", style="yellow") for warning in model.warnings]
    return Group(*parts)


def _band(p: Prediction) -> str:
    return f"± {format_percent(p.error_band)}"


def _fits(p: Prediction) -> Text:
    if p.fits is None:
        return Text("?", style="dim")
    return Text("yes", style="green") if p.fits else Text("no", style="bold red")


def _dominant(p: Prediction) -> str:
    parts = {"compute": p.compute_s, "memory": p.memory_s, "overhead": p.overhead_s}
    return max(parts, key=lambda name: parts[name])


def render_ranking(
    predictions: Sequence[Prediction], skipped: Sequence[tuple[str, str]] = ()
) -> RenderableType:
    """Devices ranked by predicted step time: time, throughput, bound, memory fit, largest batch."""
    first = predictions[0]
    # Device names wrap; on a narrow terminal what bounds the step, then the error band (also in
    # the note below), are left out before a figure would be cut.
    columns = [
        Column(header="device", style="cyan", wrap=True, min_width=14),
        Column(header="step", justify="right"),
        Column(header="samples/s", justify="right"),
        Column(header="fits", justify="center"),
        Column(header="max batch", justify="right"),
        Column(header="bound", drop=2),
        Column(header="±", justify="right", drop=1),
    ]
    rows = []
    ranked = sorted(predictions, key=lambda p: (p.fits is False, p.step_time_s))
    for p in ranked:
        rate = p.throughput_samples_per_s
        rows.append(
            (
                _short_name(p.device_name),
                format_seconds(p.step_time_s),
                f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}",
                _fits(p),
                "?" if p.max_batch_size is None else f"{p.max_batch_size:,}",
                _dominant(p),
                format_percent(p.error_band),
            )
        )
    table = FittedTable(
        columns, rows, title=f"{first.model}: {first.mode} step, {_batch(first)}, {first.precision}"
    )
    bands: dict[str, set[float]] = {}
    for p in predictions:
        bands.setdefault(p.origin, set()).add(p.error_band)
    origins = [(o, "/".join(format_percent(b) for b in sorted(v))) for o, v in sorted(bands.items())]
    parts: list[RenderableType] = [
        table,
        Text(
            f"needs {format_bytes(first.peak_memory_bytes)} at this batch; ± is the expected error: "
            + ", ".join(f"{band} {origin}" for origin, band in origins),
            style="dim",
        ),
    ]
    parts += [
        Text(
            f"{_short_name(p.device_name)}: {_scaling(p)}; "
            f"per GPU: needs {format_bytes(p.peak_memory_bytes)}",
            style="dim",
        )
        for p in ranked
        if p.gpus > 1
    ]
    parts += [
        Text(f"warning: {_short_name(p.device_name)}: {warning}", style="bold yellow")
        for p in ranked
        for warning in p.warnings
    ]
    if skipped:
        parts.append(
            Text(f"left out (missing catalog figures): {', '.join(s for s, _ in skipped)}", style="dim")
        )
    return Group(*parts)


def _batch(p: Prediction) -> str:
    if p.gpus == 1:
        return f"batch {p.batch_size}"
    return f"{p.gpus} GPUs {p.parallel}, batch {p.batch_size} per replica"


def _scaling(p: Prediction) -> str:
    """``ddp on 16 GPUs (2 machines): communication 1.8 ms, 0.4 ms exposed, scaling efficiency 99%``."""
    machines = f", {p.nodes} machines" if p.nodes > 1 else ""
    efficiency = (
        "" if p.scaling_efficiency is None else f", scaling efficiency {format_percent(p.scaling_efficiency)}"
    )
    return (
        f"{p.parallel} on {p.gpus} GPUs{machines}: communication {format_seconds(p.comm_s)}, "
        f"{format_seconds(p.exposed_comm_s)} exposed{efficiency}"
    )


def _short_name(name: str) -> str:
    for vendor in ("NVIDIA ", "AMD ", "Google Cloud ", "Intel "):
        name = name.removeprefix(vendor)
    return name.split(" (")[0]


def power_to_dict(p: Prediction) -> dict[str, Any] | None:
    """A prediction's modelled power and energy per step (``None``: the device's TDP is unknown)."""
    if p.power is None:
        return None
    return {
        "power_w": p.power.power_w,
        "energy_per_step_j": p.power.energy_j,
        "samples_per_j": p.power.samples_per_j,
        "error_band": p.power.error_band,
        "method": p.power.method,
        "basis": p.power.basis,
    }


def format_power(p: Prediction) -> str:
    """``172 W, 41.2 J per step (estimate ±35%)``: a prediction's modelled power, for a table cell."""
    if p.power is None:
        return "unknown (no TDP)"
    e = p.power
    return (
        f"{format_decimal(e.power_w, 'W')}, {format_small(e.energy_j, 'J')} per step, "
        f"{e.samples_per_j:,.3g} samples/J (estimate ±{e.error_band:.0%})"
    )


def render_prediction(p: Prediction, notes: Sequence[str] = ()) -> RenderableType:
    """One device's prediction: step time, phases, what bounds it, memory fit, per-class breakdown."""
    summary = Table(box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    summary.add_column(style="cyan", no_wrap=True)
    summary.add_column()
    phases = f"forward {format_seconds(p.forward_s)}"
    if p.mode == "train":
        phases += f", backward {format_seconds(p.backward_s)}, optimizer {format_seconds(p.optimizer_s)}"
    total = p.step_time_s or 1.0
    capacity = f" of {format_bytes(p.memory_capacity_bytes)}" if p.memory_capacity_bytes else ""
    rows = [
        ("device", p.device_name),
        (
            "step",
            f"{format_seconds(p.step_time_s)} {_band(p)}  ({p.throughput_samples_per_s:,.4g} samples/s)",
        ),
        ("phases", phases),
        (
            "bound by",
            f"compute {format_percent(p.compute_s / total)}, memory {format_percent(p.memory_s / total)}, "
            f"overhead {format_percent(p.overhead_s / total)}",
        ),
        (
            "memory",
            f"{format_bytes(p.peak_memory_bytes)} peak{' per GPU' if p.gpus > 1 else ''}{capacity}"
            + (f", {training_peak_parts(p.memory)}" if p.memory is not None and p.mode == "train" else ""),
        ),
        (
            "largest batch",
            "unknown (no memory size)" if p.max_batch_size is None else f"{p.max_batch_size:,}",
        ),
    ]
    if p.gpus > 1:
        rows.append(("GPUs", _scaling(p)))
        rows.append(("links", p.interconnect))
    if p.transfer_s:
        rows.append(("batch copy", f"{format_seconds(p.transfer_s)} host to device (not in the step)"))
    rows.append(("energy", format_power(p)))
    rows.append(("figures from", p.calibration))
    if p.host:
        rows.append(("host", f"{p.host}; --host NAME for another catalog CPU"))
    for label, value in rows:
        summary.add_row(label, value)
    summary.add_row("fits", _fits(p))
    classes = Table(box=box.SIMPLE_HEAD, title="by operator class", title_justify="left")
    classes.add_column("class", style="cyan")
    classes.add_column("time", justify="right")
    classes.add_column("share", justify="right")
    classes.add_column("ops", justify="right")
    classes.add_column("bound")
    for c in p.breakdown:
        classes.add_row(
            c.op_class, format_seconds(c.time_s), format_percent(c.time_s / total), f"{c.num_ops:,}", c.bound
        )
    title = Text(f"{p.model}: {p.mode} step, {_batch(p)}, {p.precision}", style="bold")
    parts: list[RenderableType] = [title, summary, classes]
    parts += [Text(f"note: {note}", style="yellow") for note in notes]
    parts += [Text(f"warning: {warning}", style="bold yellow") for warning in p.warnings]
    return Group(*parts)


def calibration_to_dict(model: DeviceModel, calibration_id: int | None) -> dict[str, Any]:
    """The headline figures of a stored calibration."""
    return {
        "calibration_id": calibration_id,
        "device": model.device,
        "name": model.name,
        "num_threads": model.num_threads,
        "best_matmul_fp32_fraction": model.best_matmul_fp32_fraction,
        "dram_bandwidth_bytes_per_s": model.dram_bandwidth_bytes_per_s,
        "op_overhead_s": model.op_overhead_s,
        "module_overhead_s": model.module_overhead_s,
        "curves": sorted([*model.compute, *(f"memory.{k}" for k in model.memory)]),
        "links": {name: dataclasses.asdict(link) for name, link in sorted(model.links.items())},
        "rejected": list(model.rejected),
        "warnings": list(model.warnings),
    }


def render_calibrations(models: Sequence[tuple[DeviceModel, int | None]]) -> RenderableType:
    """Fitted device models: best matrix-product efficiency, DRAM bandwidth and host costs."""
    table = Table(box=box.SIMPLE_HEAD, title="calibrations", title_justify="left")
    for name, justify in (
        ("id", "right"),
        ("device", "left"),
        ("threads", "right"),
        ("best fp32 matmul", "right"),
        ("DRAM bandwidth", "right"),
        ("op call", "right"),
        ("module call", "right"),
        ("curves", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for model, calibration_id in models:
        best, dram = model.best_matmul_fp32_fraction, model.dram_bandwidth_bytes_per_s
        table.add_row(
            "" if calibration_id is None else str(calibration_id),
            model.name,
            "" if model.num_threads is None else str(model.num_threads),
            "?" if best is None else f"{format_percent(best)} of peak",
            "?" if dram is None else format_decimal(dram, "B/s"),
            format_seconds(model.op_overhead_s),
            format_seconds(model.module_overhead_s),
            str(len(model.compute) + len(model.memory)),
        )
    return Group(table, render_fit_checks([model for model, _ in models]))


def render_validation(outcome: ValidationOutcome) -> RenderableType:
    """Predicted against measured step times, each with its error, then the median and 90th percentile."""
    table = Table(box=box.SIMPLE_HEAD, title="predicted against measured", title_justify="left")
    for name, justify in (
        ("device", "left"),
        ("threads", "right"),
        ("model", "left"),
        ("batch", "right"),
        ("mode", "left"),
        ("predicted", "right"),
        ("measured", "right"),
        ("error", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in outcome.comparisons:
        error = c.error
        table.add_row(
            c.device,
            "" if c.num_threads is None else str(c.num_threads),
            c.model,
            str(c.batch_size),
            c.mode,
            format_seconds(c.predicted_s),
            format_seconds(c.measured_s) if c.measured_s else c.status,
            Text("—", style="dim")
            if error is None
            else Text(
                f"{error:+.0%}",
                style="green" if abs(error) <= 0.1 else "yellow" if abs(error) <= 0.25 else "red",
            ),
        )
    if outcome.median_abs_error is not None and outcome.p90_abs_error is not None:
        line = Text(
            f"|error| over {outcome.num_errors} steps: median {format_percent(outcome.median_abs_error)}, "
            f"90th percentile {format_percent(outcome.p90_abs_error)}",
            style="bold",
        )
    else:
        line = Text("no step could be measured", style="bold red")
    return Group(table, line)


def validation_to_dict(outcome: ValidationOutcome) -> dict[str, Any]:
    """``validate --json``: the run, the error summary and each comparison."""
    return {
        "run_id": outcome.run_id,
        "n": outcome.num_errors,
        "median_abs_error": outcome.median_abs_error,
        "p90_abs_error": outcome.p90_abs_error,
        "comparisons": [
            {
                "device": c.device,
                "num_threads": c.num_threads,
                "model": c.model,
                "batch_size": c.batch_size,
                "mode": c.mode,
                "predicted_s": c.predicted_s,
                "measured_s": c.measured_s,
                "error": c.error,
                "status": c.status,
            }
            for c in outcome.comparisons
        ],
    }
