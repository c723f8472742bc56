"""Energy meters: a window opened before timed work and closed after it returns an ``EnergyReading``.

Three kinds, by what the hardware offers:

- ``CounterMeter`` reads cumulative energy counters (NVML's total energy, RAPL's ``energy_uj``)
  at both ends of the window and takes the difference, unwrapping a counter that rolled over;
- ``SampledMeter`` reads instantaneous power in a background thread and integrates it with the
  trapezoid rule (the fallback on GPUs older than Volta, whose NVML has no energy counter);
- ``NoMeter`` reads nothing and says why, so a result never carries a silent zero.

A meter never raises out of a window: a counter that fails mid-way gives a ``none`` reading whose
note holds the error. Meters are built by the device that owns them (``Device.energy_meter``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from devicefit.records import EnergyDomain, EnergyReading

#: Closes a metered window and returns what was read over it.
StopMeter = Callable[[], EnergyReading]


class EnergyMeter(Protocol):
    """Meters the energy of a device over windows of time."""

    def start(self) -> StopMeter:
        """Opens a window; calling the returned function closes it and returns the reading."""


@dataclass(frozen=True, slots=True)
class NoMeter:
    """A device without a readable meter: every window reads ``none`` with the reason.

    Args:
        reason: Why, and the fix where there is one (``energy_uj needs root since Linux 5.10``).
        clock: Seconds, for the window's length.
    """

    reason: str
    clock: Callable[[], float] = time.perf_counter

    def start(self) -> StopMeter:
        """Opens a window that reads nothing."""
        start_s = self.clock()
        return lambda: EnergyReading(method="none", duration_s=self.clock() - start_s, note=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Counter:
    """One cumulative energy counter.

    Attributes:
        name: The domain it covers (``package-0``, ``gpu``).
        read_j: Returns the counter in joules; may raise (the meter records the failure).
        range_j: The counter restarts from zero after this many joules (RAPL's
            ``max_energy_range_uj``); ``None`` for a counter that does not wrap in practice (NVML's
            64-bit millijoules).
    """

    name: str
    read_j: Callable[[], float]
    range_j: float | None = None


def counter_delta_j(before_j: float, after_j: float, range_j: float | None) -> float | None:
    """The energy between two counter readings, across one wrap; ``None`` if it cannot be known.

    A counter that went backwards wrapped once, if it has a range (more than one wrap in a window is
    indistinguishable from one: RAPL's 32-bit counters span about 65 kJ at 15.3 µJ units, more on
    servers, which lasts minutes at hundreds of watts, and a benchmark window seconds). Without a
    range, a backwards counter was reset (a driver reload) and the window has no figure.
    """
    if after_j >= before_j:
        return after_j - before_j
    if range_j is None:
        return None
    return after_j + range_j - before_j


class CounterMeter:
    """Reads cumulative counters at both ends of the window; the reading is their summed difference.

    Args:
        counters: The counters read together (a package and its DRAM).
        meter: What they are, for the reading (``RAPL powercap``).
        resolution_j: The counters' smallest step.
        note: What the figure covers, kept with every reading (a whole package, every process on it).
        clock: Seconds, for the window's length and the average power.
    """

    def __init__(
        self,
        counters: Sequence[Counter],
        *,
        meter: str,
        resolution_j: float | None,
        note: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.counters = tuple(counters)
        self.meter = meter
        self.resolution_j = resolution_j
        self.note = note
        self.clock = clock

    def _read(self) -> tuple[float, list[float]]:
        return self.clock(), [counter.read_j() for counter in self.counters]

    def start(self) -> StopMeter:
        """Reads every counter now; the returned function reads them again and takes the difference."""
        try:
            start_s, before = self._read()
        except Exception as error:
            return NoMeter(f"no meter: {self.meter} could not be read ({error})", self.clock).start()

        def stop() -> EnergyReading:
            try:
                end_s, after = self._read()
            except Exception as error:
                return self._none(self.clock() - start_s, f"{self.meter} could not be read ({error})")
            domains = []
            for counter, first, last in zip(self.counters, before, after, strict=True):
                delta = counter_delta_j(first, last, counter.range_j)
                if delta is None:
                    return self._none(end_s - start_s, f"the {counter.name} counter went backwards (reset?)")
                domains.append(EnergyDomain(name=counter.name, energy_j=delta))
            return EnergyReading(
                method="counter",
                meter=self.meter,
                duration_s=end_s - start_s,
                energy_j=sum(d.energy_j for d in domains),
                domains=tuple(domains),
                resolution_j=self.resolution_j,
                note=self.note,
            )

        return stop

    def _none(self, duration_s: float, why: str) -> EnergyReading:
        return EnergyReading(method="none", meter=self.meter, duration_s=duration_s, note=f"no figure: {why}")


def integrate_power_j(samples: Sequence[tuple[float, float]]) -> float:
    """Joules from ``(time_s, power_w)`` samples in time order, by the trapezoid rule."""
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:], strict=False))


#: Seconds between power samples: a 0.25 s window of ``bench --quick`` still gets about 25 samples,
#: and one NVML power query (tens of µs) every 10 ms takes under 1% of the interpreter from the
#: timed loop.
DEFAULT_SAMPLE_PERIOD_S = 0.01


class SampledMeter:
    """Samples power in a background thread over the window and integrates it.

    Sampled power misses what happens between samples and lags the board's own averaging window, so
    it is the fallback to a counter, labelled ``sampled``.

    Args:
        read_w: Returns the instantaneous power in watts; may raise (the reading records it).
        meter: What it reads (``NVML power usage``).
        period_s: Time between samples.
        resolution_w: The power reading's smallest step, for the note.
        clock: Seconds; the samples' time stamps.
    """

    def __init__(
        self,
        read_w: Callable[[], float],
        *,
        meter: str,
        period_s: float = DEFAULT_SAMPLE_PERIOD_S,
        resolution_w: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.read_w = read_w
        self.meter = meter
        self.period_s = period_s
        self.resolution_w = resolution_w
        self.clock = clock

    def start(self) -> StopMeter:
        """Starts the sampling thread; the returned function stops it and integrates the samples."""
        samples: list[tuple[float, float]] = []
        errors: list[Exception] = []
        done = threading.Event()

        def sample() -> None:
            try:
                samples.append((self.clock(), self.read_w()))
            except Exception as error:
                errors.append(error)
                done.set()

        def loop() -> None:
            while not done.wait(self.period_s):
                sample()

        start_s = self.clock()
        sample()
        thread = threading.Thread(target=loop, name="devicefit-power-sampler", daemon=True)
        thread.start()

        def stop() -> EnergyReading:
            done.set()
            thread.join()
            if not errors:
                sample()
            duration_s = self.clock() - start_s
            if errors or len(samples) < 2:
                why = f"could not be read ({errors[0]})" if errors else "took fewer than 2 samples"
                return EnergyReading(
                    method="none",
                    meter=self.meter,
                    duration_s=duration_s,
                    note=f"no figure: {self.meter} {why}",
                )
            resolution = f", {self.resolution_w * 1e3:g} mW steps" if self.resolution_w else ""
            return EnergyReading(
                method="sampled",
                meter=self.meter,
                duration_s=samples[-1][0] - samples[0][0],
                energy_j=integrate_power_j(samples),
                sample_period_s=self.period_s,
                num_samples=len(samples),
                note=f"power sampled every {self.period_s * 1e3:g} ms{resolution} and integrated",
            )

        return stop
