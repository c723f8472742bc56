"""The price table for people and for ``--json``: instances with their date and source, stale ones marked."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from devicefit.records import InstancePrice, PriceTable
from devicefit.report.tables import Column, FittedTable, FoldedName


def _usd(value: float) -> str:
    return f"${value:,.3f}" if value < 1 else f"${value:,.2f}"


def _when(date: str | None, observed: str, stale: bool) -> Text:
    text = Text(date or observed)
    if stale:
        text.append(" stale", style="yellow")
    return text


def render_prices(table: PriceTable, instances: tuple[InstancePrice, ...]) -> RenderableType:
    """``instances`` of ``table``: price per hour and per GPU-hour, spot, date (stale ones marked), source.

    On a narrow terminal the source, then the region, then the quality are left out before a price would
    be; the notes of each source are in ``--json``.
    """
    columns = [
        Column(header="instance", style="cyan", wrap=True, min_width=14),
        Column(header="region", drop=2),
        Column(header="GPUs", justify="right"),
        Column(header="device", wrap=True, min_width=12),
        Column(header="$/h", justify="right"),
        Column(header="$/GPU-h", justify="right"),
        Column(header="spot $/h", justify="right"),
        Column(header="date", justify="right"),
        Column(header="quality", drop=3),
        Column(header="source", wrap=True, min_width=20, drop=1),
    ]
    rows = [
        (
            FoldedName(price.id, separator="/"),
            price.region or "",
            str(price.num_gpus),
            FoldedName(price.device, separator="-"),
            _usd(price.usd_per_hour),
            _usd(price.usd_per_gpu_hour),
            _usd(price.spot_usd_per_hour) if price.spot_usd_per_hour else "",
            _when(price.date, price.observed, price.stale),
            price.quality,
            price.source,
        )
        for price in instances
    ]
    electricity, carbon = table.electricity, table.carbon
    notes = [
        f"On-demand USD per hour of the whole instance (Linux). Stale: over a year old on {table.as_of}, "
        "or undated; quality 'stale' marks a price known to have changed (an upper bound), 'partial' one "
        "missing the host (an under-estimate).",
        f"Electricity ${electricity.usd_per_kwh:g}/kWh ({electricity.date or electricity.observed}"
        f"{', stale' if electricity.stale else ''}; {electricity.quality}): {electricity.source}.",
        f"Grid carbon {carbon.g_co2_per_kwh:g} gCO2/kWh ({carbon.date or carbon.observed}"
        f"{', stale' if carbon.stale else ''}; {carbon.quality}): {carbon.source}.",
    ]
    if table.files:
        notes.append(f"With the user's files: {', '.join(table.files)}.")
    return Group(FittedTable(columns, rows), *(Text(note, style="dim") for note in notes))


def prices_to_dict(table: PriceTable, instances: tuple[InstancePrice, ...]) -> dict[str, Any]:
    """The ``catalog prices --json`` shape: every field of each instance, its price per GPU-hour, the grid."""
    return {
        "as_of": table.as_of,
        "files": list(table.files),
        "instances": [{**asdict(p), "usd_per_gpu_hour": p.usd_per_gpu_hour} for p in instances],
        "electricity": asdict(table.electricity),
        "carbon": asdict(table.carbon),
    }
