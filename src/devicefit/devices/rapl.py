"""CPU energy from Linux powercap's RAPL zones (``/sys/class/powercap/intel-rapl:*``).

Each package zone (``package-N``) counts the energy of one socket (cores, caches, memory
controller) in ``energy_uj``; a ``dram`` subzone, where the platform has one, counts its memory.
Their sum is the CPU's energy; the ``core``, ``uncore`` and ``psys`` zones are left out (the first
two lie inside the package, the last covers the whole platform), and so are ``intel-rapl-mmio``
zones (a second view of the same package). AMD processors since Zen report through the same
``intel-rapl`` tree on recent kernels, with package zones only.

``energy_uj`` is readable by root alone since Linux 5.10 (CVE-2020-8694, the PLATYPUS power side
channel), and virtual machines rarely expose powercap at all: both give a ``NoMeter`` naming the
reason and the fix. The root of the tree is a parameter, so tests replay recorded trees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devicefit.devices.energy import Counter, CounterMeter, EnergyMeter, NoMeter

POWERCAP_ROOT = Path("/sys/class/powercap")
#: ``energy_uj`` counts micro-joules (the hardware's own unit, 15.3 or 61 µJ, is coarser and not exposed).
_UJ = 1e-6


@dataclass(frozen=True, slots=True)
class Zone:
    """A RAPL zone whose energy counts toward the CPU's.

    Attributes:
        name: ``package-0``, or ``package-0/dram`` for a subzone.
        path: Its directory.
    """

    name: str
    path: Path


def _read(path: Path) -> str:
    return path.read_text().strip()


def find_zones(root: Path, read: Callable[[Path], str] = _read) -> list[Zone]:
    """The package zones under ``root`` and their ``dram`` subzones, in a stable order.

    Real trees list each subzone twice (nested in its package, and as a link beside it); both views
    are read and each zone kept once.
    """
    zones: dict[Path, Zone] = {}
    for package in sorted(root.glob("intel-rapl:*")):
        if package.name.count(":") != 1 or not (package / "name").is_file():
            continue
        name = read(package / "name")
        if not name.startswith("package"):
            continue
        zones.setdefault(package.resolve(), Zone(name, package))
        for sub in sorted(package.glob("intel-rapl:*")):
            if (sub / "name").is_file() and read(sub / "name") == "dram":
                zones.setdefault(sub.resolve(), Zone(f"{name}/dram", sub))
    return list(zones.values())


def _joules_of(path: Path, read: Callable[[Path], str]) -> Callable[[], float]:
    return lambda: int(read(path)) * _UJ


def _unreadable(path: Path, error: Exception) -> str:
    if isinstance(error, PermissionError):
        return (
            f"no meter: {path} needs root since Linux 5.10: run as root, or "
            f"'sudo chmod a+r {path.parent.parent}/intel-rapl:*/energy_uj' (and the dram subzones')"
        )
    if isinstance(error, OSError):
        return f"no meter: {path} cannot be read ({error.strerror or error})"
    return f"no meter: {path} holds no number ({error})"


def rapl_meter(
    root: Path = POWERCAP_ROOT,
    *,
    read: Callable[[Path], str] = _read,
    clock: Callable[[], float] = time.perf_counter,
) -> EnergyMeter:
    """The CPU's RAPL meter, or a ``NoMeter`` saying why there is none.

    Args:
        root: The powercap tree (``/sys/class/powercap``; a recorded copy in tests).
        read: Reads a sysfs file as text.
        clock: Seconds, for the windows' lengths.
    """
    if not root.is_dir():
        return NoMeter(f"no meter: {root} absent (a VM, or a kernel without powercap)", clock)
    zones = find_zones(root, read)
    if not zones:
        return NoMeter(f"no meter: no RAPL package zone under {root} (intel_rapl driver not loaded?)", clock)
    counters = []
    for zone in zones:
        energy = zone.path / "energy_uj"
        try:
            int(read(energy))
        except (OSError, ValueError) as error:
            return NoMeter(_unreadable(energy, error), clock)
        try:
            range_j: float | None = int(read(zone.path / "max_energy_range_uj")) * _UJ
        except (OSError, ValueError):
            range_j = None
        counters.append(Counter(name=zone.name, read_j=_joules_of(energy, read), range_j=range_j))
    return CounterMeter(
        counters,
        meter=f"RAPL powercap ({', '.join(z.name for z in zones)})",
        resolution_j=_UJ,
        note="whole CPU package: every process on it and its idle power count",
        clock=clock,
    )
