"""The hardware catalog: packaged device specs with sources, the user's additions, and name matching.

The packaged ``devices.toml`` is read first; then each user file (``--catalog``, ``$DEVICEFIT_CATALOG``,
``catalog.toml`` in the user config dir) adds entries or overrides fields of entries with the same
id. Every entry is validated; a malformed one fails naming the file, the entry and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicefit.data import TOMLDecodeError, load_packaged_toml, load_toml_file
from devicefit.errors import UsageError
from devicefit.records import ArchitectureSpec, DeviceDescription, DeviceSpec, Peak, PriceSpec, SourceSpec

#: Environment variable naming a user catalog file.
CATALOG_ENV = "DEVICEFIT_CATALOG"
_PACKAGED = "devicefit/catalog/devices.toml"
#: Where a user's catalog entry is documented, with a complete example.
SCHEMA_DOC = "docs/catalog.md"


@dataclass(frozen=True, slots=True)
class Catalog:
    """Devices, architectures and sources, validated and merged."""

    devices: tuple[DeviceSpec, ...]
    architectures: tuple[ArchitectureSpec, ...]
    sources: dict[str, SourceSpec]

    def get(self, device_id: str) -> DeviceSpec | None:
        """Returns the entry with exactly this id."""
        return next((d for d in self.devices if d.id == device_id), None)

    def architecture(self, capability: str) -> ArchitectureSpec | None:
        """Returns the architecture covering a compute capability (``9.0``) or gfx target."""
        return next((a for a in self.architectures if capability in a.compute_capabilities), None)

    def match_local(self, reported_name: str, kind: str) -> DeviceSpec | None:
        """Finds the entry of ``kind`` whose name or alias is exactly what a driver reported.

        Args:
            reported_name: ``torch.cuda.get_device_name()``, the CPU brand string...; case-insensitive.
            kind: ``gpu`` or ``cpu``: Apple reports one chip name for its CPU and its GPU.
        """
        wanted = reported_name.strip().lower()
        return next(
            (
                d
                for d in self.devices
                if d.kind == kind and wanted in {d.name.lower(), *(alias.lower() for alias in d.aliases)}
            ),
            None,
        )

    def search(self, query: str) -> list[DeviceSpec]:
        """Entries whose id, name or aliases contain every token of ``query`` (``a100 80gb pcie``)."""
        wanted = _tokens(query)
        if not wanted:
            return []
        exact = self.get(query.strip().lower())
        if exact:
            return [exact]
        return [
            d
            for d in self.devices
            if wanted <= _tokens(" ".join((d.id.replace("-", " "), d.name, *d.aliases)))
        ]

    def resolve(self, query: str) -> tuple[DeviceSpec, ...]:
        """Every entry a forgiving name stands for: ``h100`` is the three H100s, ``4090`` one card.

        The one resolver behind ``catalog show`` and ``predict --device``, so a name means the same
        devices in both.

        Raises:
            UsageError: Naming close matches when nothing matches.
        """
        matches = self.search(query)
        if matches:
            return tuple(matches)
        labels = [d.id for d in self.devices] + [d.name for d in self.devices]
        close = difflib.get_close_matches(query, labels, n=3, cutoff=0.4)
        hint = f"Did you mean: {', '.join(close)}?" if close else "See 'devicefit catalog list'"
        raise UsageError(f"no catalog device matches {query!r}", fix=hint)

    def find(self, query: str) -> DeviceSpec:
        """Resolves a forgiving name to exactly one entry.

        Raises:
            UsageError: Naming close matches when nothing matches, or the candidates when several do.
        """
        matches = self.resolve(query)
        if len(matches) > 1:
            names = ", ".join(d.id for d in matches)
            raise UsageError(
                f"{query!r} matches {len(matches)} catalog devices: {names}", fix="Name one of them"
            )
        return matches[0]


def _tokens(text: str) -> set[str]:
    text = text.lower().replace("+", "plus")
    # "80 GB" and "80gb" are the same token; "rtx4090" also yields "rtx" and "4090".
    text = re.sub(r"(\d+)\s*(gb|gib)\b", r"\1gb", text)
    tokens = set(re.findall(r"[a-z0-9.]+", text))
    for token in list(tokens):
        tokens.update(re.findall(r"[a-z]+|\d+(?:gb)?", token))
    return {t for t in tokens if t not in {"nvidia", "amd", "intel", "google", "apple", "geforce", "tesla"}}


class _EntryError(Exception):
    pass


#: The source of a figure in the user's own catalog file that names none.
USER_SOURCE = "user-provided"
#: Fields that name or describe an entry rather than state a figure needing a source.
_IDENTITY_FIELDS = frozenset({"id", "name", "vendor", "kind", "architecture", "aliases", "sources", "notes"})


def _unknown_fields(kind: type, entry: Mapping[str, Any], where: str) -> list[str]:
    known = [f.name for f in dataclasses.fields(kind)]
    problems = []
    for name in sorted(set(entry) - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"{where}unknown field {name!r}{hint}")
    return problems


@functools.cache
def _adapter(kind: type) -> Any:
    """One validator per record type: building one takes milliseconds, and the catalog has ~170 entries."""
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def _validate(kind: type, entry: Mapping[str, Any], where: str) -> Any:
    """Validates an entry, reporting every problem at once: unknown, missing and malformed fields."""
    from pydantic import ValidationError

    problems = _unknown_fields(kind, entry, "")
    if kind is DeviceSpec and isinstance(entry.get("price"), Mapping):
        problems += _unknown_fields(PriceSpec, entry["price"], "price: ")
    try:
        if not problems:
            return _adapter(kind).validate_python(dict(entry))
        known = {f.name for f in dataclasses.fields(kind)}
        _adapter(kind).validate_python({k: v for k, v in entry.items() if k in known})
    except ValidationError as error:
        missing = [str(e["loc"][0]) for e in error.errors() if e["type"] == "missing" and len(e["loc"]) == 1]
        if missing:
            problems.append(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
        problems += [
            f"field {'.'.join(str(part) for part in e['loc'])!r}: {e['msg']}"
            for e in error.errors()
            if not (e["type"] == "missing" and len(e["loc"]) == 1)
        ]
    raise _EntryError(f"{where}: {'; '.join(problems)}")


def _figure_paths(entry: Mapping[str, Any]) -> list[str]:
    """Source paths of the figures an entry states: ``memory_bytes``, ``peak_flops_per_s.bf16``..."""
    paths: list[str] = []
    for name, value in entry.items():
        if name in _IDENTITY_FIELDS:
            continue
        if isinstance(value, Mapping):
            paths += [f"{name}.{key}" for key in value]
        else:
            paths.append(name)
    return paths


def _merge(
    base: dict[str, dict[str, Any]], entries: Iterable[Mapping[str, Any]], origin: str, *, user: bool
) -> None:
    """Merges entries by id; a user's figure without a listed source cites ``USER_SOURCE``."""
    for position, entry in enumerate(entries, start=1):
        entry_id = entry.get("id")
        if not isinstance(entry_id, str) or not entry_id:
            raise _EntryError(f"{origin}: entry {position} has no 'id'")
        merged = {**base.get(entry_id, {}), **entry}
        given = entry.get("sources", {})
        if isinstance(given, Mapping):
            defaults = {path: [USER_SOURCE] for path in _figure_paths(entry)} if user else {}
            merged["sources"] = {**base.get(entry_id, {}).get("sources", {}), **defaults, **given}
        base[entry_id] = merged


