"""Collectives between local processes (``bench --suite comm``): all-reduce, all-gather, and the rest.

``execute_comm`` starts ``N`` processes with ``torch.distributed`` (gloo on CPUs, NCCL on GPUs, one
GPU per process) on a free localhost port, and they run every case of the sweep in one group, so
the few seconds a process group costs to start are paid once. Timing follows the project's
discipline (``measure/timer.py``: warm-up, a calibrated block, repeated samples, the median), with
one change that collectives force: every rank must make the same calls, so rank 0 takes each
decision (warm-up done, block size, number of samples) and broadcasts it. A timed block is a
barrier, ``n`` collectives, a device synchronization and a barrier, timed on rank 0: it ends when
the slowest rank has finished, as ``nccl-tests`` reports.

Sizes follow ``nccl-tests``: the whole message in bytes (the gathered output of an all-gather, the
input of a reduce-scatter), fp32 elements. The value stored is the bus bandwidth: the case's
``bytes_per_iteration`` is the message times the collective's bus factor, which the caller passes
in (``predict.collectives.bus_factor``), so that ``value = bytes_per_iteration / median`` is the
figure ``nccl-tests`` prints as busbw.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import queue
import socket
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from devicefit.errors import DevicefitError, UsageError
from devicefit.measure.case import Case
from devicefit.measure.timer import TimerConfig
from devicefit.records import DeviceDescription, EnergyReading, Measurement, Result
from devicefit.records.vocabulary import COMM_BENCHMARKS, Benchmark

#: Message sizes of the full sweep: 1 KiB to 64 MiB in x4 steps (nccl-tests' ``-b 1K -e 64M -f 4``).
COMM_SIZES = tuple(4**k * 2**10 for k in range(9))
#: ``--quick``: the small, middle and large ends of the sweep.
QUICK_COMM_SIZES = (2**10, 64 * 2**10, 4 * 2**20)
#: Timing of collectives. A block is at least 100 barriers long (``max_overhead_fraction``: a
#: barrier costs as much as a small collective, so the 1e-4 of single-device timing would make
#: blocks of seconds), and the closing barrier adds at most 1% to a sample.
COMM_FULL = TimerConfig(warmup_s=0.1, min_time_s=0.2, budget_s=0.6, min_samples=5, max_overhead_fraction=0.01)
COMM_QUICK = TimerConfig(
    warmup_s=0.02, min_time_s=0.05, budget_s=0.2, min_samples=5, max_overhead_fraction=0.01
)
#: A collective that has not finished after this long has lost a rank (the process group's timeout).
GROUP_TIMEOUT_S = 120.0
#: Why a collective has no energy figure.
_NOT_METERED = "not metered: a collective spans processes and their link"
#: The fp32 elements collectives move.
_ELEMENT_BYTES = 4


def backend_for(device_kind: str) -> str | None:
    """The ``torch.distributed`` backend of a device kind: gloo on CPUs, NCCL on CUDA GPUs."""
    return {"cpu": "gloo", "cuda": "nccl"}.get(device_kind)


def message_bytes(size_bytes: int, num_processes: int) -> int:
    """The message actually sent: whole fp32 elements, a multiple of the process count (to split it)."""
    elements = max(num_processes, size_bytes // _ELEMENT_BYTES // num_processes * num_processes)
    return elements * _ELEMENT_BYTES


def plan_comm(
    device: DeviceDescription,
    *,
    num_processes: int,
    quick: bool,
    bus_factor: Callable[[str, int], float],
    sizes: Sequence[int] | None = None,
    gpu_count: int = 0,
) -> list[Case]:
    """Lists the collective cases of one device: each collective over each message size.

    Args:
        device: A CPU (gloo) or the first of the GPUs (NCCL) the processes use; others get none.
        num_processes: Processes in the group (``--nproc``), 2 or more.
        quick: The three-size sweep.
        bus_factor: Bytes each rank moves per byte of message, by collective and process count.
        sizes: Message sizes in bytes instead of the sweep's.
        gpu_count: GPUs on this machine (NCCL runs one process on each of the first ``num_processes``).

    Raises:
        UsageError: With fewer than two processes, or more than the GPUs available to NCCL.
    """
    backend = backend_for(device.kind)
    if backend is None or (backend == "nccl" and device.id != "cuda:0"):
        return []
    if num_processes < 2:
        raise UsageError(f"collectives need 2 or more processes, not {num_processes}", fix="Pass --nproc 2")
    if backend == "nccl" and num_processes > gpu_count:
        raise UsageError(
            f"--nproc {num_processes} needs {num_processes} GPUs; this machine has {gpu_count}",
            fix=f"Pass --nproc {gpu_count}, or --device cpu to measure gloo between CPU processes",
        )
    chosen = sizes or (QUICK_COMM_SIZES if quick else COMM_SIZES)
    cases = []
    for benchmark in COMM_BENCHMARKS:
        for requested in chosen:
            size = message_bytes(requested, num_processes)
            cases.append(
                Case(
                    id=f"{benchmark}.n{num_processes}.{size}",
                    benchmark=benchmark,
                    device=device.id,
                    unit="B/s",
                    build=_not_built,
                    dtype="fp32",
                    size=size,
                    flags=(backend,),
                    bytes_per_iteration=bus_factor(benchmark, num_processes) * size,
                    memory_bytes=2 * size,
                    num_processes=num_processes,
                )
            )
    return cases


def _not_built() -> Callable[[], object]:
    raise DevicefitError("a collective case runs in its process group", fix="Run it with execute_comm")


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a worker needs of a case (a ``Case`` holds callables that do not pickle)."""

    benchmark: str
    size: int


