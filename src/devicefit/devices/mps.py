"""Apple-silicon GPUs through ``torch.mps``."""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable

from devicefit.devices.energy import EnergyMeter, NoMeter
from devicefit.records import DeviceDescription, DeviceKind


def apple_chip_name() -> str:
    """Returns the chip's brand string (``Apple M2 Max``), or ``Apple silicon`` if unreadable."""
    try:
        output = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        output = ""
    return output or platform.processor() or "Apple silicon"


class MPSDevice:
    """The Apple-silicon GPU; memory is unified with the CPU's.

    Args:
        link: Adds catalog figures to the probed description (discovery passes it).
    """

    id = "mps"
    kind: DeviceKind = "mps"
    torch_device = "mps"

    def __init__(self, *, link: Callable[[DeviceDescription], DeviceDescription] | None = None) -> None:
        self._link = link
        self._description: DeviceDescription | None = None

    def synchronize(self) -> None:
        """Blocks until queued Metal work has finished."""
        import torch

        torch.mps.synchronize()

    def now_s(self) -> float:
        """Returns ``time.perf_counter()``; read it only after ``synchronize``."""
        return time.perf_counter()

    def available_memory_bytes(self) -> int | None:
        """Returns Metal's recommended working-set size minus what the driver holds."""
        import torch

        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())

    def release_memory(self) -> None:
        """Returns cached blocks to the system."""
        import torch

        torch.mps.empty_cache()

    def step_peak_bytes(self, fn: Callable[[], object]) -> int | None:
        """The MPS allocator keeps no peak statistic."""
        fn()
        return None

    def energy_meter(self) -> EnergyMeter:
        """None readable: macOS reports GPU power only through ``powermetrics``, which needs root."""
        return NoMeter("no meter: macOS reports GPU power only through 'sudo powermetrics'")

    def properties(self) -> DeviceDescription:
        """Describes the GPU; peak figures come from the catalog when the chip is listed (``link``)."""
        if self._description is None:
            import torch

            described = DeviceDescription(
                id="mps",
                kind="mps",
                name=f"{apple_chip_name()} GPU",
                vendor="apple",
                memory_bytes=int(torch.mps.recommended_max_memory()),
                bandwidth_derivation="unknown: Apple publishes it per chip; see the catalog",
            )
            self._description = self._link(described) if self._link else described
        return self._description
