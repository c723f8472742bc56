"""The ``Device`` protocol every backend implements: identity, clock, synchronization, memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from devicefit.records import DeviceDescription, DeviceKind

if TYPE_CHECKING:
    from devicefit.measure.micro import Case


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

    def reset_peak_memory(self) -> None:
        """Starts a new peak-memory window."""

    def peak_memory_bytes(self) -> int | None:
        """Returns the most memory allocated since the last reset, or ``None`` if unknown."""

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

    def prepare(self, case: Case) -> Callable[[], object]:
        """Builds the callable that runs one iteration of ``case`` on this device."""
