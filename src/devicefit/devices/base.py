"""The ``Device`` protocol every backend implements: identity, clock, synchronization, memory.

Devices know nothing of benchmark cases: the runner builds what it times. A device that simulates
work instead of running it (the fake GPU) says so by also implementing ``SimulatedDevice``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from devicefit.devices.energy import EnergyMeter
from devicefit.records import DeviceDescription, DeviceKind


@runtime_checkable
class Device(Protocol):
    """A local compute device as the measurement code sees it.

    Attributes:
        id: ``cpu``, ``cuda:0``, ``mps``, ``fake``.
        kind: The backend family.
        torch_device: The ``torch.device`` string tensors for this device are created on.
    """

    id: str
    kind: DeviceKind
    torch_device: str

    def synchronize(self) -> None:
        """Waits until all work queued on the device has finished (a no-op on CPUs)."""

    def now_s(self) -> float:
        """Returns a monotonic host clock reading in seconds."""

    def available_memory_bytes(self) -> int | None:
        """Returns how much memory a benchmark may still allocate, or ``None`` if unknown."""

    def release_memory(self) -> None:
        """Returns cached, unused memory to the system (after an out-of-memory error)."""

    def step_peak_bytes(self, fn: Callable[[], object]) -> int | None:
        """Runs ``fn`` once and returns the allocator's peak growth during it, or ``None`` if unknown.

        The growth is over what was allocated when ``fn`` started: add the bytes of the tensors
        alive before the call for the absolute peak.
        """

    def properties(self) -> DeviceDescription:
        """Describes the device and its peak figures (probed once, then cached)."""

    def energy_meter(self) -> EnergyMeter:
        """Returns the meter of the device's energy (found once, then cached); a ``NoMeter`` says why not."""


@runtime_checkable
class SimulatedDevice(Protocol):
    """A device that simulates a call from the work it does instead of running real code."""

    def simulate(
        self, *, flops: float, bytes_moved: float, memory_bytes: int, dtype: str, link: bool
    ) -> Callable[[], object]:
        """Returns a callable that simulates one call doing this much work.

        Args:
            flops: Operations per call.
            bytes_moved: Bytes read plus written per call.
            memory_bytes: Memory the call's inputs and outputs hold on the device.
            dtype: Which peak the operations run at.
            link: The bytes cross the host link instead of device memory.

        Raises:
            torch.OutOfMemoryError: When the device cannot hold ``memory_bytes``.
        """
