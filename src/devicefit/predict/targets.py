"""Resolves what ``predict --device`` names into device models: local devices and catalog entries."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from devicefit.catalog import Catalog
from devicefit.errors import UsageError
from devicefit.predict.calibration import BENCH_ERROR_BAND
from devicefit.predict.devices import catalog_default_model, local_default_model, transferred_model
from devicefit.predict.host import Host, find_host, local_host, on_host, reference_host, typical_host
from devicefit.predict.precision import HALF_DTYPES
from devicefit.records import DeviceDescription, DeviceKind, DeviceModel, DeviceSpec, MemoryKind

#: A local device's stored performance models on this host, best first, each with its origin
#: (``calibrate`` or ``bench``), as ``Store.calibrations`` reads them (any thread count).
StoredCalibrations = Sequence[tuple[str, DeviceModel]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A device to predict for.

    Attributes:
        model: Its performance model.
        memory_kind: Which memory model (allocator, runtime) applies.
        local: It is a device of this machine.
        architecture: Its catalog architecture (``hopper``), if known.
        notes: What the reader should know about where its figures came from.
    """

    model: DeviceModel
    memory_kind: MemoryKind
    local: bool
    architecture: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class Resolution:
    """Targets found, and catalog entries left out with the reason."""

    targets: list[Target] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


#: The local device ids ``--device`` can name (the rest are catalog names).
LOCAL_ID = re.compile(r"(cpu|cuda(:\d+)?|mps)")


def _items(query: str) -> list[str]:
    return [item.strip() for item in query.split(",") if item.strip()] or ["local"]


def needs_local_devices(query: str, calibrated_devices: Collection[str] | None) -> bool:
    """Whether resolving ``query`` needs this machine's devices, which probing them costs seconds.

    It does when ``query`` names them (``local``, ``all``, ``cpu``, ``cuda:0``), or when a GPU of this
    host is calibrated: a catalog GPU of its architecture borrows its calibration (``catalog_target``).
    Otherwise the local devices cannot change the targets, and catalog names resolve without them.

    Args:
        query: What ``--device`` names.
        calibrated_devices: The local ids with a stored model on this host (``None``: no store).
    """
    if any(item.lower() in ("local", "all") or LOCAL_ID.fullmatch(item.lower()) for item in _items(query)):
        return True
    if calibrated_devices is None:
        return False
    return any(device != "cpu" for device in calibrated_devices)


def _memory_kind(kind: DeviceKind | str) -> MemoryKind:
    return "cpu" if kind == "cpu" else ("mps" if kind == "mps" else "cuda")


def _usable(
    candidates: StoredCalibrations,
) -> tuple[DeviceModel | None, list[DeviceModel]]:
    """The best stored model not rejected, and the better-ranked ones that were.

    A bench fit predicts as ``bench`` with today's band for bench fits, also when stored before
    they had their own origin.
    """
    passed_over: list[DeviceModel] = []
    for origin, model in candidates:
        if origin == "bench":
            band = BENCH_ERROR_BAND.get(model.kind, model.error_band)
            model = dataclasses.replace(model, origin="bench", error_band=band)
        if not model.rejected:
            return model, passed_over
        passed_over.append(model)
    return None, passed_over


def _hosted(
    model: DeviceModel,
    *,
    wanted: Host | None,
    here: Host | None,
    catalog: Catalog,
    usual: tuple[Host, str] | None = None,
) -> DeviceModel:
    """A GPU's model on its host; its ``host`` names the host and why it was assumed.

    Host costs of the defaults are for the reference host; a calibration's (also transferred to a
    catalog GPU) were measured on this machine's CPU. They move to ``wanted`` (``--host``) when
    given; else the defaults move to the GPU's ``usual`` host (catalog GPUs) or to this machine's
    CPU (local GPUs), and a calibration's stay where they were measured.
    """
    measured_on = reference_host(catalog) if model.origin == "defaults" else here
    target: Host | None
    if wanted is not None:
        target, why = wanted, "--host"
    elif model.origin != "defaults":
        target, why = here, "this machine's CPU, which the calibration measured"
    elif usual is not None:
        target, why = usual
    elif here is not None:
        target, why = here, "this machine's CPU"
    else:
        target, why = measured_on, "this machine's CPU speed is unknown: the GPU defaults' reference host"
    if measured_on is None or target is None:
        return dataclasses.replace(
            model, host="this machine's CPU, as calibrated (its speed is unknown: --host cannot rescale it)"
        )
    return dataclasses.replace(on_host(model, target, measured_on=measured_on), host=f"{target.name} ({why})")


