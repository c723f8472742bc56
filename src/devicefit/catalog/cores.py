"""The CPU core table (``cpu_cores.toml``): FMA units and width of a core, by CPUID or architecture."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devicefit.data import load_packaged_toml


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreSpec:
    """FMA throughput of one core, from ``cpu_cores.toml`` or assumed from the ISA."""

    name: str
    fma_units: int
    fma_width_bits: int
    source: str


@functools.cache
def core_table() -> tuple[dict[str, Any], ...]:
    """The entries of the packaged ``cpu_cores.toml``, in match order (read once)."""
    return tuple(load_packaged_toml("devicefit.catalog", "cpu_cores.toml")["cores"])


def select_core(
    *,
    vendor: str,
    family: int | None,
    model: int | None,
    brand: str,
    features: Sequence[str],
    table: Sequence[Mapping[str, Any]],
) -> CoreSpec:
    """Finds the FMA configuration of a core, falling back to what the ISA implies.

    Args:
        vendor: CPUID vendor (``GenuineIntel``, ``AuthenticAMD``) or ``""``.
        family: CPUID family (decimal), if known.
        model: CPUID model (decimal), if known.
        brand: The brand string (``Apple M2``...).
        features: Normalized ISA feature flags.
        table: Entries of ``cpu_cores.toml``.

    Returns:
        The first matching entry, or an assumption named as such in ``source``.
    """
    for entry in table:
        if "vendor" in entry and entry["vendor"] != vendor:
            continue
        if "family" in entry and entry["family"] != family:
            continue
        if "models" in entry and (model is None or not any(lo <= model <= hi for lo, hi in entry["models"])):
            continue
        if "brand" in entry and not re.search(entry["brand"], brand):
            continue
        if "isa" in entry and entry["isa"] not in features:
            continue
        return _core_spec(entry)
    # No entry: assume the common configuration of the widest ISA present, and say so.
    if "avx512f" in features:
        width, units = 512, 2
    elif "avx2" in features or "fma" in features:
        width, units = 256, 2
    elif "asimd" in features:
        width, units = 128, 2
    else:
        width, units = 128, 1
    return CoreSpec(
        name="unknown core",
        fma_units=units,
        fma_width_bits=width,
        source=f"assumed: no entry in cpu_cores.toml; {units} x {width}-bit FMA units from the ISA",
    )


def core_for_architecture(architecture: str | None) -> CoreSpec | None:
    """The FMA configuration of a core architecture named as the hardware catalog does (``zen4``).

    ``None`` where ``cpu_cores.toml`` has no entry for it.
    """
    entry = next((e for e in core_table() if architecture in e.get("architectures", ())), None)
    return None if entry is None else _core_spec(entry)


def _core_spec(entry: Mapping[str, Any]) -> CoreSpec:
    return CoreSpec(
        name=entry["name"],
        fma_units=entry["fma_units"],
        fma_width_bits=entry["fma_width_bits"],
        source=entry["source"],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PerClock:
    """A core's single-thread speed per clock relative to Intel's Skylake core (``cpu_cores.toml``)."""

    architecture: str
    relative_per_clock: float
    source: str


@functools.cache
def per_clock_table() -> tuple[dict[str, Any], ...]:
    """The ``[[per_clock]]`` entries of the packaged ``cpu_cores.toml``, in match order (read once)."""
    return tuple(load_packaged_toml("devicefit.catalog", "cpu_cores.toml")["per_clock"])


def _per_clock(entry: Mapping[str, Any]) -> PerClock:
    return PerClock(
        architecture=entry["architecture"],
        relative_per_clock=float(entry["relative_per_clock"]),
        source=entry["source"],
    )


def per_clock_for_architecture(architecture: str | None) -> PerClock | None:
    """The per-clock speed of a core architecture named as the hardware catalog does (``zen2``).

    ``None`` where ``cpu_cores.toml`` has no figure for it.
    """
    for entry in per_clock_table():
        if architecture == entry["architecture"] or architecture in entry.get("also", ()):
            return _per_clock(entry)
    return None


def microarchitecture(*, vendor: str, family: int | None, model: int | None) -> str | None:
    """A core's microarchitecture (a catalog architecture id) from its CPUID; ``None`` if not listed."""
    for entry in per_clock_table():
        if entry["vendor"] != vendor or entry["family"] != family or model is None:
            continue
        if any(low <= model <= high for low, high in entry["models"]):
            return str(entry["architecture"])
    return None