def user_catalog_paths(extra: Sequence[Path] = ()) -> list[Path]:
    """User catalog files in the order they apply: config dir, ``$DEVICEFIT_CATALOG``, ``--catalog``."""
    import platformdirs

    paths = [platformdirs.user_config_path("devicefit") / "catalog.toml"]
    paths = [p for p in paths if p.is_file()]
    if os.environ.get(CATALOG_ENV):
        paths.append(Path(os.environ[CATALOG_ENV]).expanduser())
    return paths + list(extra)


def build_catalog(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> Catalog:
    """Validates and merges catalog documents, later ones overriding earlier ones by id.

    Args:
        documents: ``(origin, parsed TOML)`` pairs; ``origin`` names the file in errors.

    Figures in a user's file (any document after the first) that list no source cite
    ``USER_SOURCE``, whose citation names the files.

    Raises:
        UsageError: Naming the file, the entry and every problem of the first bad entry.
    """
    devices: dict[str, dict[str, Any]] = {}
    architectures: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    user_files: list[str] = []
    try:
        for index, (origin, document) in enumerate(documents):
            # The first document is the packaged catalog; the others are the user's own files.
            user = index > 0
            for key, value in document.get("sources", {}).items():
                sources[key] = value
            _merge(devices, document.get("devices", ()), origin, user=user)
            _merge(architectures, document.get("architectures", ()), origin, user=user)
            origins.update({entry["id"]: origin for entry in document.get("devices", ())})
            if user:
                user_files.append(origin)
        if USER_SOURCE not in sources and user_files:
            sources[USER_SOURCE] = {
                "citation": f"the user's catalog file: {', '.join(user_files)}; devicefit cannot check it",
                "trust": "user",
            }
        catalog = Catalog(
            devices=tuple(
                _validate(DeviceSpec, e, f"{origins[i]}: device {i!r}") for i, e in devices.items()
            ),
            architectures=tuple(
                _validate(ArchitectureSpec, e, f"architecture {i!r}") for i, e in architectures.items()
            ),
            sources={k: _validate(SourceSpec, v, f"source {k!r}") for k, v in sources.items()},
        )
    except _EntryError as error:
        raise UsageError(
            f"bad catalog: {error}",
            fix=f"Correct the entry or remove it; devicefit's {SCHEMA_DOC} shows a complete one",
        ) from None
    return catalog


def load_catalog(paths: Sequence[Path] = ()) -> Catalog:
    """Loads the packaged catalog plus the user's files.

    Args:
        paths: Extra user catalog files (``--catalog``), applied last.

    Raises:
        UsageError: If a user file cannot be read or parsed, or an entry is malformed.
    """
    return _load(tuple(user_catalog_paths(paths)))


@functools.cache
def _load(paths: tuple[Path, ...]) -> Catalog:
    documents: list[tuple[str, Mapping[str, Any]]] = [
        (_PACKAGED, load_packaged_toml("devicefit.catalog", "devices.toml"))
    ]
    for path in paths:
        try:
            documents.append((str(path), load_toml_file(path)))
        except OSError as error:
            raise UsageError(
                f"cannot read catalog {path}: {error.strerror}", fix="Check the --catalog path"
            ) from None
        except TOMLDecodeError as error:
            raise UsageError(f"catalog {path} is not valid TOML: {error}", fix="Correct the file") from None
    return build_catalog(documents)


def clear_cache() -> None:
    """Forgets loaded catalogs (tests, or after editing a user catalog)."""
    _load.cache_clear()


def with_catalog_figures(device: DeviceDescription, catalog: Catalog) -> DeviceDescription:
    """Links a local device to its catalog entry, whose datasheet peaks replace derived ones.

    Datasheet peaks are what utilization is conventionally quoted against (MFU uses 989 TFLOP/s
    for an H100 SXM's bf16); peaks the catalog lacks stay derived. A measured-from-hardware
    bandwidth (NVML) is kept; the catalog's fills in where none was known (CPUs).
    """
    spec = catalog.match_local(device.name.removesuffix(" GPU"), "cpu" if device.kind == "cpu" else "gpu")
    if spec is None:
        return device
    peaks = {peak.dtype: peak for peak in device.peaks}
    for dtype, value in spec.peak_flops_per_s.items():
        keys = ", ".join(spec.sources.get(f"peak_flops_per_s.{dtype}", ()))
        peaks[dtype] = Peak(
            dtype=dtype,
            flops_per_s=value,
            derivation=f"datasheet, catalog {spec.id} ({keys})",
            source=f"catalog:{spec.id}",
        )
    bandwidth, derivation = device.peak_bandwidth_bytes_per_s, device.bandwidth_derivation
    if bandwidth is None and spec.bandwidth_bytes_per_s:
        keys = ", ".join(spec.sources.get("bandwidth_bytes_per_s", ()))
        bandwidth, derivation = spec.bandwidth_bytes_per_s, f"datasheet, catalog {spec.id} ({keys})"
    return dataclasses.replace(
        device,
        catalog_id=spec.id,
        peaks=tuple(peaks.values()),
        peak_bandwidth_bytes_per_s=bandwidth,
        bandwidth_derivation=derivation,
        host_link_bytes_per_s=device.host_link_bytes_per_s or spec.host_link_bytes_per_s,
    )
