"""``fleet bench``: the same benchmark on every node of a Ray cluster, as one run, slow nodes flagged."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from devicefit.app.session import execute_cases, plan_cases
from devicefit.devices import select_devices
from devicefit.errors import UsageError
from devicefit.fleet.outliers import flag_outliers
from devicefit.fleet.ray import alive_nodes, connected, run_on_each_node
from devicefit.measure.bench_plan import SUITES
from devicefit.measure.environment import collect_environment, command_line
from devicefit.records import ClusterNode, FleetOutcome, NodeBench
from devicefit.store.sqlite import Store

#: ``--suite quick``: the micro suite's ``--quick`` sweep, the fleet's smoke test.
QUICK_SUITE = "quick"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeRequest:
    """What each node runs: ``bench``'s suite, sweep, filter and devices."""

    suite: str = "micro"
    quick: bool = False
    only: str | None = None
    device: str = "all"


def bench_node(node: ClusterNode, request: NodeRequest) -> NodeBench:
    """Runs on a node (a Ray task): measures its devices and returns the results tagged with the node.

    Device ids become ``NODE/ID`` (``host-1a2b3c/cuda:0``) so that one run keeps every node's
    devices apart; each result's ``node`` names the node.
    """
    quick = request.quick or request.suite == QUICK_SUITE
    suite = "micro" if request.suite == QUICK_SUITE else request.suite
    devices = select_devices(request.device)
    cases = plan_cases(devices, suite=suite, quick=quick, only=request.only)
    descriptions = tuple(d.properties() for d in devices)
    results = execute_cases(cases, devices, quick=quick, on_case=None, raise_errors=False)
    prefix = f"{node.name}/"
    return NodeBench(
        node=node.name,
        environment=collect_environment(descriptions),
        devices=tuple(dataclasses.replace(d, id=prefix + d.id) for d in descriptions),
        results=tuple(dataclasses.replace(r, device=prefix + r.device, node=node.name) for r in results),
    )


def fleet_bench(
    address: str,
    store: Store,
    request: NodeRequest,
    *,
    label: str | None = None,
    job: Callable[[ClusterNode, NodeRequest], NodeBench] = bench_node,
) -> FleetOutcome:
    """Runs ``request`` on every alive node of the cluster at ``address`` and stores the results as one run.

    The run's environment is this (the driver's) machine's; each node's devices and results carry
    the node's name, and the outcome each node's environment. Nodes slower than the fleet's median
    for the same device and case are flagged (``fleet.outliers``).

    Args:
        address: A Ray cluster address, or ``local`` to start Ray on this machine.
        store: Where the run goes.
        request: What each node runs.
        label: A note stored with the run; ``fleet of N nodes`` by default.
        job: What runs on each node (``bench_node``; tests pass a throttled one).

    Raises:
        UsageError: On an unknown suite (before joining the cluster, not on each node).
    """
    suites = (QUICK_SUITE, *SUITES, "all")
    if request.suite not in suites:
        raise UsageError(f"unknown suite {request.suite!r}", fix=f"Choose from: {', '.join(suites)}")
    with connected(address):
        nodes = alive_nodes()
        benches = flag_outliers(run_on_each_node(job, nodes, request))
    devices = tuple(d for bench in benches for d in bench.devices)
    with store.recording(
        command=command_line(),
        environment=collect_environment(()),
        devices=devices,
        label=label or f"fleet of {len(benches)} node{'s' if len(benches) != 1 else ''}",
    ) as recorder:
        for bench in benches:
            for result in bench.results:
                recorder.add(result)
    return FleetOutcome(run_id=recorder.run_id, nodes=benches)
