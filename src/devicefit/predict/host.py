"""The host CPU that launches a GPU's work: its single-thread speed, and a GPU's host costs scaled to it.

An eager PyTorch step on a GPU is driven from Python: every operator call runs the dispatcher and
the CUDA driver on one host core, and at small batches the kernels finish before the next launch,
so the step costs what the host does (``roofline._phase``). That work is serial, branchy integer
code: its time goes as the inverse of one core's speed, its boost clock times what the core does
per clock (``cpu_cores.toml`` ``[[per_clock]]``, relative to Intel's Skylake core). The GPU host
costs of ``defaults.toml`` are for a reference host (``[host] reference``, a DGX H100's Xeon
Platinum 8480C); on another host they take the reference's speed over that host's. A calibrated
GPU's host costs were measured on this machine's CPU, and scale from its speed instead.

The trade-off: one number per core. Clock times per-clock speed leaves out how the host's caches
and memory serve the driver, and the clock a busy server sustains (the single-core boost is used).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from devicefit.catalog import Catalog
from devicefit.catalog.cores import per_clock_for_architecture
from devicefit.data import load_packaged_toml
from devicefit.errors import UsageError
from devicefit.records import DeviceDescription, DeviceModel, DeviceSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """A host CPU's single-thread speed.

    Attributes:
        name: Readable name (``Intel Xeon Platinum 8480C``).
        device: Its catalog id, or ``local`` for this machine's CPU.
        clock_hz: Its single-core maximum (boost) clock.
        relative_per_clock: Its core's speed per clock, Intel's Skylake core being 1.
        source: Where the per-clock figure came from.
    """

    name: str
    device: str
    clock_hz: float
    relative_per_clock: float
    source: str

    @property
    def speed_hz(self) -> float:
        """Skylake-equivalent cycles per second of one core: clock times per-clock speed."""
        return self.clock_hz * self.relative_per_clock


def catalog_host(spec: DeviceSpec) -> Host:
    """A catalog CPU as a host.

    Raises:
        UsageError: If it is not a CPU, or lacks a boost clock or a per-clock figure for its core.
    """
    if spec.kind != "cpu":
        raise UsageError(
            f"host {spec.id} is a {spec.kind.upper()}, not a CPU", fix="Name a catalog CPU with --host"
        )
    per_clock = per_clock_for_architecture(spec.architecture)
    if spec.boost_clock_hz is None or per_clock is None:
        missing = "boost clock" if spec.boost_clock_hz is None else f"per-clock speed for {spec.architecture}"
        raise UsageError(
            f"host {spec.id} has no {missing} to scale host costs by",
            fix="Name another catalog CPU with --host, or add the figure in a user catalog (--catalog FILE)",
        )
    return Host(
        name=spec.name,
        device=spec.id,
        clock_hz=spec.boost_clock_hz,
        relative_per_clock=per_clock.relative_per_clock,
        source=per_clock.source,
    )


def find_host(catalog: Catalog, name: str) -> Host:
    """The catalog CPU ``--host`` names (``8480c``, ``epyc 7742``).

    Raises:
        UsageError: One line naming the catalog's CPUs when no CPU (or more than one) matches.
    """
    cpus = [d.id for d in catalog.devices if d.kind == "cpu"]
    fix = f"Name one of the catalog's CPUs: {', '.join(cpus)}"
    try:
        matches = [d for d in catalog.resolve(name) if d.kind == "cpu"]
    except UsageError:
        matches = []
    if not matches:
        raise UsageError(f"no catalog CPU matches host {name!r}", fix=fix)
    if len(matches) > 1:
        raise UsageError(
            f"host {name!r} matches {len(matches)} catalog CPUs: {', '.join(d.id for d in matches)}",
            fix="Name one of them",
        )
    return catalog_host(matches[0])


@functools.cache
def _host_defaults() -> dict[str, str]:
    return dict(load_packaged_toml("devicefit.predict", "defaults.toml")["host"])


def _named(catalog: Catalog, key: str) -> Host:
    """The host ``defaults.toml`` ``[host]`` names under ``key`` (``reference``, ``desktop``)."""
    device_id = _host_defaults()[key]
    spec = catalog.get(device_id)
    if spec is None:
        raise UsageError(
            f"the catalog has no CPU {device_id!r}, the {key} host of the GPU defaults",
            fix="Restore the packaged catalog entry, or add it in a user catalog (--catalog FILE)",
        )
    return catalog_host(spec)


def reference_host(catalog: Catalog) -> Host:
    """The host the GPU defaults' host costs are for (``defaults.toml`` ``[host] reference``)."""
    return _named(catalog, "reference")


