"""The report's predicted sections: the crossover, across devices, and predicted against measured."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from devicefit.records.report import DeviceRate, ModelReport, ValidatedStep
from devicefit.report.advice import crossover_reason
from devicefit.report.figure import Figure, Section, bounded, layout, line, plot_text, scatter
from devicefit.report.units import format_percent

#: Seconds in an hour: prices are per hour, throughputs per second.
SECONDS_PER_HOUR = 3600.0


def _crossover(model: ModelReport, index: int) -> Figure | None:
    outcome = model.crossover
    if outcome is None or not outcome.devices:
        return None
    series = []
    for sweep in outcome.devices:
        origin = (
            "measured" if any(p.measured_step_time_s for p in sweep.points) else f"predicted, {sweep.origin}"
        )
        points = [
            (
                p.batch_size,
                p.best_samples_per_s,
                outcome.run_id or "predicted",
                f"{sweep.device} batch {p.batch_size}, {p.bound}-bound",
            )
            for p in sweep.points
            if p.fits is not False  # a step that does not fit the device's memory does not run
        ]
        series.append((f"{sweep.device_name} ({sweep.device}, {origin})", points, sweep.device))
    traces: list[dict[str, Any]] = [scatter(name, points) for name, points, _ in series]
    marks, words = [], []
    for c in outcome.crossovers:
        words.append(crossover_reason(c))
        if c.batch_size is not None:
            gpu = next(points for _, points, device in series if device == c.gpu)
            marks += [p for p in gpu if p[0] == c.batch_size]
    if marks:
        traces.append(
            scatter(
                "crossover", marks, mode="markers", marker={"symbol": "star", "size": 16, "color": "black"}
            )
        )
    rows = tuple((name, x, y, run, case) for name, points, _ in series for x, y, run, case in bounded(points))
    return Figure(
        id=f"crossover-{index}",
        title=f"Crossover of {model.model} ({outcome.mode}, {outcome.precision})",
        caption=(
            "Samples per second by batch size on each device. At small batches a GPU spends its time "
            "launching "
            "kernels and copying the batch, so the CPU can keep up; as the batch grows the GPU's width "
            "pays off. "
            "A line stops where the step no longer fits the device's memory. The stars mark where a GPU "
            "overtakes the CPU. " + (". ".join(words) or "No crossover") + "."
        ),
        traces=tuple(traces),
        layout=layout("batch size", "samples/s"),
        columns=("device", "batch size", "samples/s", "run", "case"),
        rows=rows,
    )


def crossover_section(models: Sequence[ModelReport]) -> Section | None:
    """Samples/s by batch size on the CPU and each GPU, the crossover marked, per model."""
    figures = tuple(f for i, m in enumerate(models) if (f := _crossover(m, i)))
    if not figures:
        return None
    return Section(id="crossover", title="Crossover", intro="Where the CPU stops winning.", figures=figures)


def _across(model: ModelReport, rates: Sequence[DeviceRate], index: int) -> Figure | None:
    fitting = [p for p in model.predictions if p.fits is not False]
    if not fitting:
        return None
    price = {r.device: r for r in rates}
    names = [plot_text(f"{p.device_name} ({p.device})") for p in fitting]
    per_usd = [
        p.throughput_samples_per_s * SECONDS_PER_HOUR / price[p.device].usd_per_hour
        if p.device in price
        else None
        for p in fitting
    ]
    per_j = [p.power.samples_per_j if p.power else None for p in fitting]
    traces = (
        {"type": "bar", "name": "step time (s)", "x": names, "y": [p.step_time_s for p in fitting]},
        {
            "type": "bar",
            "name": "samples per US dollar",
            "x": names,
            "y": per_usd,
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "bar",
            "name": "samples per joule (modelled)",
            "x": names,
            "y": per_j,
            "xaxis": "x3",
            "yaxis": "y3",
        },
    )
    figure_layout = layout("", "step time (s)", log_x=False, log_y=False, height=480)
    figure_layout["xaxis"] = {"domain": [0, 0.3], "type": "category"}
    figure_layout["xaxis2"] = {"domain": [0.35, 0.65], "anchor": "y2"}
    figure_layout["yaxis2"] = {"title": {"text": "samples/$"}, "anchor": "x2"}
    figure_layout["xaxis3"] = {"domain": [0.7, 1.0], "anchor": "y3"}
    figure_layout["yaxis3"] = {"title": {"text": "samples/J"}, "anchor": "x3"}
    left_out = [p.device for p in model.predictions if p.fits is False]
    rows = tuple(
        (
            p.device,
            p.device_name,
            p.batch_size,
            p.step_time_s,
            p.throughput_samples_per_s,
            price[p.device].usd_per_hour if p.device in price else None,
            price[p.device].source if p.device in price else "no price",
            usd,
            j,
            f"predicted, {p.origin}",
        )
        for p, usd, j in zip(fitting, per_usd, per_j, strict=True)
    )
    return Figure(
        id=f"across-{index}",
        title=f"{model.model} across devices (training step, batch {model.batch_size}, {model.precision})",
        caption=(
            "The predicted training step on each device whose memory it fits, the samples a US dollar of "
            "on-demand rental buys (cheapest priced instance per GPU), and the samples per joule of modelled "
            "power. The fastest device is not always the cheapest per sample."
            + (f" Left out, the step does not fit their memory: {', '.join(left_out)}." if left_out else "")
        ),
        traces=traces,
        layout=figure_layout,
        columns=(
            "device",
            "name",
            "batch size",
            "step time (s)",
            "samples/s",
            "USD per hour",
            "price source",
            "samples per USD",
            "samples per J",
            "source",
        ),
        rows=rows,
    )


def across_section(models: Sequence[ModelReport], rates: Sequence[DeviceRate]) -> Section | None:
    """Predicted step time, price/performance and performance per watt on the selected devices."""
    figures = tuple(f for i, m in enumerate(models) if (f := _across(m, rates, i)))
    if not figures:
        return None
    return Section(
        id="across", title="Across devices", intro="Speed, cost and energy of the same step.", figures=figures
    )


def validation_section(steps: Sequence[ValidatedStep]) -> Section | None:
    """Every validated step, predicted against measured, with the diagonal and the error band."""
    measured = [s for s in steps if s.comparison.measured_s and s.comparison.error is not None]
    if not measured:
        return None
    errors = [abs(s.comparison.error or 0.0) for s in measured]
    median = statistics.median(errors)
    band = sorted(errors)[min(len(errors) - 1, int(0.9 * len(errors)))]
    series: dict[str, list[tuple[float, float, int | str, str]]] = {}
    for s in measured:
        c = s.comparison
        series.setdefault(f"{c.device} {c.mode}", []).append(
            (c.measured_s or 0.0, c.predicted_s, s.run_id, s.case_id)
        )
    low = min(min(p[0], p[1]) for pts in series.values() for p in pts) / 2
    high = max(max(p[0], p[1]) for pts in series.values() for p in pts) * 2
    traces = [
        scatter(name, sorted(points), mode="markers", marker={"size": 9}) for name, points in series.items()
    ]
    traces += [
        line("predicted = measured", [low, high], [low, high], dashed=True),
        line(
            f"±{format_percent(band)} (90% of the errors)",
            [low, high],
            [low * (1 + band), high * (1 + band)],
            dashed=True,
            opacity=0.5,
        ),
        line(
            "", [low, high], [low * (1 - band), high * (1 - band)], dashed=True, opacity=0.5, showlegend=False
        ),
    ]
    figure = Figure(
        id="validation",
        title="Predicted against measured step times",
        caption=(
            f"Every validated step stored ({len(measured)}): the measured time across, the predicted one up. "
            f"Points on the dashed diagonal were predicted exactly; the band holds 90% of them. Median error "
            f"{format_percent(median)}, 90th percentile {format_percent(band)}."
        ),
        traces=tuple(traces),
        layout=layout("measured step time (s)", "predicted step time (s)"),
        columns=(
            "device",
            "model",
            "batch size",
            "mode",
            "measured (s)",
            "predicted (s)",
            "error",
            "run",
            "case",
        ),
        rows=tuple(
            (
                s.comparison.device,
                s.comparison.model,
                s.comparison.batch_size,
                s.comparison.mode,
                s.comparison.measured_s,
                s.comparison.predicted_s,
                s.comparison.error,
                s.run_id,
                s.case_id,
            )
            for s in measured
        ),
    )
    return Section(
        id="validation",
        title="Predicted against measured",
        intro="The prediction's error on this machine.",
        figures=(figure,),
    )
