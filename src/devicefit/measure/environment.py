"""Records the software and machine a run measures on, so runs from different setups are not mixed."""

from __future__ import annotations

import platform
import socket
import sys

from devicefit import __version__
from devicefit.devices import nvml
from devicefit.records import DeviceDescription, Environment


def collect_environment(devices: tuple[DeviceDescription, ...]) -> Environment:
    """Collects versions of Python, PyTorch, CUDA/ROCm, cuDNN, the NVIDIA driver and devicefit.

    Args:
        devices: The devices of the run; the CPU's model is taken from them when present.
    """
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


def command_line() -> str:
    """The command that started this process, for the run record."""
    return " ".join(["devicefit", *sys.argv[1:]])
