"""Records of energy: what a meter read over a window, per domain, and how it was obtained."""

from __future__ import annotations

from dataclasses import dataclass

from devicefit.records.vocabulary import EnergyMethod


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyDomain:
    """The energy of one part a meter reads separately (a CPU package, its DRAM, a GPU board).

    Attributes:
        name: ``package-0``, ``package-0/dram``, ``gpu``.
        energy_j: Joules it used over the window.
    """

    name: str
    energy_j: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyReading:
    """The energy a device used over a metered window; never a silent zero.

    Attributes:
        method: ``counter``, ``sampled``, ``estimate`` or ``none`` (no meter: ``note`` says why).
        meter: What was read (``NVML total energy counter``, ``RAPL powercap``), empty when none.
        duration_s: Length of the window, by the meter's clock.
        energy_j: Joules over the window (the sum of ``domains``); ``None`` when nothing was read.
        domains: The parts read, each with its joules.
        resolution_j: The counter's smallest step, where it has one.
        sample_period_s: Time between power samples of a ``sampled`` reading.
        num_samples: Power samples integrated by a ``sampled`` reading.
        note: Why there is no figure, or what the figure covers beyond the work (a whole package).
    """

    method: EnergyMethod
    duration_s: float
    meter: str = ""
    energy_j: float | None = None
    domains: tuple[EnergyDomain, ...] = ()
    resolution_j: float | None = None
    sample_period_s: float | None = None
    num_samples: int | None = None
    note: str | None = None

    @property
    def power_w(self) -> float | None:
        """Average power over the window, or ``None`` without a figure."""
        if self.energy_j is None or self.duration_s <= 0:
            return None
        return self.energy_j / self.duration_s
