"""Nodes slower than the fleet: each node's times against the fleet's median for the same device and case."""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Sequence

from devicefit.records import NodeBench, Result
from devicefit.records.vocabulary import SECONDS

#: A node is flagged when its typical case takes this much longer than the fleet's median for the
#: same device and case: 25% slower, the issue's example of a throttled GPU or a slow node; runs of
#: one machine differ by a few percent (noise warnings start at 10% IQR).
SLOW_FACTOR = 1.25


def _time(result: Result) -> float | None:
    """Time per unit of work: the value itself for times, its inverse for rates."""
    if result.status != "ok" or not result.value:
        return None
    return result.value if result.unit == SECONDS else 1.0 / result.value


def flag_outliers(nodes: Sequence[NodeBench]) -> tuple[NodeBench, ...]:
    """Returns the nodes with ``outlier`` set where a device of theirs is slower than the fleet.

    Results are compared by the device's name (the same CPU model, the same GPU) and the case id.
    A device's slowdown is the median, over its cases that another node also measured, of its time
    over the fleet's median time. The median keeps one noisy case from flagging a node; a device
    that no other node has is never judged.
    """
    names = {d.id: d.name for n in nodes for d in n.devices}
    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for node in nodes:
        for result in node.results:
            time = _time(result)
            if time is not None:
                times[(names.get(result.device, result.device), result.case_id)][node.node] = time
    flagged = []
    for node in nodes:
        reasons = []
        for device in node.devices:
            ratios = {
                case: by_node[node.node] / statistics.median(by_node.values())
                for (name, case), by_node in times.items()
                if name == device.name and node.node in by_node and len(by_node) > 1
            }
            if not ratios:
                continue
            typical = statistics.median(ratios.values())
            if typical > SLOW_FACTOR:
                worst = max(ratios, key=lambda case: ratios[case])
                reasons.append(
                    f"{device.id}: {typical:.2f}x the fleet's median time over {len(ratios)} cases"
                    f" (slowest {worst}: {ratios[worst]:.2f}x)"
                )
        flagged.append(dataclasses.replace(node, outlier="; ".join(reasons) or None))
    return tuple(flagged)
