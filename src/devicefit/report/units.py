"""Turns SI values into readable text with a chosen prefix (like torch.utils.benchmark's select_unit)."""

from __future__ import annotations

import math

_DECIMAL = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_BINARY = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B"))
_SECONDS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
_SMALL = ((1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def _significant(value: float, digits: int = 3) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:.{decimals}f}"


def format_decimal(value: float, unit: str) -> str:
    """``1.53e11, "FLOP/s"`` -> ``"153 GFLOP/s"``; decimal prefixes, three significant digits."""
    for scale, prefix in _DECIMAL:
        if abs(value) >= scale:
            return f"{_significant(value / scale)} {prefix}{unit}"
    return f"{_significant(value)} {unit}"


def format_bytes(num_bytes: float) -> str:
    """``33554432`` -> ``"32 MiB"``; binary prefixes for sizes and capacities."""
    for scale, unit in _BINARY:
        if abs(num_bytes) >= scale:
            return f"{_significant(num_bytes / scale)} {unit}"
    return f"{num_bytes:g} B"


def format_seconds(seconds: float) -> str:
    """``3.8e-6`` -> ``"3.80 µs"``."""
    for scale, unit in _SECONDS:
        if abs(seconds) >= scale:
            return f"{_significant(seconds / scale)} {unit}"
    return f"{_significant(seconds / 1e-9)} ns"


def format_small(value: float, unit: str) -> str:
    """``0.0123, "J"`` -> ``"12.3 mJ"``: joules and watts, with prefixes below one as well."""
    for scale, prefix in _SMALL:
        if abs(value) >= scale:
            return f"{_significant(value / scale)} {prefix}{unit}"
    return f"{_significant(value / 1e-9)} n{unit}"


def format_count(count: float) -> str:
    """``1e7`` -> ``"10M"``: counts of elements, parameters, samples."""
    for scale, prefix in _DECIMAL:
        if abs(count) >= scale:
            text = _significant(count / scale)
            return f"{text.rstrip('0').rstrip('.') if '.' in text else text}{prefix}"
    return f"{count:g}"


def format_value(value: float, unit: str) -> str:
    """Formats a benchmark value in its unit: rates with decimal prefixes, times in s/ms/µs/ns."""
    if unit == "s":
        return format_seconds(value)
    if unit == "elements/s":
        return format_decimal(value, "elem/s")
    if unit == "samples/s":
        return f"{_significant(value)} samples/s"
    return format_decimal(value, unit)


def format_percent(fraction: float) -> str:
    """``0.973`` -> ``"97%"``; one decimal below 10%."""
    return f"{fraction:.1%}" if fraction < 0.1 else f"{fraction:.0%}"
