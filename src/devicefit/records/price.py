"""Records of prices: cloud instances by the hour, electricity, grid carbon; each with its date and source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How far to trust a price (``../shared/prices/README.md``): ``primary`` (generated from the provider's
#: pricing API), ``secondary`` (a third-party page), ``stale`` (known to have changed: an upper bound),
#: ``conflicting`` (sources disagree), ``partial`` (part of the price missing), ``unverified`` (recalled,
#: not checked against its source), ``user`` (from the user's own file).
PriceQuality = Literal["primary", "secondary", "stale", "conflicting", "partial", "unverified", "user"]
#: What an instance's price covers: ``bundled`` (GPUs and host), ``gpu+host`` (billed apart, added up),
#: ``gpu-only`` (the host's price is missing: an under-estimate).
Billing = Literal["bundled", "gpu+host", "gpu-only"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancePrice:
    """The on-demand price of one cloud instance carrying catalog GPUs.

    Attributes:
        id: ``provider/instance`` in lowercase (``aws/p3.2xlarge``); a user's file overrides by it.
        provider: ``aws``, ``gcp``, ``azure``, ``lambda``, ``runpod``...
        instance: The provider's name for it.
        device: The catalog id of its GPUs.
        num_gpus: GPUs in the instance.
        usd_per_hour: On-demand price of the whole instance (Linux).
        billing: What the price covers.
        observed: When the source saw the price, in the source's words.
        source: Where the price comes from.
        quality: How far to trust it.
        region: Where the price holds, if the source says.
        spot_usd_per_hour: The spot or preemptible price, where the source publishes one.
        date: ``observed`` as an ISO date of a year, month or day (``2025``, ``2025-06``, ``2026-05-07``);
            ``None`` when the source gives none.
        note: What else the source says (the parts of a ``gpu+host`` price, a disagreement).
        stale: Set by the loader: the price is over a year old on the day it was loaded, or its date is
            unknown.
    """

    id: str
    provider: str
    instance: str
    device: str
    num_gpus: int
    usd_per_hour: float
    billing: Billing
    observed: str
    source: str
    quality: PriceQuality
    region: str | None = None
    spot_usd_per_hour: float | None = None
    date: str | None = None
    note: str = ""
    stale: bool = False

    @property
    def usd_per_gpu_hour(self) -> float:
        """The price of one GPU-hour (the instance's price over its GPUs)."""
        return self.usd_per_hour / self.num_gpus


@dataclass(frozen=True, slots=True, kw_only=True)
class ElectricityPrice:
    """The price of a kilowatt-hour, with its date and source (fields as ``InstancePrice``'s)."""

    usd_per_kwh: float
    observed: str
    source: str
    quality: PriceQuality
    date: str | None = None
    note: str = ""
    stale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CarbonIntensity:
    """Grams of CO2 emitted per kilowatt-hour generated, with its date and source."""

    g_co2_per_kwh: float
    observed: str
    source: str
    quality: PriceQuality
    date: str | None = None
    note: str = ""
    stale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    """The prices in force: the packaged table with the user's files applied.

    Attributes:
        instances: Every instance, in file order (the user's additions last).
        electricity: The default electricity price.
        carbon: The default grid carbon intensity.
        as_of: The day staleness was judged on (ISO date).
        files: The user's files applied, in order.
    """

    instances: tuple[InstancePrice, ...]
    electricity: ElectricityPrice
    carbon: CarbonIntensity
    as_of: str
    files: tuple[str, ...] = ()
