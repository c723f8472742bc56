"""``devicefit devices``: every local compute device and its peak figures."""

from __future__ import annotations

from devicefit.cli.output import DeviceOption, JsonOption, console, print_json


def devices(device: DeviceOption = "all", json: JsonOption = False) -> None:
    """List local CPUs and GPUs with their properties and theoretical peaks (and how each was derived)."""
    from devicefit.devices import select_devices
    from devicefit.report.devices import render_devices
    from devicefit.report.export import device_to_dict

    descriptions = [d.properties() for d in select_devices(device)]
    if json:
        print_json({"devices": [device_to_dict(d) for d in descriptions]})
    else:
        console().print(render_devices(descriptions))
