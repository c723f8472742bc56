"""The interconnect catalog: the links multi-GPU collectives cross, with sources (``links.toml``).

Each GPU's machine has a node link (NVLink, or PCIe for GPUs without one) and a network between
machines (InfiniBand, Ethernet). ``node_link`` finds a catalog GPU's; a GPU no node link lists runs
over PCIe at its own host link's rate.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devicefit.catalog import _EntryError, _figure_paths, _validate
from devicefit.data import load_packaged_toml
from devicefit.records import LinkSpec, SourceSpec

_PACKAGED = "devicefit/catalog/links.toml"
#: The node link of GPUs that no other node link lists.
PCIE_LINK = "pcie"


@dataclass(frozen=True, slots=True)
class LinkCatalog:
    """Node and network links, validated, with their sources."""

    links: tuple[LinkSpec, ...]
    sources: dict[str, SourceSpec]

    def get(self, link_id: str) -> LinkSpec | None:
        """The link with exactly this id."""
        return next((link for link in self.links if link.id == link_id), None)

    def node_link(self, device_id: str) -> LinkSpec:
        """The link between the GPUs of ``device_id``'s machine (PCIe when none lists it)."""
        found = next((link for link in self.links if device_id in link.devices), None)
        return found or self._required(PCIE_LINK)

    def network(self, node_link: LinkSpec) -> LinkSpec | None:
        """The network between machines whose GPUs ``node_link`` joins."""
        return self._required(node_link.network) if node_link.network else None

    def _required(self, link_id: str) -> LinkSpec:
        link = self.get(link_id)
        if link is None:
            raise ValueError(f"{_PACKAGED} has no link {link_id!r}")
        return link


def build_links(document: Mapping[str, Any]) -> LinkCatalog:
    """Validates a links document: fields, sources of every figure, and links named by others.

    Raises:
        ValueError: Naming the entry and what is wrong with it.
    """
    try:
        sources = {
            key: _validate(SourceSpec, value, f"{_PACKAGED} source {key!r}")
            for key, value in document.get("sources", {}).items()
        }
    except _EntryError as error:
        raise ValueError(str(error)) from None
    links = []
    for entry in document.get("links", []):
        where = f"{_PACKAGED} link {entry.get('id')!r}"
        try:
            link = _validate(LinkSpec, {**entry, "sources": entry.get("sources", {})}, where)
        except _EntryError as error:
            raise ValueError(str(error)) from None
        unsourced = [p for p in _figure_paths(entry) if p not in link.sources and p not in _UNSOURCED]
        if unsourced:
            raise ValueError(f"{where}: no source for {', '.join(unsourced)}")
        unknown = [key for keys in link.sources.values() for key in keys if key not in sources]
        if unknown:
            raise ValueError(f"{where}: unknown sources {', '.join(unknown)}")
        links.append(link)
    catalog = LinkCatalog(links=tuple(links), sources=sources)
    for link in catalog.links:
        network = catalog.get(link.network) if link.network else None
        if link.network and (network is None or network.scope != "network"):
            raise ValueError(f"{_PACKAGED} link {link.id!r}: no network link {link.network!r}")
    return catalog


#: Fields that describe a link rather than state a figure.
_UNSOURCED = frozenset({"devices", "scope"})


@functools.cache
def load_links() -> LinkCatalog:
    """The packaged interconnect catalog."""
    return build_links(load_packaged_toml("devicefit.catalog", "links.toml"))
