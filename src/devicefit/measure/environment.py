"""Records the software and machine a run measures on, so runs from different setups are not mixed."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import sys

from devicefit import __version__
from devicefit.devices import nvml
from devicefit.records import DeviceDescription, Environment


def collect_environment(devices: tuple[DeviceDescription, ...], *, load_torch: bool = True) -> Environment:
    """Collects versions of Python, PyTorch, CUDA/ROCm, cuDNN, the NVIDIA driver and devicefit.

    Args:
        devices: The devices of the run; the CPU's model is taken from them when present.
        load_torch: Import PyTorch to read its figures. ``False`` (a run that only predicts, such as
            a ``crossover`` of catalog devices) reads them from PyTorch only if it is already
            imported, else its version from the installed package and no thread count (0): importing
            it costs seconds such a run has no other use for.
    """
    if not load_torch and "torch" not in sys.modules:
        return _without_torch(devices)
    import numpy
    import torch

    cpu = next((d for d in devices if d.kind == "cpu"), None)
    has_nvidia = any(d.kind == "cuda" and d.vendor == "nvidia" for d in devices)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return Environment(
        devicefit_version=__version__,
        python_version=platform.python_version(),
        torch_version=str(torch.__version__),
        numpy_version=numpy.__version__,
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        hostname=socket.gethostname(),
        cpu_model=cpu.name if cpu else platform.processor(),
        torch_num_threads=torch.get_num_threads(),
        cuda_runtime_version=torch.version.cuda,
        hip_version=torch.version.hip,
        cudnn_version=str(cudnn) if cudnn else None,
        nvidia_driver_version=nvml.driver_version() if has_nvidia else None,
    )


def _without_torch(devices: tuple[DeviceDescription, ...]) -> Environment:
    """The environment of a run that never imported PyTorch: versions from the installed packages."""
    cpu = next((d for d in devices if d.kind == "cpu"), None)

    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return Environment(
        devicefit_version=__version__,
        python_version=platform.python_version(),
        torch_version=version("torch"),
        numpy_version=version("numpy"),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        hostname=socket.gethostname(),
        cpu_model=cpu.name if cpu else platform.processor(),
        torch_num_threads=0,
    )


def command_line() -> str:
    """The command that started this process, for the run record."""
    return " ".join(["devicefit", *sys.argv[1:]])
