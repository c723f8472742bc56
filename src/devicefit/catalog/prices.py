"""Cloud instance prices, electricity and grid carbon: the packaged ``prices.toml`` plus the user's files.

The packaged table is read first; then each user file (``prices.toml`` in the user config dir, then the
paths given, such as ``--prices``) adds instances or overrides them by ``id``, and may replace the
electricity price and carbon intensity. Every instance's GPU resolves to a catalog device; every entry is
validated, and a malformed one fails naming the file, the entry and the field. A price over a year old
on the day it is loaded, or without a date, is flagged ``stale``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from devicefit.catalog import SCHEMA_DOC, Catalog, _EntryError, _validate, load_catalog
from devicefit.data import TOMLDecodeError, load_packaged_toml, load_toml_file
from devicefit.errors import UsageError
from devicefit.records import CarbonIntensity, ElectricityPrice, InstancePrice, PriceTable

#: The user's price file in the config dir, beside ``catalog.toml``.
PRICES_FILE = "prices.toml"
_PACKAGED = "devicefit/catalog/prices.toml"
#: A price older than this is flagged: cloud prices move within a year (AWS cut its P4 and P5 on-demand
#: prices by up to 45% in June 2025, ``../shared/prices/``).
STALE_AFTER_DAYS = 365
#: A year, a month or a day: ``2025``, ``2025-06``, ``2026-05-07``.
_DATE = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?")
#: Fields that say where a price comes from: a user's own price replaces them all.
_PROVENANCE = ("observed", "date", "source", "quality", "note")
_INSTANCE_PRICES = ("usd_per_hour", "spot_usd_per_hour")
_TOP_LEVEL = {"instances", "electricity", "carbon"}


def user_price_paths(extra: Sequence[Path] = ()) -> list[Path]:
    """User price files in the order they apply: the config dir's ``prices.toml``, then ``extra``."""
    import platformdirs

    paths = [platformdirs.user_config_path("devicefit") / PRICES_FILE]
    return [p for p in paths if p.is_file()] + list(extra)


def earliest_day(text: str) -> date:
    """The first day a date of a year, a month or a day can mean (``2025-06`` is 2025-06-01).

    Raises:
        ValueError: If ``text`` is not such a date.
    """
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a date like 2025, 2025-06 or 2025-06-30")
    year, month, day = match.groups()
    return date(int(year), int(month or 1), int(day or 1))


def is_stale(price_date: str | None, today: date) -> bool:
    """Whether a price dated ``price_date`` may be over ``STALE_AFTER_DAYS`` old on ``today``.

    A date of a year or a month counts from its first day (the price may be that old); a price with no
    date is stale, since nothing says it is not.
    """
    if price_date is None:
        return True
    return (today - earliest_day(price_date)).days > STALE_AFTER_DAYS


def load_prices(
    paths: Sequence[Path] = (), *, catalog: Catalog | None = None, today: date | None = None
) -> PriceTable:
    """Loads the packaged prices plus the user's files.

    Args:
        paths: Extra user price files (``--prices``), applied after the config dir's.
        catalog: Resolves each instance's GPU; the packaged one plus the user's files when ``None``.
        today: The day staleness is judged on; the system's date when ``None``.

    Raises:
        UsageError: If a user file cannot be read or parsed, or an entry is malformed.
    """
    documents: list[tuple[str, Mapping[str, Any]]] = [
        (_PACKAGED, load_packaged_toml("devicefit.catalog", PRICES_FILE))
    ]
    for path in user_price_paths(paths):
        try:
            documents.append((str(path), load_toml_file(path)))
        except OSError as error:
            raise UsageError(
                f"cannot read price file {path}: {error.strerror}", fix="Check the --prices path"
            ) from None
        except TOMLDecodeError as error:
            raise UsageError(
                f"price file {path} is not valid TOML: {error}", fix="Correct the file"
            ) from None
    return build_prices(documents, catalog or load_catalog(), today or date.today())


