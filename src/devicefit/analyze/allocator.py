"""The simulated allocator of a traced pass: every storage from creation to release, and what was live when.

A weak reference on each storage tells when it is released; sizes are rounded as the device's
allocator rounds them, so the running total's maximum is the pass's peak memory.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_leaves

#: Allocation granularity by device kind: CUDA's caching allocator rounds every request up to 512
#: bytes (c10/cuda/CUDACachingAllocator.cpp, kMinBlockSize); the CPU allocator aligns to 64.
ALLOCATION_GRANULE_BYTES = {"cuda": 512, "cpu": 64, "mps": 256}


def storage_key(tensor: torch.Tensor) -> int:
    """An id of a tensor's storage, shared by its views; reused once the storage is released."""
    return int(tensor.untyped_storage()._cdata)


def nbytes(tensor: torch.Tensor) -> int:
    """Bytes of a tensor's elements (not of its whole storage)."""
    return tensor.numel() * tensor.element_size()


class Allocator:
    """Counts live storages from creation to release, rounded to the allocator's granule.

    It also keeps the timeline of allocations and releases (by serial number), so that what was
    live at each allocation can be told apart afterwards by kind: weights, gradients, activations.
    """

    def __init__(self, granule: int) -> None:
        self.granule = granule
        self.live = 0
        self.peak = 0
        #: Serial number of each live storage, by storage key (keys are reused once released).
        self._serials: dict[int, int] = {}
        #: Rounded size of every storage ever allocated, by serial number.
        self.sizes: list[int] = []
        #: Serial ``n`` for an allocation, ``~n`` (negative) for its release.
        self.timeline: list[int] = []
        #: Storages tracked before the pass that are parameters and buffers (serials below it).
        self.num_weights = 0
        #: Serials of the storages that end as a parameter's ``.grad``, and of those saved for backward.
        self.gradients: set[int] = set()
        self.activations: set[int] = set()
        #: Where in the timeline the backward pass begins (``None``: no backward pass).
        self.backward_start: int | None = None

    def _size(self, storage: Any) -> int:
        return -(-int(storage.nbytes()) // self.granule) * self.granule

    def serial(self, tensor: torch.Tensor) -> int | None:
        """The serial number of a tensor's live storage, ``None`` if it is not tracked."""
        return self._serials.get(storage_key(tensor))

    def track(self, tensors: Any) -> None:
        """Starts counting each storage of ``tensors`` not yet tracked, until it is released."""
        for tensor in tree_leaves(tensors):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = int(storage._cdata)
            if key in self._serials:
                continue
            size = self._size(storage)
            serial = len(self.sizes)
            self._serials[key] = serial
            self.sizes.append(size)
            self.timeline.append(serial)
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        serial = self._serials.pop(key, None)
        if serial is not None:
            self.live -= self.sizes[serial]
            self.timeline.append(~serial)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Bytes live right after one allocation of a traced pass, by kind."""

    phase: str
    weights_bytes: int
    gradients_bytes: int
    activations_bytes: int
    transient_bytes: int

    @property
    def total_bytes(self) -> int:
        """All bytes live at this moment."""
        return self.weights_bytes + self.gradients_bytes + self.activations_bytes + self.transient_bytes


def replay_timeline(allocator: Allocator) -> tuple[list[Snapshot], Snapshot]:
    """Replays an allocator's timeline: what was live after each allocation, and at the end.

    Parameters and buffers are weights; storages that end as a parameter's ``.grad`` are
    gradients; those saved for backward are activations; the rest is transient (inputs not
    saved, temporaries).
    """
    live = [0, 0, 0, 0]
    num_weights, gradients, activations = allocator.num_weights, allocator.gradients, allocator.activations
    backward_start = len(allocator.timeline) if allocator.backward_start is None else allocator.backward_start

    def kind(serial: int) -> int:
        if serial < num_weights:
            return 0
        return 1 if serial in gradients else 2 if serial in activations else 3

    snapshots = []
    for index, entry in enumerate(list(allocator.timeline)):
        if entry < 0:
            live[kind(~entry)] -= allocator.sizes[~entry]
            continue
        live[kind(entry)] += allocator.sizes[entry]
        if entry >= num_weights:
            phase = "backward" if index >= backward_start else "forward"
            snapshots.append(Snapshot(phase, *live))
    return snapshots, Snapshot("end", *live)
