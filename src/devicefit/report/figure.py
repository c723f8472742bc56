"""A report's figures as data: Plotly traces and layout, a caption, and the table of the points drawn."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Points one trace may carry: a figure's data stay small whatever the run holds (Plotly reports
#: grow by megabytes when every sample is drawn); longer traces keep evenly spaced points.
MAX_POINTS_PER_TRACE = 400
#: Points of a drawn ceiling (a roof line between two intensities, evenly spaced in log x).
ROOF_POINTS = 48
#: The colours of the theoretical (dashed) and measured (solid) lines.
THEORY_COLOUR = "#7f7f7f"
#: Hover text of a measured point: its value, then its run and case (``customdata``).
TRACED_HOVER = (
    "%{x:.4g}, %{y:.4g}<br>run %{customdata[0]}, case %{customdata[1]}<extra>%{fullData.name}</extra>"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One figure: what Plotly draws, what it means in plain words, and its points as a table.

    Attributes:
        id: Unique in the report (a page anchor and the div's id).
        title: Its heading.
        caption: One paragraph saying what to notice.
        traces: Plotly traces (plain data, ``Plotly.newPlot``'s ``data``).
        layout: Plotly layout.
        columns: Headers of ``rows``, units in the names.
        rows: Every drawn point (and every ceiling), with the run and case it comes from.
    """

    id: str
    title: str
    caption: str
    traces: tuple[dict[str, Any], ...]
    layout: dict[str, Any]
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A titled part of the report with its figures; shown only when it has one."""

    id: str
    title: str
    intro: str
    figures: tuple[Figure, ...] = field(default=())


def plot_text(text: str) -> str:
    """``text`` as Plotly shows it literally: Plotly reads a few HTML tags in labels, so escape them all.

    Quotes stay as they are: a label is no attribute, and Plotly's entity table has no ``&quot;``.
    """
    return html.escape(text, quote=False)


def bounded(points: Sequence[Any], limit: int = MAX_POINTS_PER_TRACE) -> list[Any]:
    """At most ``limit`` of ``points``, evenly spaced, the first and last kept."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def scatter(
    name: str,
    points: Sequence[tuple[float, float, int | str, str]],
    *,
    mode: str = "lines+markers",
    **style: Any,
) -> dict[str, Any]:
    """A trace of ``(x, y, run id, case id)`` points, bounded, each traceable in its hover text."""
    kept = bounded(points)
    return {
        "type": "scatter",
        "mode": mode,
        "name": plot_text(name),
        "x": [p[0] for p in kept],
        "y": [p[1] for p in kept],
        "customdata": [[str(p[2]), plot_text(str(p[3]))] for p in kept],
        "hovertemplate": TRACED_HOVER,
        **style,
    }


def line(
    name: str, xs: Sequence[float], ys: Sequence[float], *, dashed: bool, **style: Any
) -> dict[str, Any]:
    """A ceiling or guide: a plain line, dashed for theoretical figures."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": plot_text(name),
        "x": list(xs),
        "y": list(ys),
        "line": {"dash": "dash" if dashed else "solid", **({"color": THEORY_COLOUR} if dashed else {})},
        "hoverinfo": "name",
        **style,
    }


def log_range(low: float, high: float, num: int = ROOF_POINTS) -> list[float]:
    """``num`` values from ``low`` to ``high``, evenly spaced in log10."""
    a, b = math.log10(low), math.log10(high)
    return [10 ** (a + (b - a) * i / (num - 1)) for i in range(num)]


def roof(
    name: str, flops_per_s: float, bytes_per_s: float, xs: Sequence[float], *, dashed: bool, **style: Any
) -> dict[str, Any]:
    """The roofline ``min(peak, bandwidth x intensity)`` over ``xs`` (Williams, Waterman, Patterson 2009)."""
    return line(name, xs, [min(flops_per_s, bytes_per_s * x) for x in xs], dashed=dashed, **style)


def layout(
    x_title: str, y_title: str, *, log_x: bool = True, log_y: bool = True, **extra: Any
) -> dict[str, Any]:
    """A figure's layout: titled axes, log where the data span decades, the legend below."""
    return {
        "xaxis": {"title": {"text": x_title}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": y_title}, "type": "log" if log_y else "linear"},
        "height": 440,
        "margin": {"l": 70, "r": 20, "t": 30, "b": 60},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def rows_of(
    traces: Iterable[tuple[str, Sequence[tuple[float, float, int | str, str]]]],
) -> tuple[tuple[Any, ...], ...]:
    """Table rows ``(series, x, y, run, case)`` of each named series' points, bounded as drawn."""
    return tuple((name, x, y, run, case) for name, points in traces for x, y, run, case in bounded(points))