def _tensor_core_halves(
    spec: DeviceSpec | None, catalog: Catalog | None, device: DeviceDescription | None
) -> tuple[str, ...]:
    """Half precisions a GPU runs on tensor cores: its catalog entry's, else its architecture's."""
    if spec is not None:
        return tuple(d for d in HALF_DTYPES if d in spec.matrix_precisions)
    architecture = (
        catalog.architecture(device.gpu.compute_capability)
        if catalog is not None and device is not None and device.gpu
        else None
    )
    rates = architecture.matrix_flops_per_clock_per_multiprocessor if architecture else {}
    return tuple(d for d in HALF_DTYPES if d in rates)


def local_target(
    device: DeviceDescription,
    catalog: Catalog,
    calibrations: StoredCalibrations | None,
    *,
    num_threads: int | None = None,
    host: Host | None = None,
    here: Host | None = None,
) -> Target:
    """A local device's model: its best usable calibration on this host, else the defaults.

    A full calibration comes before a bench fit, and a newer before an older; a model whose
    measurements were rejected (a busy machine) is passed over, with a warning saying why.

    Args:
        device: The local device.
        catalog: For its architecture, when uncalibrated.
        calibrations: Its stored models on this host, best first; ``None`` to use the defaults.
        num_threads: On CPUs, the thread count to predict for (default: what torch uses).
        host: On GPUs, the host CPU to predict for (``--host``); default: this machine's CPU.
        here: This machine's CPU as a host, if its speed is known.
    """
    threads = num_threads or (device.cpu.num_threads if device.cpu else None)
    spec = catalog.get(device.catalog_id) if device.catalog_id else None
    architecture = spec.architecture if spec else None
    model = None
    passed_over: list[DeviceModel] = []
    notes: list[str] = []
    if calibrations is not None:
        at_threads = (
            calibrations if threads is None else [c for c in calibrations if c[1].num_threads == threads]
        )
        model, passed_over = _usable(at_threads)
        if model is None and threads is not None:
            model, others = _usable(calibrations)
            passed_over += [m for m in others if m not in passed_over]
            if model is not None:
                notes.append(
                    f"calibrated with {model.num_threads} threads, not {threads}; "
                    f"run 'devicefit calibrate' to fit {threads}"
                )
    if model is None:
        model = local_default_model(device, architecture)
        if device.kind == "cuda":
            model = dataclasses.replace(
                model, nchw_transpose_dtypes=_tensor_core_halves(spec, catalog, device)
            )
        if not passed_over:
            notes.append(
                f"{device.id} is not calibrated: run 'devicefit calibrate' for a prediction worth trusting"
            )
    if passed_over:
        rejected = passed_over[0]
        model = dataclasses.replace(
            model,
            warnings=(
                f"left out the fit of {rejected.source}: {rejected.rejected[0]}",
                *model.warnings,
            ),
        )
    if device.kind == "cuda":
        model = _hosted(model, wanted=host, here=here, catalog=catalog)
    return Target(
        model=model,
        memory_kind=_memory_kind(device.kind),
        local=True,
        architecture=architecture,
        notes=tuple(notes),
    )


