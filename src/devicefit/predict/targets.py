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


def local_target(
    device: DeviceDescription,
    catalog: Catalog,
    calibrations: StoredCalibrations | None,
    *,
    num_threads: int | None = None,
) -> Target:
    """A local device's model: its best usable calibration on this host, else the defaults.

    A full calibration comes before a bench fit, and a newer before an older; a model whose
    measurements were rejected (a busy machine) is passed over, with a warning saying why.

    Args:
        device: The local device.
        catalog: For its architecture, when uncalibrated.
        calibrations: Its stored models on this host, best first; ``None`` to use the defaults.
        num_threads: On CPUs, the thread count to predict for (default: what torch uses).
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
    return Target(
        model=model,
        memory_kind=_memory_kind(device.kind),
        local=True,
        architecture=architecture,
        notes=tuple(notes),
    )


def catalog_target(spec: DeviceSpec, references: list[Target]) -> Target:
    """A catalog device's model: transferred from a calibrated local device of its architecture, or defaults.

    Raises:
        UsageError: If the entry lacks the figures a prediction needs.
    """
    for reference in references:
        if (
            spec.kind == "gpu"
            and reference.model.kind == "gpu"
            and reference.architecture == spec.architecture
            and reference.model.origin in ("calibrated", "bench")
        ):
            return Target(
                model=transferred_model(reference.model, spec),
                memory_kind="cuda",
                local=False,
                architecture=spec.architecture,
            )
    return Target(
        model=catalog_default_model(spec),
        memory_kind=_memory_kind("mps" if spec.vendor == "apple" else spec.kind),
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
) -> Resolution:
    """Turns ``--device`` into targets.

    Args:
        query: ``local``, ``all``, or comma-separated local ids (``cpu``, ``cuda:0``) and catalog names
            (``h100``, ``a100 80gb pcie``).
        local_devices: This machine's devices.
        catalog: The hardware catalog.
        calibrations: Each local device's stored models on this host, by id (``None``: no store).
        num_threads: CPU threads to predict the local CPU at.

    Raises:
        UsageError: On a name that is neither a local device nor a catalog entry.
    """
    resolution = Resolution()
    locals_ = [
        local_target(
            d, catalog, None if calibrations is None else calibrations.get(d.id, ()), num_threads=num_threads
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
                        add(catalog_target(spec, locals_))
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
                add(catalog_target(spec, locals_))
    return resolution
