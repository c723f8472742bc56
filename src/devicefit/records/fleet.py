"""Records of a fleet benchmark: what each cluster node measured, and the run they were stored as."""

from __future__ import annotations

from dataclasses import dataclass

from devicefit.records.hardware import DeviceDescription
from devicefit.records.measurement import Environment, Result


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNode:
    """A node of a Ray cluster, as the driver sees it before sending it work.

    Attributes:
        node_id: Ray's node id (hex).
        address: The node's IP address.
        hostname: The node's host name.
        num_cpus: CPUs Ray schedules on it.
        num_gpus: GPUs Ray schedules on it.
    """

    node_id: str
    address: str
    hostname: str
    num_cpus: float
    num_gpus: float

    @property
    def name(self) -> str:
        """Host name and the start of the node id: unique, even for simulated nodes on one host."""
        return f"{self.hostname}-{self.node_id[:6]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeBench:
    """What one node measured, with its identity and environment.

    Attributes:
        node: The node's name (``ClusterNode.name``); its devices' ids are prefixed ``NODE/``.
        environment: The node's software and machine.
        devices: The devices it measured, ids prefixed with the node.
        results: Its results, each with ``node`` set and its device id prefixed.
        outlier: Why it is slower than the fleet (``None``: it is not, or it has no peer to compare).
    """

    node: str
    environment: Environment
    devices: tuple[DeviceDescription, ...]
    results: tuple[Result, ...]
    outlier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetOutcome:
    """A fleet benchmark stored as one run: a ``NodeBench`` per node."""

    run_id: int
    nodes: tuple[NodeBench, ...]