def execute_comm(
    cases: Sequence[Case],
    timer: TimerConfig,
    *,
    on_case: Callable[[Case, int], None] | None = None,
) -> Iterator[Result]:
    """Runs collective cases, one process group per device and process count, yielding each result.

    Args:
        cases: Cases of ``plan_comm``.
        timer: Timing budget of each case (``COMM_QUICK`` or ``COMM_FULL``).
        on_case: Called before each case with the number of cases done.

    Raises:
        DevicefitError: When a process of the group dies or stops answering.
    """
    groups: dict[tuple[str, int], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.device, case.num_processes or 2), []).append(case)
    done = 0
    for (_, num_processes), group in groups.items():
        if on_case:
            on_case(group[0], done)
        for case, outcome in _run_group(group, group[0].flags[0], num_processes, timer):
            done += 1
            yield _comm_result(case, *outcome)
            if on_case and done < len(cases):
                on_case(cases[done], done)


def _run_group(
    cases: list[Case], backend: str, num_processes: int, timer: TimerConfig
) -> Iterator[tuple[Case, tuple[Measurement | None, str, str | None]]]:
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    port = _free_port()
    specs = [_Spec(c.benchmark, c.size or 0) for c in cases]
    workers = [
        context.Process(
            target=_worker,
            args=(rank, num_processes, backend, port, specs, timer, results),
            daemon=True,
        )
        for rank in range(num_processes)
    ]
    for worker in workers:
        worker.start()
    try:
        for index, case in enumerate(cases):
            reply = _next_reply(results, workers)
            if reply[0] != index:
                raise DevicefitError(f"collective worker out of step at case {case.id}", fix=_FIX)
            yield case, reply[1:]
    finally:
        for worker in workers:
            worker.join(timeout=5.0)
            if worker.is_alive():
                worker.terminate()


_FIX = "Rerun with --debug; check that the processes can open a localhost port"


def _next_reply(results: Any, workers: list[Any]) -> tuple[Any, ...]:
    while True:
        try:
            reply: tuple[Any, ...] = results.get(timeout=1.0)
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed or all(w.exitcode is not None for w in workers):
                raise DevicefitError(
                    f"a collective process exited (code {failed[0] if failed else 0}) before its results",
                    fix=_FIX,
                ) from None
            continue
        if reply[0] == "failed":
            raise DevicefitError(f"the collective processes failed: {reply[1]}", fix=_FIX)
        return reply


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _comm_result(case: Case, measurement: Measurement | None, status: str, error: str | None) -> Result:
    value = None
    if measurement is not None:
        value = (case.bytes_per_iteration or 0.0) / measurement.summary.median_s
    return Result(
        device=case.device,
        benchmark=case.benchmark,
        case_id=case.id,
        unit=case.unit,
        dtype=case.dtype,
        size=case.size,
        flags=case.flags,
        bytes_per_iteration=case.bytes_per_iteration,
        num_processes=case.num_processes,
        value=value,
        status=status,  # type: ignore[arg-type]
        error=error,
        measurement=measurement,
        energy=None
        if measurement is None
        else EnergyReading(
            method="none",
            duration_s=sum(measurement.samples_s) * measurement.iterations_per_sample,
            note=_NOT_METERED,
        ),
    )


def _worker(
    rank: int,
    num_processes: int,
    backend: str,
    port: int,
    specs: list[_Spec],
    timer: TimerConfig,
    results: Any,
) -> None:
    """One rank: joins the group and runs every case; rank 0 reports each outcome."""
    import torch
    import torch.distributed as dist

    # As torchrun does (OMP_NUM_THREADS=1 for several processes per node): ranks sharing the cores
    # with spinning intra-op threads each would time each other's spinning, not the link.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_processes))
    try:
        device = _local_device(backend, rank)
        dist.init_process_group(
            backend,
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=num_processes,
            timeout=datetime.timedelta(seconds=GROUP_TIMEOUT_S),
        )
    except Exception as error:
        if rank == 0:
            results.put(("failed", str(error).splitlines()[0][:300]))
        raise
    try:
        for index, spec in enumerate(specs):
            outcome = _run_spec(spec, num_processes, device, timer)
            if rank == 0:
                results.put((index, *outcome))
    finally:
        dist.destroy_process_group()