def build_prices(
    documents: Sequence[tuple[str, Mapping[str, Any]]], catalog: Catalog, today: date
) -> PriceTable:
    """Validates and merges price documents, later ones overriding earlier ones by instance id.

    Args:
        documents: ``(origin, parsed TOML)`` pairs, the packaged table first; ``origin`` names the file.
        catalog: Resolves each instance's ``device`` (an id, or a name as ``catalog show`` takes it).
        today: The day staleness is judged on.

    Raises:
        UsageError: Naming the file, the entry and the problems of the first bad entry.
    """
    instances: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    grid: dict[str, dict[str, Any]] = {"electricity": {}, "carbon": {}}
    grid_origins: dict[str, str] = {}
    try:
        for index, (origin, document) in enumerate(documents):
            user = index > 0
            unknown = sorted(set(document) - _TOP_LEVEL)
            if unknown:
                raise _EntryError(
                    f"{origin}: unknown table {unknown[0]!r} (expected: {', '.join(sorted(_TOP_LEVEL))})"
                )
            for position, entry in enumerate(document.get("instances", ()), start=1):
                entry_id = entry.get("id") if isinstance(entry, Mapping) else None
                if not isinstance(entry_id, str) or not entry_id:
                    raise _EntryError(f"{origin}: instance {position} has no 'id'")
                where = f"{origin}: instance {entry_id!r}"
                instances[entry_id] = _merged(
                    instances.get(entry_id, {}), entry, where, origin, user, _INSTANCE_PRICES
                )
                origins[entry_id] = origin
            for key, price in (("electricity", "usd_per_kwh"), ("carbon", "g_co2_per_kwh")):
                if key in document:
                    grid[key] = _merged(
                        grid[key], document[key], f"{origin}: [{key}]", origin, user, (price,)
                    )
                    grid_origins[key] = origin
        built = tuple(
            _instance(entry, f"{origins[i]}: instance {i!r}", catalog, today)
            for i, entry in instances.items()
        )
        electricity = _dated(
            ElectricityPrice, grid["electricity"], f"{grid_origins.get('electricity')}: [electricity]", today
        )
        carbon = _dated(CarbonIntensity, grid["carbon"], f"{grid_origins.get('carbon')}: [carbon]", today)
    except _EntryError as error:
        raise UsageError(
            f"bad price table: {error}",
            fix=f"Correct the entry or remove it; devicefit's {SCHEMA_DOC}#prices shows a complete one",
        ) from None
    return PriceTable(
        instances=built,
        electricity=electricity,
        carbon=carbon,
        as_of=today.isoformat(),
        files=tuple(origin for origin, _ in documents[1:]),
    )


def _merged(
    base: Mapping[str, Any],
    entry: Any,
    where: str,
    origin: str,
    user: bool,
    prices: Sequence[str],
) -> dict[str, Any]:
    """``entry`` over ``base``; a user's own price brings its own date and source, never the packaged ones."""
    if not isinstance(entry, Mapping):
        raise _EntryError(f"{where}: expected a table of fields")
    if "stale" in entry:
        raise _EntryError(f"{where}: field 'stale' is computed from 'date', not given")
    if not user or not any(name in entry for name in prices):
        return {**base, **entry}
    if "date" not in entry:
        raise _EntryError(f"{where}: a price of your own needs 'date', the day you saw it (2026-05-07)")
    kept = {k: v for k, v in base.items() if k not in _PROVENANCE and k not in prices}
    defaults = {
        "observed": str(entry["date"]),
        "source": f"the user's price file {origin}",
        "quality": "user",
    }
    return {**kept, **defaults, **entry}


def _checked_date(entry: Mapping[str, Any], where: str) -> None:
    value = entry.get("date")
    if value is None:
        return
    try:
        earliest_day(value if isinstance(value, str) else str(value))
    except ValueError as error:
        raise _EntryError(f"{where}: field 'date': {error} (quote it)") from None


def _dated(kind: type, entry: Mapping[str, Any], where: str, today: date) -> Any:
    """Validates a dated record and sets its ``stale`` flag."""
    _checked_date(entry, where)
    record = _validate(kind, entry, where)
    for name in ("usd_per_hour", "usd_per_kwh", "g_co2_per_kwh", "spot_usd_per_hour"):
        value = getattr(record, name, None)
        if value is not None and not value > 0:
            raise _EntryError(f"{where}: field {name!r} must be positive, not {value}")
    return dataclasses.replace(record, stale=is_stale(record.date, today))


def _instance(entry: Mapping[str, Any], where: str, catalog: Catalog, today: date) -> InstancePrice:
    """Resolves an instance's GPU to its catalog id, then validates it."""
    device = entry.get("device")
    if isinstance(device, str):
        spec = catalog.get(device)
        if spec is None:
            try:
                spec = catalog.find(device)
            except UsageError as error:
                raise _EntryError(f"{where}: field 'device': {error}") from None
        if spec.kind == "cpu":
            raise _EntryError(f"{where}: field 'device': {spec.id} is a CPU; an instance's GPUs are priced")
        entry = {**entry, "device": spec.id}
    record: InstancePrice = _dated(InstancePrice, entry, where, today)
    if record.num_gpus < 1:
        raise _EntryError(f"{where}: field 'num_gpus' must be at least 1, not {record.num_gpus}")
    return record
