"""Collective communication costs: the ring algorithms' time over a link, and the bus-bandwidth convention.

NCCL and gloo run large collectives as rings. Over ``n`` ranks, a ring all-reduce sends and receives
``2(n-1)/n`` of the message per rank (a reduce-scatter, then an all-gather); reduce-scatter and
all-gather ``(n-1)/n`` each; a broadcast (pipelined along the ring) the message once. ``nccl-tests``
reports *bus bandwidth*: the message size over the time, times that same factor, so that one figure,
the link's, describes every collective and every rank count (NVIDIA/nccl-tests, doc/PERFORMANCE.md).

The time model is the usual latency-bandwidth one (Hockney's alpha-beta, as in Thakur, Rabenseifner
and Gropp, "Optimization of Collective Communication Operations in MPICH", IJHPCA 2005):
``t = steps x latency + factor x size / bus_bandwidth``, with ``2(n-1)`` latency steps for an
all-reduce ring and ``n-1`` for the others. ``fit_link`` takes that model's two figures from measured
times, as ``calibrate`` does for the local links.

The trade-off: one ring, no tree algorithms (NCCL switches to trees for small messages across nodes)
and no contention between collectives running at once.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Literal

Collective = Literal["all_reduce", "all_gather", "reduce_scatter", "broadcast"]
COLLECTIVES: tuple[Collective, ...] = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")


@dataclasses.dataclass(frozen=True)
class Link:
    """A link's collective figures: bus bandwidth and the latency of one ring step."""

    bus_bytes_per_s: float
    latency_s: float


def bus_factor(collective: Collective, ranks: int) -> float:
    """The bytes each rank moves per byte of message (nccl-tests' bus-bandwidth factor)."""
    if ranks < 1:
        raise ValueError(f"a collective needs at least one rank, not {ranks}")
    if collective == "all_reduce":
        return 2 * (ranks - 1) / ranks
    if collective in ("all_gather", "reduce_scatter"):
        return (ranks - 1) / ranks
    return 1.0 if ranks > 1 else 0.0


def ring_steps(collective: Collective, ranks: int) -> int:
    """The number of sequential ring steps, each paying the link's latency once."""
    if ranks <= 1:
        return 0
    return 2 * (ranks - 1) if collective == "all_reduce" else ranks - 1


def collective_time_s(collective: Collective, size_bytes: float, ranks: int, link: Link) -> float:
    """Time of one collective of ``size_bytes`` (the whole message) over ``ranks`` ranks on ``link``."""
    if ranks <= 1:
        return 0.0
    factor = bus_factor(collective, ranks)
    return ring_steps(collective, ranks) * link.latency_s + factor * size_bytes / link.bus_bytes_per_s


def bus_bandwidth(collective: Collective, size_bytes: float, ranks: int, time_s: float) -> float:
    """A measured collective's bus bandwidth (bytes/s), the figure ``nccl-tests`` prints as busbw."""
    return bus_factor(collective, ranks) * size_bytes / time_s


def fit_link(
    collective: Collective, ranks: int, sizes_bytes: Sequence[float], times_s: Sequence[float]
) -> Link:
    """The latency and bus bandwidth that explain measured times, each from the regime it governs.

    Hockney's way: the bandwidth is the slope of the large messages (those taking at least
    ``BANDWIDTH_REGIME`` times the smallest's time), the latency what the small messages take beyond
    their bytes (the median over those whose bytes are under a quarter of their time). A single
    least-squares line over all sizes would trade one regime against the other: gloo and NCCL switch
    algorithms between them, so the small messages sit on a floor that such a line passes under.
    With fewer than two large messages the slope comes from every size.

    Raises:
        ValueError: With fewer than two sizes, or times that do not grow with size.
    """
    if len(sizes_bytes) != len(times_s) or len(sizes_bytes) < 2:
        raise ValueError("fitting a link needs the times of at least two message sizes")
    points = sorted(zip((bus_factor(collective, ranks) * s for s in sizes_bytes), times_s, strict=True))
    smallest_s = points[0][1]
    large = [(x, t) for x, t in points if t >= BANDWIDTH_REGIME * smallest_s]
    slope = _slope(large if len(large) >= 2 else points)
    if slope <= 0:
        raise ValueError("the measured times do not grow with the message size")
    small = [t - slope * x for x, t in points if slope * x < 0.25 * t] or [
        points[0][1] - slope * points[0][0]
    ]
    steps = max(ring_steps(collective, ranks), 1)
    return Link(bus_bytes_per_s=1.0 / slope, latency_s=max(statistics.median(small), 0.0) / steps)


#: A message is in the bandwidth regime when it takes at least this many times the smallest's time.
BANDWIDTH_REGIME = 4.0


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of time against bytes."""
    if len(points) < 2:
        return 0.0
    slope, _ = statistics.linear_regression([x for x, _ in points], [t for _, t in points])
    return slope
