"""The local link between processes, fitted from measured collectives, and the times it predicts.

``calibrate --nproc N`` measures each collective over message sizes (``measure/comm.py``) and
``fit_links`` turns each into a ``CollectiveLink`` with ``collectives.fit_link`` (latency and bus
bandwidth); ``collective_s`` predicts a collective's time from it with the ring model of
``collectives.collective_time_s``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from devicefit.predict.collectives import Collective, Link, collective_time_s, fit_link
from devicefit.records import CollectiveLink, Result
from devicefit.records.vocabulary import COMM_BENCHMARKS


def fit_links(results: Sequence[Result], device: str) -> dict[str, CollectiveLink]:
    """Fits a link per collective from ``device``'s measured collectives.

    Where several process counts were measured, the largest is fitted (the group a prediction
    for many GPUs is closest to). A collective with fewer than two sizes, or times that do not
    grow with size, gets no link.

    Args:
        results: Results of a run; ``ok`` collectives of ``device`` are used.
        device: Local id (``cpu``, ``cuda:0``).

    Returns:
        Links keyed by collective name (``all_reduce``...).
    """
    times: dict[tuple[str, int, str], dict[int, float]] = defaultdict(dict)
    for r in results:
        if (
            r.device == device
            and r.benchmark in COMM_BENCHMARKS
            and r.status == "ok"
            and r.median_s
            and r.size
            and r.num_processes
        ):
            backend = r.flags[0] if r.flags else ""
            times[(r.benchmark, r.num_processes, backend)][r.size] = r.median_s
    links: dict[str, CollectiveLink] = {}
    for (benchmark, processes, backend), by_size in sorted(times.items(), key=lambda item: item[0][1]):
        sizes = sorted(by_size)
        try:
            link = fit_link(benchmark, processes, sizes, [by_size[s] for s in sizes])  # type: ignore[arg-type]
        except ValueError:
            continue
        links[benchmark] = CollectiveLink(
            bus_bytes_per_s=link.bus_bytes_per_s,
            latency_s=link.latency_s,
            num_processes=processes,
            backend=backend,
        )
    return links


def collective_s(
    link: CollectiveLink, collective: Collective, size_bytes: float, num_processes: int
) -> float:
    """Predicted time of one collective of ``size_bytes`` over ``num_processes`` processes on ``link``."""
    return collective_time_s(
        collective,
        size_bytes,
        num_processes,
        Link(bus_bytes_per_s=link.bus_bytes_per_s, latency_s=link.latency_s),
    )
