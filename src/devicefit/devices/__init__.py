"""Local compute devices: lazy, cached discovery and selection by ``--device``."""

from __future__ import annotations

import functools
import os
import re

from devicefit.devices.base import Device
from devicefit.devices.cpu import CPUDevice
from devicefit.devices.cuda import CUDADevice
from devicefit.devices.fake import FakeDevice
from devicefit.devices.mps import MPSDevice
from devicefit.errors import UsageError
from devicefit.records import DeviceDescription

__all__ = [
    "CPUDevice",
    "CUDADevice",
    "Device",
    "FakeDevice",
    "MPSDevice",
    "discover_devices",
    "explain_missing_cuda",
    "link_to_catalog",
    "select_devices",
]

#: What ``--device`` accepts, for error messages.
DEVICE_CHOICES = "cpu, cuda, cuda:N, mps, all, fake (a simulated GPU for a dry run)"


@functools.cache
def discover_devices() -> tuple[Device, ...]:
    """Returns every local device: the CPU, each CUDA/ROCm GPU, and the Apple GPU.

    Probing happens here, on first call, never at import; ``discover_devices.cache_clear()``
    forgets the result. Each device is linked to the catalog here (``link_to_catalog``), once.
    """
    import torch

    devices: list[Device] = [CPUDevice(link=link_to_catalog)]
    if torch.cuda.is_available():
        devices.extend(CUDADevice(index, link=link_to_catalog) for index in range(torch.cuda.device_count()))
    if torch.backends.mps.is_available():
        devices.append(MPSDevice(link=link_to_catalog))
    return tuple(devices)


def link_to_catalog(description: DeviceDescription) -> DeviceDescription:
    """Links a probed local device to its catalog entry: the one place catalog figures meet local devices.

    Discovery hands it to every device it makes; each applies it once, when it is first described.
    """
    from devicefit.catalog import load_catalog, with_catalog_figures

    return with_catalog_figures(description, load_catalog())


def select_devices(spec: str, available: tuple[Device, ...] | None = None) -> tuple[Device, ...]:
    """Resolves a ``--device`` value (comma-separated) to devices.

    Args:
        spec: ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``all`` or ``fake``, or several joined by commas.
        available: The local devices; discovered when ``None``.

    Returns:
        The selected devices, in the order given, without duplicates.

    Raises:
        UsageError: On an unknown name, or a device this machine does not have.
    """
    selected: dict[str, Device] = {}
    for item in (part.strip().lower() for part in spec.split(",")):
        if item == "fake":
            selected["fake"] = FakeDevice()
            continue
        if item not in ("cpu", "cuda", "mps", "all") and not re.fullmatch(r"cuda:\d+", item):
            raise UsageError(f"unknown device {item!r}", fix=f"Choose from: {DEVICE_CHOICES}")
        found = available if available is not None else discover_devices()
        matches = [d for d in found if item == "all" or d.id == item or (item == "cuda" and d.kind == "cuda")]
        if not matches:
            raise UsageError(_missing_device_message(item, found), fix=_missing_device_fix(item))
        selected.update((device.id, device) for device in matches)
    return tuple(selected.values())


def _missing_device_message(item: str, found: tuple[Device, ...]) -> str:
    ids = ", ".join(d.id for d in found)
    if item.startswith("cuda"):
        if any(d.kind == "cuda" for d in found):
            return f"no device {item}; this machine has: {ids}"
        return f"--device {item}: {explain_missing_cuda()}; found: {ids}"
    return f"--device {item}: no Apple GPU (MPS) on this machine; found: {ids}"


def _missing_device_fix(item: str) -> str:
    import torch

    if item.startswith("cuda") and not (torch.version.cuda or torch.version.hip):
        return (
            "Use --device cpu, or install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/)"
        )
    if item.startswith("cuda"):
        return "Use --device cpu, or see 'devicefit devices' for what is present"
    return "Use --device cpu; MPS needs an Apple-silicon Mac and a PyTorch build with MPS"


def explain_missing_cuda(
    *,
    cuda_version: str | None = None,
    hip_version: str | None = None,
    torch_version: str | None = None,
    visible_devices: str | None = None,
    probe: bool = True,
) -> str:
    """Says why ``torch.cuda`` sees no GPU, as precisely as the facts allow.

    Args:
        cuda_version: ``torch.version.cuda``.
        hip_version: ``torch.version.hip``.
        torch_version: ``torch.__version__``.
        visible_devices: The ``CUDA_VISIBLE_DEVICES`` environment variable.
        probe: Read the facts from this process instead of the arguments.
    """
    if probe:
        import torch

        cuda_version, hip_version, torch_version = torch.version.cuda, torch.version.hip, torch.__version__
        visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not cuda_version and not hip_version:
        return f"no CUDA device: PyTorch {torch_version} is a CPU-only build (no CUDA or ROCm support)"
    if visible_devices is not None and visible_devices.strip() in ("", "-1"):
        return f"no CUDA device: CUDA_VISIBLE_DEVICES={visible_devices!r} hides every GPU"
    runtime = f"CUDA {cuda_version}" if cuda_version else f"ROCm {hip_version}"
    return f"no CUDA device: PyTorch {torch_version} supports {runtime} but finds no usable GPU or driver"
