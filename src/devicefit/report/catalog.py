"""The hardware catalog for people and for ``--json``: the device table, one device's figures and sources."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text

from devicefit.records import DeviceSpec, PriceSpec, SourceSpec
from devicefit.report.tables import Column, FittedTable, FoldedName
from devicefit.report.units import format_bytes, format_decimal

#: Fields that name or describe a device rather than state a figure with a source.
_META_FIELDS = frozenset(
    {"id", "name", "vendor", "kind", "architecture", "aliases", "sources", "notes", "price"}
)
#: Integer dtypes count operations, not floating-point ones.
_INTEGER_DTYPES = frozenset({"int4", "int8"})


def _si(value: float) -> str:
    # 12 significant digits show every catalog figure as stored, without float noise.
    return f"{value:.12g}"


def _watts(value: float) -> str:
    return f"{value:.0f} W"


_FIGURES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "compute_capability": ("compute capability", str),
    "isa": ("ISA", str),
    "launch_date": ("launched", str),
    "memory_bytes": ("memory", format_bytes),
    "memory_type": ("memory type", str),
    "bandwidth_bytes_per_s": ("bandwidth", lambda v: format_decimal(v, "B/s")),
    "num_multiprocessors": ("multiprocessors", str),
    "num_devices_per_package": (
        "devices per package",
        lambda v: f"{v}: PyTorch sees each as its own GPU; every figure here is for one",
    ),
    "boost_clock_hz": ("boost clock", lambda v: format_decimal(v, "Hz")),
    "tdp_w": ("TDP", _watts),
    "interconnect": ("interconnect", str),
    "host_link_bytes_per_s": ("host link", lambda v: f"{format_decimal(v, 'B/s')} per direction"),
    "matrix_precisions": ("matrix units", ", ".join),
}


def _usd(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _list_price(price: PriceSpec) -> str:
    if price.list_usd is None:
        return ""
    return _usd(price.list_usd) + (f" ({price.list_date})" if price.list_date else "")


def _cloud_price(price: PriceSpec) -> str:
    if price.cloud_usd_per_hour is None:
        return ""
    return f"{_usd(price.cloud_usd_per_hour)}/h" + (f" ({price.cloud_date})" if price.cloud_date else "")


def _peak(value: float | None, dtype: str) -> str:
    if value is None:
        return ""
    return format_decimal(value, "OP/s" if dtype in _INTEGER_DTYPES else "FLOP/s")


def _display_name(device: DeviceSpec) -> str:
    """The name, and for a package of several devices (MI250X: 2 GCDs) that the figures are per device."""
    per_package = device.num_devices_per_package
    if per_package and per_package > 1:
        return f"{device.name} ({per_package} per package)"
    return device.name


def render_catalog(devices: Sequence[DeviceSpec]) -> RenderableType:
    """Catalog devices, one row each (id above name), a section per kind; peaks are dense.

    On a narrow terminal the tf32 peak, then TDP, then the price are left out before any figure
    would be cut; ids fold at their hyphens and names wrap.
    """
    columns = [
        Column(header="id and name", wrap=True, min_width=22),
        Column(header="memory", justify="right"),
        Column(header="bandwidth", justify="right"),
        Column(header="fp32", justify="right"),
        Column(header="tf32", justify="right", drop=3),
        Column(header="bf16", justify="right"),
        Column(header="TDP", justify="right", drop=2),
        Column(header="price", justify="right", wrap=True, drop=1),
    ]
    rows: list[tuple[RenderableType, ...]] = []
    for device in devices:
        price = device.price or PriceSpec()
        peaks = device.peak_flops_per_s
        rows.append(
            (
                Group(FoldedName(device.id, "cyan", separator="-"), Text(_display_name(device), style="dim")),
                format_bytes(device.memory_bytes) if device.memory_bytes else "",
                format_decimal(device.bandwidth_bytes_per_s, "B/s") if device.bandwidth_bytes_per_s else "",
                *(_peak(peaks.get(dtype), dtype) for dtype in ("fp32", "tf32", "bf16")),
                _watts(device.tdp_w) if device.tdp_w else "",
                "\n".join(p for p in (_list_price(price), _cloud_price(price)) if p),
            )
        )
    ends = [i for i in range(len(devices) - 1) if devices[i].kind != devices[i + 1].kind]
    note = Text(
        "Peaks are dense (no 2:4 sparsity); prices are list USD or cloud USD per hour, with their date. "
        "'devicefit catalog show ID' shows every figure with its sources.",
        style="dim",
    )
    return Group(FittedTable(columns, rows, pad_edge=False, section_ends=ends), note)


def _figures(device: DeviceSpec) -> Iterable[tuple[str, str, str, tuple[str, ...]]]:
    """(label, value, value in SI units, source paths) for every figure the entry states."""
    for field in dataclasses.fields(device):
        value = getattr(device, field.name)
        if field.name in _META_FIELDS or value in (None, "", (), {}):
            continue
        if field.name == "peak_flops_per_s":
            for dtype, flops in value.items():
                yield f"peak {dtype}", _peak(flops, dtype), _si(flops), (f"peak_flops_per_s.{dtype}",)
            continue
        label, render = _FIGURES.get(field.name, (field.name, str))
        stored = _si(value) if isinstance(value, int | float) else ""
        yield label, render(value), stored, (field.name,)
    price = device.price
    if price and price.list_usd is not None:
        yield "list price", _list_price(price), _si(price.list_usd), ("price.list_usd", "price.list_date")
    if price and price.cloud_usd_per_hour is not None:
        note = f"\n{price.cloud_note}" if price.cloud_note else ""
        paths = ("price.cloud_usd_per_hour", "price.cloud_date", "price.cloud_note")
        yield "cloud price", _cloud_price(price) + note, _si(price.cloud_usd_per_hour), paths


def _source_cell(device: DeviceSpec, paths: Sequence[str], sources: Mapping[str, SourceSpec]) -> Text:
    keys = dict.fromkeys(key for path in paths for key in device.sources.get(path, ()))
    if not keys:
        return Text("no source", style="yellow")
    cell = Text()
    for key in keys:
        if cell:
            cell.append("\n")
        cell.append(key)
        source = sources.get(key)
        if source is None:
            cell.append(" (not in the source table)", style="red")
        else:
            cell.append(f" ({source.trust})", style="dim")
    return cell


def _sources_table(keys: Iterable[str], sources: Mapping[str, SourceSpec]) -> RenderableType:
    columns = [
        Column(header="source", style="cyan"),
        Column(header="trust"),
        Column(header="citation", wrap=True),
    ]
    rows: list[tuple[RenderableType, ...]] = []
    for key in keys:
        source = sources.get(key)
        if source is None:
            rows.append((Text(key), Text("unknown", style="red"), Text("not in the source table")))
            continue
        citation = Text(source.citation)
        if source.url:
            citation.append(f"\n{source.url}", style="dim")
        rows.append((Text(key), Text(source.trust), citation))
    return FittedTable(columns, rows, title="Sources")


def render_catalog_device(device: DeviceSpec, sources: Mapping[str, SourceSpec]) -> RenderableType:
    """One catalog device: a row per figure with its value and sources, the sources cited, then notes."""
    header = Text.assemble(
        (device.id, "bold"), f" {device.name}: {device.kind}, {device.vendor}, {device.architecture}"
    )
    if device.aliases:
        header.append(f"; reported as {', '.join(device.aliases)}", style="dim")
    # On a narrow terminal the values and sources wrap between their words, and the value as
    # stored (in SI units) is left out before a figure would be cut.
    columns = [
        Column(header="figure", style="cyan"),
        Column(header="value", wrap=True, min_width=16),
        Column(header="SI value", justify="right", style="dim", drop=1),
        Column(header="sources", wrap=True),
    ]
    rows = [
        (label, Text(value), stored, _source_cell(device, paths, sources))
        for label, value, stored, paths in _figures(device)
    ]
    notes = Text(f"notes: {device.notes}") if device.notes else Text("")
    table = FittedTable(columns, rows, pad_edge=False)
    return Group(header, table, _sources_table(used_source_keys([device]), sources), notes)


def render_catalog_matches(
    query: str, devices: Sequence[DeviceSpec], sources: Mapping[str, SourceSpec]
) -> RenderableType:
    """Every device a name stands for (``h100``: three), each in full, after a line naming them."""
    if len(devices) == 1:
        return render_catalog_device(devices[0], sources)
    ids = ", ".join(d.id for d in devices)
    heading = Text(f"{query!r} matches {len(devices)} catalog devices: {ids}", style="bold")
    return Group(heading, *(Group(Rule(), render_catalog_device(d, sources)) for d in devices))


def used_source_keys(devices: Iterable[DeviceSpec]) -> list[str]:
    """Source keys the devices cite, in order of first citation."""
    return list(dict.fromkeys(key for d in devices for keys in d.sources.values() for key in keys))


def _sources_to_dict(keys: Iterable[str], sources: Mapping[str, SourceSpec]) -> dict[str, Any]:
    return {key: dataclasses.asdict(sources[key]) for key in keys if key in sources}


def catalog_to_dict(devices: Sequence[DeviceSpec], sources: Mapping[str, SourceSpec]) -> dict[str, Any]:
    """The ``catalog list --json`` shape: every field of every device, and the sources they cite."""
    return {
        "devices": [dataclasses.asdict(d) for d in devices],
        "sources": _sources_to_dict(used_source_keys(devices), sources),
    }


def catalog_device_to_dict(device: DeviceSpec, sources: Mapping[str, SourceSpec]) -> dict[str, Any]:
    """The ``catalog show --json`` shape for one device: its fields and the sources it cites."""
    return {
        "device": dataclasses.asdict(device),
        "sources": _sources_to_dict(used_source_keys([device]), sources),
    }


def catalog_matches_to_dict(
    devices: Sequence[DeviceSpec], sources: Mapping[str, SourceSpec]
) -> dict[str, Any]:
    """``catalog show --json``: one device as ``{"device", "sources"}``; several as ``catalog list``."""
    if len(devices) == 1:
        return catalog_device_to_dict(devices[0], sources)
    return catalog_to_dict(devices, sources)
