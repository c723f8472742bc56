"""The CPU/GPU crossover: from which batch size a GPU's samples per second beat a CPU's, and why.

A GPU step pays a fixed cost per kernel launch and the copy of the batch over its host link; a CPU
pays neither. At small batches the fixed costs dominate and the CPU wins; as the batch grows the
GPU's arithmetic and bandwidth take over. The crossover is the smallest batch from which the GPU
stays ahead to the end of the sweep. The same holds for the model's size at a fixed batch: a model
sweep over widths finds the smallest width from which the GPU stays ahead.
"""

from __future__ import annotations

from collections.abc import Sequence

from devicefit.records import Prediction
from devicefit.records.advice import Bound, Crossover, CrossoverPoint, DeviceSweep


def step_bound(prediction: Prediction, copy_s: float) -> Bound:
    """What takes most of a step: launch (or dispatch), the batch copy, compute or memory."""
    parts: dict[Bound, float] = {
        "launch": prediction.overhead_s,
        "copy": copy_s,
        "compute": prediction.compute_s,
        "memory": prediction.memory_s,
    }
    return max(parts, key=lambda name: parts[name])


def crossover_point(
    prediction: Prediction, *, cpu: bool, measured_s: float | None = None, width: int | None = None
) -> CrossoverPoint:
    """A device's point at one batch (and ``width``): the predicted step plus, on GPUs, the batch's copy.

    The copy is added, not overlapped: a training loop that copies each batch before its step (no
    pinned memory, no prefetching stream) pays both.
    """
    copy = 0.0 if cpu else prediction.transfer_s
    step = prediction.step_time_s + copy
    return CrossoverPoint(
        batch_size=prediction.batch_size,
        step_time_s=step,
        samples_per_s=prediction.batch_size / step if step > 0 else 0.0,
        copy_s=copy,
        bound=step_bound(prediction, copy),
        fits=prediction.fits,
        measured_step_time_s=measured_s,
        width=width,
    )


def _ahead(gpu: CrossoverPoint, cpu: CrossoverPoint) -> bool:
    return gpu.fits is not False and gpu.best_samples_per_s > cpu.best_samples_per_s


def _position(point: CrossoverPoint) -> int:
    """Where a point sits in its sweep: its width in a model-size sweep, else its batch."""
    return point.batch_size if point.width is None else point.width


def find_crossover(gpu: DeviceSweep, cpu: DeviceSweep) -> Crossover | None:
    """Where ``gpu`` overtakes ``cpu`` over the batches (or widths) both were swept at (``None``: none).

    The batch is the smallest from which the GPU stays ahead to the end of the sweep; a GPU ahead
    from the first batch, or behind at the last and never ahead, wins or loses throughout (no batch).
    A GPU ahead at first but behind at the last batch (its memory runs out, or the CPU scales better)
    has no crossover and no winner; ``cpu_ahead_from`` says from which batch the CPU leads. Measured
    times are used where measured. In a model-size sweep, widths take the place of batches.
    """
    cpu_points = {(p.batch_size, p.width): p for p in cpu.points}
    pairs = [
        (g, cpu_points[g.batch_size, g.width]) for g in gpu.points if (g.batch_size, g.width) in cpu_points
    ]
    if not pairs:
        return None
    ahead = [_ahead(g, c) for g, c in pairs]
    crossing: int | None = None
    cpu_from: int | None = None
    winner: str | None = None
    if all(ahead):
        winner = "gpu"
    elif not any(ahead):
        winner = "cpu"
    else:
        # The start of the last run of batches on the side that wins at the end.
        start = len(ahead) - 1
        while start > 0 and ahead[start - 1] == ahead[-1]:
            start -= 1
        if ahead[-1]:
            crossing = _position(pairs[start][0])
        else:
            cpu_from = _position(pairs[start][0])
    first_gpu, first_cpu = pairs[0]
    last_gpu, last_cpu = pairs[-1]
    by_width = first_gpu.width is not None
    return Crossover(
        gpu=gpu.device,
        cpu=cpu.device,
        batch_size=None if by_width else crossing,
        width=crossing if by_width else None,
        first_width=first_gpu.width,
        last_width=last_gpu.width,
        winner=winner,
        first_batch_size=first_gpu.batch_size,
        first_speedup=_speedup(first_gpu, first_cpu),
        first_gpu_bound=first_gpu.bound,
        last_batch_size=last_gpu.batch_size,
        last_speedup=_speedup(last_gpu, last_cpu),
        last_gpu_bound=last_gpu.bound,
        measured=any(c.measured_step_time_s is not None for _, c in pairs),
        cpu_ahead_from=cpu_from,
    )


def _speedup(gpu: CrossoverPoint, cpu: CrossoverPoint) -> float:
    return gpu.best_samples_per_s / cpu.best_samples_per_s if cpu.best_samples_per_s > 0 else float("inf")


def find_crossovers(sweeps: Sequence[DeviceSweep]) -> tuple[Crossover, ...]:
    """Every GPU's crossover against every CPU of ``sweeps``."""
    cpus = [s for s in sweeps if s.cpu]
    found = (find_crossover(g, c) for g in sweeps if not g.cpu for c in cpus)
    return tuple(c for c in found if c is not None)
