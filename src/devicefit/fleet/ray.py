"""Ray plumbing: connect to a cluster (or start a local one), list its alive nodes, run one task on each.

Each task is pinned to its node (``NodeAffinitySchedulingStrategy`` with ``soft=False``: it runs
there or not at all) and asks for all of the node's CPUs and GPUs, so that nothing else Ray
schedules shares the node while it measures. Ray is an optional dependency (``devicefit[fleet]``),
imported only when a fleet command runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from devicefit.errors import DevicefitError, UsageError
from devicefit.records import ClusterNode

#: ``--address local`` starts a Ray instance on this machine instead of joining a cluster.
LOCAL = "local"

T = TypeVar("T")


def is_ray_installed() -> bool:
    """Tells whether the ``ray`` package can be imported."""
    return importlib.util.find_spec("ray") is not None


def _ray() -> Any:
    if not is_ray_installed():
        raise UsageError(
            "the fleet commands need Ray, which is not installed", fix="pip install 'devicefit[fleet]'"
        )
    import ray

    return ray


@contextmanager
def connected(address: str, *, num_cpus: int | None = None) -> Iterator[None]:
    """Connects to the cluster at ``address`` (``local``: starts one here) for the block.

    A connection already open in this process (a test's cluster) is used and left open.

    Raises:
        DevicefitError: When no cluster answers at ``address``.
    """
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    try:
        if address == LOCAL:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise DevicefitError(
            f"cannot join the Ray cluster at {address!r}: {str(error).splitlines()[0]}",
            fix="Pass the head node's address (ray://HOST:10001 or HOST:6379), or --address local",
        ) from error
    try:
        yield
    finally:
        ray.shutdown()


def alive_nodes() -> list[ClusterNode]:
    """The cluster's alive nodes, in Ray's order."""
    ray = _ray()
    return [
        ClusterNode(
            node_id=node["NodeID"],
            address=node["NodeManagerAddress"],
            hostname=node["NodeManagerHostname"],
            num_cpus=float(node["Resources"].get("CPU", 0.0)),
            num_gpus=float(node["Resources"].get("GPU", 0.0)),
        )
        for node in ray.nodes()
        if node["Alive"]
    ]


def run_on_each_node(job: Callable[..., T], nodes: Sequence[ClusterNode], *args: Any) -> list[T]:
    """Runs ``job(node, *args)`` as one task pinned to each node; returns what each returned, in order.

    Raises:
        DevicefitError: When a node's task fails (its error names the node).
    """
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(job)
    pending = [
        remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            num_cpus=node.num_cpus,
            num_gpus=node.num_gpus,
            max_retries=0,
        ).remote(node, *args)
        for node in nodes
    ]
    returned = []
    for node, reference in zip(nodes, pending, strict=True):
        try:
            returned.append(ray.get(reference))
        except ray.exceptions.RayError as error:
            raise DevicefitError(
                f"the benchmark failed on node {node.name} ({node.address}): {str(error).splitlines()[0]}",
                fix="Rerun with --debug; check that devicefit and torch are installed on every node",
            ) from error
    return returned
