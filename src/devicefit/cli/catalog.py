"""``devicefit catalog list``, ``show`` and ``prices``: the hardware catalog, its sources and its prices."""

from __future__ import annotations

import enum
import fnmatch
from pathlib import Path
from typing import Annotated

import typer

from devicefit.catalog import Catalog, load_catalog
from devicefit.cli.output import JsonOption, console, error_console, print_json
from devicefit.records import DeviceSpec
from devicefit.report.catalog import (
    catalog_matches_to_dict,
    catalog_to_dict,
    render_catalog,
    render_catalog_matches,
)


class CatalogKind(str, enum.Enum):
    """Device kinds in the catalog."""

    GPU = "gpu"
    CPU = "cpu"
    TPU = "tpu"


CatalogOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="A catalog file adding devices or overriding figures (repeatable; also $DEVICEFIT_CATALOG).",
    ),
]

app = typer.Typer(
    no_args_is_help=True,
    help="The hardware catalog: datasheet figures of CPUs, GPUs and TPUs, each with its sources.",
)


def _matching(
    catalog: Catalog, pattern: str | None, kind: str | None, vendor: str | None
) -> list[DeviceSpec]:
    """Devices matching ``pattern`` (every word, like ``Catalog.search``, or shell-style on the id).

    Sorted by kind, vendor, then bf16 peak, fastest first.
    """
    found = {d.id for d in catalog.search(pattern)} if pattern else set()
    devices = [
        d
        for d in catalog.devices
        if (not pattern or d.id in found or fnmatch.fnmatchcase(d.id, pattern.lower()))
        and (kind is None or d.kind == kind)
        and (vendor is None or d.vendor == vendor.lower())
    ]
    return sorted(devices, key=lambda d: (d.kind, d.vendor, -d.peak_flops_per_s.get("bf16", 0.0), d.id))


@app.command("list")
def list_devices(
    pattern: Annotated[
        str | None, typer.Argument(help="Words to match ('a100 80gb') or a shell-style id ('nvidia-h*').")
    ] = None,
    kind: Annotated[CatalogKind | None, typer.Option(help="Only devices of this kind.")] = None,
    vendor: Annotated[
        str | None, typer.Option(help="Only this vendor: nvidia, amd, intel, google, apple.")
    ] = None,
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """List catalog devices: memory, bandwidth, dense peaks, TDP and price."""
    loaded = load_catalog(catalog or ())
    devices = _matching(loaded, pattern, kind.value if kind else None, vendor)
    if json:
        print_json(catalog_to_dict(devices, loaded.sources))
    elif devices:
        console().print(render_catalog(devices))
    else:
        error_console().print("no catalog device matches; see 'devicefit catalog list'", soft_wrap=True)


@app.command("show")
def show(
    name: Annotated[
        str, typer.Argument(help="Id, name or words of it: '4090', 'a100 80gb pcie'; 'h100' shows all three.")
    ],
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Show every figure of the catalog devices a name stands for, with values, sources and notes.

    A name resolves as in 'predict --device': every entry whose id, name or aliases contain all its
    words. '--json' prints {"device", "sources"} for one entry, 'catalog list --json' for several.
    """
    loaded = load_catalog(catalog or ())
    devices = loaded.resolve(name)
    if json:
        print_json(catalog_matches_to_dict(devices, loaded.sources))
    else:
        console().print(render_catalog_matches(name, devices, loaded.sources))


PricesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--prices",
        help="A price file adding instances or overriding them by id (repeatable; after the config dir's "
        "prices.toml).",
    ),
]


@app.command("prices")
def prices(
    pattern: Annotated[
        str | None, typer.Argument(help="Words every listed instance's id or GPU contains: 'aws h100'.")
    ] = None,
    prices_file: PricesOption = None,
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """List cloud instance prices with their date and source, stale ones marked; electricity and carbon."""
    from devicefit.catalog.prices import load_prices
    from devicefit.report.prices import prices_to_dict, render_prices

    table = load_prices(prices_file or (), catalog=load_catalog(catalog or ()))
    words = pattern.lower().split() if pattern else []
    instances = tuple(
        p for p in table.instances if all(w in f"{p.id} {p.device} {p.instance.lower()}" for w in words)
    )
    if json:
        print_json(prices_to_dict(table, instances))
    elif instances:
        console().print(render_prices(table, instances))
    else:
        error_console().print("no priced instance matches; see 'devicefit catalog prices'", soft_wrap=True)
