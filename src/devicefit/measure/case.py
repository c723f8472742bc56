"""The benchmark case record, the variants made of a case (cold, thread-pinned), and tensor helpers.

A ``Case`` says what it measures (work per call, bytes touched, the peak it is compared with)
and how to build its callable; building allocates random inputs on the device, never zeros.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from devicefit.measure.timer import TimerConfig

#: Element sizes in bytes, by the dtype names devicefit uses.
DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "int8": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One benchmark case: what it measures and how to build it.

    Attributes:
        id: Unique within a run: ``matmul.fp32.1024`` (device id prefixed by the runner).
        benchmark: Family name, as stored (``matmul``, ``triad``, ``h2d``...).
        device: Device id the case runs on.
        unit: Unit of the result value: ``FLOP/s``, ``B/s``, ``elements/s``, ``samples/s`` or ``s``.
        build: Allocates inputs and returns the callable to time.
        sweep: Cases in one sweep grow in cost; the runner stops a sweep that gets too slow.
        memory_bytes: Memory the inputs and outputs need on the device.
        peak: Device peak in ``unit`` (``None`` if unknown).
        model: The workload of a model benchmark (its batch size is ``size``).
        evaluate: For a case that is searched, not timed: returns its value given the device.
        context: Entered around building and timing (thread count, TF32 switches).
        timer: Timing budget for this case, instead of the run's.
        max_iteration_s: Sweep limit for this case, instead of the run's.
        calls_per_iteration: Operator calls one iteration makes, for a per-call latency (unit ``s``).
        num_processes: Processes taking part in a collective (``measure.comm``); ``None`` otherwise.
    """

    id: str
    benchmark: str
    device: str
    unit: str
    build: Callable[[], Callable[[], object]]
    dtype: str | None = None
    size: int | None = None
    shape: tuple[int, ...] | None = None
    num_threads: int | None = None
    pinned: bool | None = None
    flags: tuple[str, ...] = ()
    flops_per_iteration: float | None = None
    bytes_per_iteration: float | None = None
    memory_bytes: int = 0
    peak: float | None = None
    model: str | None = None
    evaluate: Callable[[Any], float] | None = None
    sweep: str | None = None
    timer: TimerConfig | None = None
    max_iteration_s: float | None = None
    calls_per_iteration: int = 1
    num_processes: int | None = None
    context: Callable[[], contextlib.AbstractContextManager[Any]] = field(default=contextlib.nullcontext)

    @property
    def work(self) -> float:
        """The quantity the case's cost grows with, for extrapolating along a sweep."""
        return self.flops_per_iteration or self.bytes_per_iteration or float(self.size or 1)


def torch_dtype(name: str) -> Any:
    """Maps a devicefit dtype name to the torch dtype its tensors hold (tf32 is stored as fp32)."""
    import torch

    return {
        "fp64": torch.float64,
        "fp32": torch.float32,
        "tf32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
        "int8": torch.int8,
    }[name]


@contextlib.contextmanager
def tf32_enabled(enabled: bool) -> Iterator[None]:
    """Sets PyTorch's TF32 switches for matmul and cuDNN, restoring them afterwards."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Pins PyTorch's intra-op thread count, restoring it afterwards."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def random_tensor(shape: tuple[int, ...], dtype: str, device: str) -> Any:
    """Uniform random values in [0, 1) (int8: the whole range), never zeros."""
    import torch

    if dtype == "int8":
        return torch.randint(-128, 128, shape, dtype=torch.int8, device=device)
    return torch.rand(shape, dtype=torch_dtype(dtype), device=device)


#: Most input sets a cold-cache case rotates through (their building costs memory and time).
MAX_ROTATION = 32


def rotating(case: Case, working_set_bytes: int) -> Case:
    """The same case cycling through enough independent input sets to overflow ``working_set_bytes``.

    A model's layer finds its weights and inputs in memory, not in the cache its previous call
    warmed: rotating over more data than the last-level cache holds measures it that way.
    """
    copies = max(1, min(MAX_ROTATION, -(-working_set_bytes // max(case.memory_bytes, 1))))
    if copies == 1:
        return case
    original = case.build

    def build() -> Callable[[], object]:
        calls = [original() for _ in range(copies)]
        state = {"next": 0}

        def call() -> object:
            index = state["next"]
            state["next"] = (index + 1) % copies
            return calls[index]()

        return call

    return replace(
        case,
        id=f"{case.id}.cold",
        build=build,
        memory_bytes=case.memory_bytes * copies,
        flags=(*case.flags, "cold"),
    )


def with_threads(case: Case, num_threads: int, *, benchmark: str, peak: float | None) -> Case:
    """The same case pinned to ``num_threads`` threads, stored under ``benchmark``."""
    return replace(
        case,
        id=f"{case.id}.t{num_threads}",
        benchmark=benchmark,
        num_threads=num_threads,
        peak=peak,
        sweep=None,
        context=lambda: torch_threads(num_threads),
    )