def catalog_target(
    spec: DeviceSpec,
    references: list[Target],
    *,
    catalog: Catalog | None = None,
    host: Host | None = None,
    here: Host | None = None,
) -> Target:
    """A catalog device's model: transferred from a calibrated local device of its architecture, or defaults.

    A GPU's host costs are for ``host`` (``--host``), else for its usual host (defaults) or this
    machine's CPU (transferred); ``catalog`` is where hosts are looked up (without one, host costs
    stay as the defaults state them, for the reference host).

    Raises:
        UsageError: If the entry lacks the figures a prediction needs.
    """
    model = None
    for reference in references:
        if (
            spec.kind == "gpu"
            and reference.model.kind == "gpu"
            and reference.architecture == spec.architecture
            and reference.model.origin in ("calibrated", "bench")
        ):
            model = transferred_model(reference.model, spec)
            break
    if model is None:
        model = catalog_default_model(spec)
        if spec.kind == "gpu":
            model = dataclasses.replace(model, nchw_transpose_dtypes=_tensor_core_halves(spec, catalog, None))
    if spec.kind == "gpu" and spec.vendor != "apple" and catalog is not None:
        usual = typical_host(spec, catalog) if model.origin == "defaults" else None
        model = _hosted(model, wanted=host, here=here, catalog=catalog, usual=usual)
    return Target(
        model=model,
        memory_kind="cuda"
        if model.origin == "transferred"
        else _memory_kind("mps" if spec.vendor == "apple" else spec.kind),
        local=False,
        architecture=spec.architecture,
    )


def resolve_targets(
    query: str,
    *,
    local_devices: tuple[DeviceDescription, ...],
    catalog: Catalog,
    calibrations: Mapping[str, StoredCalibrations] | None,
    num_threads: int | None = None,
    host: str | None = None,
) -> Resolution:
    """Turns ``--device`` into targets.

    Args:
        query: ``local``, ``all``, or comma-separated local ids (``cpu``, ``cuda:0``) and catalog names
            (``h100``, ``a100 80gb pcie``).
        local_devices: This machine's devices.
        catalog: The hardware catalog.
        calibrations: Each local device's stored models on this host, by id (``None``: no store).
        num_threads: CPU threads to predict the local CPU at.
        host: The catalog CPU that hosts the GPUs (``--host``); default: each GPU's usual host
            (catalog GPUs) or this machine's CPU (local GPUs and calibrations).

    Raises:
        UsageError: On a name that is neither a local device nor a catalog entry, or a host that
            is not a catalog CPU.
    """
    resolution = Resolution()
    wanted = find_host(catalog, host) if host else None
    cpu = next((d for d in local_devices if d.kind == "cpu"), None)
    here = local_host(cpu, catalog) if cpu is not None else None
    locals_ = [
        local_target(
            d,
            catalog,
            None if calibrations is None else calibrations.get(d.id, ()),
            num_threads=num_threads,
            host=wanted,
            here=here,
        )
        for d in local_devices
        if d.kind != "fake"
    ]
    items = _items(query)
    seen: set[str] = set()

    def add(target: Target) -> None:
        if target.model.device not in seen:
            seen.add(target.model.device)
            resolution.targets.append(target)

    for item in items:
        lowered = item.lower()
        if lowered in ("local", "all"):
            for target in locals_:
                add(target)
            if lowered == "all":
                for spec in catalog.devices:
                    try:
                        add(catalog_target(spec, locals_, catalog=catalog, host=wanted, here=here))
                    except UsageError as error:
                        resolution.skipped.append((spec.id, str(error)))
            continue
        matching = [
            t
            for t in locals_
            if t.model.device == lowered or (lowered == "cuda" and t.model.device.startswith("cuda:"))
        ]
        for target in matching:
            add(target)
        if matching:
            continue
        if LOCAL_ID.fullmatch(lowered):
            found = ", ".join(t.model.device for t in locals_) or "none"
            raise UsageError(
                f"this machine has no device {item!r} (found: {found})",
                fix="Name a catalog device instead ('devicefit catalog list'), or 'local'",
            )
        else:
            # A name several entries share ('h100') predicts each of them, as 'catalog show' shows them.
            for spec in catalog.resolve(item):
                add(catalog_target(spec, locals_, catalog=catalog, host=wanted, here=here))
    return resolution