def _local_device(backend: str, rank: int) -> Any:
    if backend == "nccl":
        import torch

        from devicefit.devices.cuda import CUDADevice

        torch.cuda.set_device(rank)
        return CUDADevice(rank)
    from devicefit.devices.cpu import CPUDevice

    return CPUDevice()


def _run_spec(
    spec: _Spec, num_processes: int, device: Any, timer: TimerConfig
) -> tuple[Measurement | None, str, str | None]:
    try:
        call = _collective(spec, num_processes, device.torch_device)
        return _time_collective(call, device, timer), "ok", None
    except (RuntimeError, NotImplementedError, ValueError) as error:
        message = f"{type(error).__name__} {error}".lower()
        status = "unsupported" if "not support" in message or "notimplemented" in message else "error"
        return None, status, str(error).strip().splitlines()[0][:300]


def _collective(spec: _Spec, num_processes: int, torch_device: str) -> Callable[[], object]:
    """The call of one collective over a message of ``spec.size`` bytes, on random fp32 inputs."""
    import torch
    import torch.distributed as dist

    elements = spec.size // _ELEMENT_BYTES
    whole = torch.rand(elements, device=torch_device)
    part = torch.rand(elements // num_processes, device=torch_device)
    if spec.benchmark == Benchmark.ALL_REDUCE:
        return lambda: dist.all_reduce(whole)
    if spec.benchmark == Benchmark.BROADCAST:
        return lambda: dist.broadcast(whole, src=0)
    # The *_single names replace *_into_tensor / *_tensor in newer releases (same arguments); older
    # ones have only the list forms, which gloo may not implement (the case is then unsupported).
    if spec.benchmark == Benchmark.ALL_GATHER:
        gather = getattr(dist, "all_gather_single", None) or getattr(dist, "all_gather_into_tensor", None)
        if gather is None:
            parts = list(whole.chunk(num_processes))
            return lambda: dist.all_gather(parts, part)
        return lambda: gather(whole, part)
    if spec.benchmark == Benchmark.REDUCE_SCATTER:
        scatter = getattr(dist, "reduce_scatter_single", None) or getattr(dist, "reduce_scatter_tensor", None)
        if scatter is None:
            chunks = list(whole.chunk(num_processes))
            return lambda: dist.reduce_scatter(part, chunks)
        return lambda: scatter(part, whole)
    raise ValueError(f"unknown collective {spec.benchmark!r}")


def _time_collective(call: Callable[[], object], device: Any, timer: TimerConfig) -> Measurement:
    """Warm-up, block calibration and samples, each decision rank 0's, as ``measure/timer.py`` does."""
    from devicefit.analyze.stats import summarize

    agree = _agreement(device.torch_device)
    start = device.now_s()
    num_warmup = 0
    while True:
        call()
        device.synchronize()
        num_warmup += 1
        if agree(device.now_s() - start >= timer.warmup_s):
            break
    overhead_s = statistics.median(agree(_time_block(call, 0, device)) for _ in range(5))
    target_s = max(overhead_s / timer.max_overhead_fraction, timer.min_block_s)
    longest_s = timer.budget_s / timer.min_samples
    iterations = 1
    while True:
        block_s = agree(_time_block(call, iterations, device))
        if block_s >= target_s or block_s >= longest_s:
            break
        # Grow at most tenfold a step, as measure/timer.py does: early blocks are still warming up.
        wanted = int(iterations * target_s / max(block_s, 1e-12)) + 1
        iterations = max(iterations + 1, min(iterations * 10, wanted))
    num_samples = int(min(timer.max_samples, max(timer.min_samples, timer.budget_s // max(block_s, 1e-12))))
    samples = [_time_block(call, iterations, device) / iterations for _ in range(num_samples)]
    median_block_s = statistics.median(samples) * iterations
    return Measurement(
        samples_s=tuple(samples),
        iterations_per_sample=iterations,
        overhead_s=overhead_s,
        num_warmup_iterations=num_warmup,
        summary=summarize(samples, overhead_fraction=overhead_s / median_block_s),
    )


def _time_block(call: Callable[[], object], iterations: int, device: Any) -> float:
    """Barrier, ``iterations`` calls, synchronize, barrier: the time rank 0 sees for the slowest rank."""
    import torch.distributed as dist

    dist.barrier()
    device.synchronize()
    start = device.now_s()
    for _ in range(iterations):
        call()
    device.synchronize()
    dist.barrier()
    return float(device.now_s() - start)


def _agreement(torch_device: str) -> Callable[[float], float]:
    """A function that returns rank 0's value of a number on every rank (a broadcast)."""
    import torch
    import torch.distributed as dist

    def agree(value: float) -> float:
        box = torch.tensor([float(value)], dtype=torch.float64, device=torch_device)
        dist.broadcast(box, src=0)
        return float(box.item())

    return agree