def local_host(cpu: DeviceDescription, catalog: Catalog) -> Host | None:
    """This machine's CPU as a host: its catalog entry's figures, else its probed clock and core.

    ``None`` when its clock or its core's per-clock speed is not known.
    """
    spec = catalog.get(cpu.catalog_id) if cpu.catalog_id else None
    if spec is not None and spec.kind == "cpu":
        try:
            return dataclasses.replace(catalog_host(spec), device="local")
        except UsageError:
            pass
    properties = cpu.cpu
    per_clock = per_clock_for_architecture(properties.microarchitecture) if properties else None
    if properties is None or per_clock is None or not properties.max_clock_hz:
        return None
    return Host(
        name=f"this machine's {cpu.name}",
        device="local",
        clock_hz=properties.max_clock_hz,
        relative_per_clock=per_clock.relative_per_clock,
        source=per_clock.source,
    )


def typical_host(spec: DeviceSpec, catalog: Catalog) -> tuple[Host, str]:
    """The host a catalog GPU usually has, and why it was chosen.

    Its own ``typical_host`` (a DGX's CPU); else, for a GeForce card, the desktop host; else that of
    a catalog GPU of its architecture that has one (its generation's DGX); else the reference host.
    """
    if spec.typical_host:
        return _catalog_cpu(catalog, spec.typical_host), f"the usual host of the {spec.name}"
    if "geforce" in spec.name.lower():
        return _named(catalog, "desktop"), "a desktop host, for a GeForce card"
    sibling = next(
        (
            d
            for d in catalog.devices
            if d.typical_host and d.kind == spec.kind and d.architecture == spec.architecture
        ),
        None,
    )
    if sibling is not None and sibling.typical_host:
        why = f"the usual host of its generation's {sibling.name}"
        return _catalog_cpu(catalog, sibling.typical_host), why
    return reference_host(catalog), "no usual host known for it: the reference host of the GPU defaults"


def _catalog_cpu(catalog: Catalog, device_id: str) -> Host:
    spec = catalog.get(device_id)
    if spec is None:
        raise UsageError(
            f"the catalog has no CPU {device_id!r}, named as a GPU's typical host",
            fix="Correct typical_host in the catalog, or name a host with --host",
        )
    return catalog_host(spec)


def on_host(model: DeviceModel, host: Host, *, measured_on: Host) -> DeviceModel:
    """A GPU's model with its host costs moved from the host they were measured on to ``host``.

    Every per-call host time scales by ``measured_on.speed_hz / host.speed_hz``: the launches, the
    autograd engine's calls, views, module calls, a convolution's setup and the optimizer's loop.
    """
    ratio = measured_on.speed_hz / host.speed_hz
    return dataclasses.replace(
        model,
        op_overhead_s=model.op_overhead_s * ratio,
        backward_op_overhead_s=model.backward_op_overhead_s * ratio,
        recorded_op_overhead_s=None
        if model.recorded_op_overhead_s is None
        else model.recorded_op_overhead_s * ratio,
        view_overhead_s=model.view_overhead_s * ratio,
        module_overhead_s=model.module_overhead_s * ratio,
        conv_overhead_s=model.conv_overhead_s * ratio,
        optimizer_tensor_s={k: v * ratio for k, v in model.optimizer_tensor_s.items()},
        optimizer_step_s={k: v * ratio for k, v in model.optimizer_step_s.items()},
        host=host.name,
    )
