"""Records of advice: the CPU/GPU crossover by batch size, and a plan of devices and cloud instances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What bounds a step on a device: kernel launches and dispatch, the batch's copy to the device,
#: arithmetic, or memory traffic.
Bound = Literal["launch", "copy", "compute", "memory"]
#: What ``plan`` minimizes among feasible candidates.
Objective = Literal["cost", "time", "energy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossoverPoint:
    """One device at one batch size.

    Attributes:
        batch_size: Samples per step.
        step_time_s: Predicted step time, including ``copy_s`` (the copy is not overlapped).
        samples_per_s: ``batch_size`` over ``step_time_s``.
        copy_s: The batch's host-to-device copy over the device's link (0 on CPUs).
        bound: What takes most of the step.
        fits: The step fits the device's memory (``None``: capacity unknown).
        measured_step_time_s: Measured step time on this machine (``--measure``), without a copy.
        width: The model's width, in a model-size sweep (``None`` in a batch sweep).
    """

    batch_size: int
    step_time_s: float
    samples_per_s: float
    copy_s: float
    bound: Bound
    fits: bool | None = None
    measured_step_time_s: float | None = None
    width: int | None = None

    @property
    def best_samples_per_s(self) -> float:
        """Samples per second, measured where measured, else predicted."""
        if self.measured_step_time_s:
            return self.batch_size / (self.measured_step_time_s + self.copy_s)
        return self.samples_per_s


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSweep:
    """A device's points over the batch sizes of a crossover.

    Attributes:
        device: Local id or catalog id.
        device_name: Readable name.
        cpu: The device is a CPU.
        origin: Where its figures came from (``calibrated``, ``defaults``...).
        error_band: Expected relative error of its predicted times.
        copy_source: Where its host link figure came from (GPUs).
        points: One per batch size (or width, in a model-size sweep), ascending.
    """

    device: str
    device_name: str
    cpu: bool
    origin: str
    error_band: float
    points: tuple[CrossoverPoint, ...]
    copy_source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Crossover:
    """Where a GPU overtakes a CPU, by batch size or, in a model-size sweep, by width.

    Attributes:
        gpu: The GPU's id.
        cpu: The CPU's id.
        batch_size: The smallest batch from which the GPU stays ahead; ``None`` when one side wins
            throughout, and in a model-size sweep.
        winner: Who wins throughout when ``batch_size`` is ``None`` (``gpu`` or ``cpu``); ``None``
            otherwise.
        first_batch_size: The sweep's smallest batch; ``first_speedup`` the GPU's samples/s over the
            CPU's there (below 1: the CPU is faster); ``first_gpu_bound`` what bounds the GPU there.
        last_batch_size: The sweep's largest batch both ran, with ``last_speedup`` and ``last_gpu_bound``.
        measured: The CPU side (and local GPUs) came from measurements.
        cpu_ahead_from: When the GPU leads at first but not at the end (its memory runs out, or the CPU
            scales better), the smallest batch (or width) from which the CPU stays ahead.
        width: In a model-size sweep, the smallest width from which the GPU stays ahead (``None``
            when one side wins throughout); ``first_width`` and ``last_width`` the sweep's ends,
            where ``first_batch_size`` and ``last_batch_size`` are its one batch.
    """

    gpu: str
    cpu: str
    batch_size: int | None
    winner: str | None
    first_batch_size: int
    first_speedup: float
    first_gpu_bound: Bound
    last_batch_size: int
    last_speedup: float
    last_gpu_bound: Bound
    measured: bool = False
    cpu_ahead_from: int | None = None
    width: int | None = None
    first_width: int | None = None
    last_width: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossoverOutcome:
    """``crossover``: every device's sweep and every GPU's crossover against each CPU.

    Attributes:
        model: The model.
        mode: ``train`` or ``infer``.
        precision: The precision.
        batch_sizes: The sweep (the one batch of a model-size sweep).
        devices: One sweep per device.
        crossovers: One per (GPU, CPU) pair.
        notes: What the reader should know (defaults used, devices skipped).
        run_id: The stored run of the answer (and of the measurements, with ``--measure``).
        sweep: ``batch``, or ``width`` for a model-size sweep over ``widths`` at one batch.
        widths: The model widths of a model-size sweep, ascending (empty in a batch sweep).
    """

    model: str
    mode: str
    precision: str
    batch_sizes: tuple[int, ...]
    devices: tuple[DeviceSweep, ...]
    crossovers: tuple[Crossover, ...]
    notes: tuple[str, ...] = ()
    run_id: int | None = None
    sweep: str = "batch"
    widths: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanConstraints:
    """What ``plan`` was asked.

    Attributes:
        samples: Samples per epoch (training) or to serve (inference, optional).
        epochs: Passes over the samples (training).
        deadline_s: The latest the job may finish (``None``: no deadline).
        budget_usd: The most it may cost (``None``: no budget).
        rate_per_s: Samples per second to sustain (inference).
        batch_size: The batch asked for (``None``: each candidate's largest that fits, capped).
        mode: ``train`` or ``infer``.
    """

    samples: int | None
    epochs: float
    deadline_s: float | None
    budget_usd: float | None
    rate_per_s: float | None
    batch_size: int | None
    mode: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCandidate:
    """A device or cloud instance for the job, with what it would take.

    Attributes:
        device: The device's id (local or catalog).
        device_name: Readable name.
        instance: The cloud instance (``aws/p4d.24xlarge``); ``None`` for a local device.
        gpus: Devices of the instance the job uses (instances x GPUs each when serving).
        num_instances: Instances needed (serving at a rate); 1 for training.
        batch_size: Samples per step it would use.
        step_time_s: Predicted time of a step on one device, with the batch's copy.
        time_s: Time to finish the job (training), or to serve ``samples`` at the rate.
        price_usd_per_h: The price of one whole instance by the hour; for a local device, its
            electricity at the modelled power.
        cost_usd: ``time_s`` x price x instances.
        energy_kwh: The devices' modelled energy over ``time_s`` (``None``: TDP unknown).
        power_w: The modelled power of all its devices together.
        fits: The step fits one device's memory at ``batch_size``.
        needed_bytes: Memory the step needs at ``batch_size`` (at batch 1 when nothing fits).
        capacity_bytes: One device's memory (``None``: unknown).
        meets_deadline: ``time_s`` is within the deadline (``True`` without one).
        within_budget: ``cost_usd`` is within the budget (``True`` without one).
        feasible: Fits, meets the deadline and the budget.
        pareto: On the time/cost Pareto front of the candidates that fit.
        price_source: Where the price came from; ``price_date`` when; ``price_stale`` over a year old.
        assumptions: What its figures assume (data-parallel scaling over an instance's GPUs).
    """

    device: str
    device_name: str
    instance: str | None
    gpus: int
    num_instances: int
    batch_size: int
    step_time_s: float
    time_s: float
    price_usd_per_h: float | None
    cost_usd: float | None
    energy_kwh: float | None
    power_w: float | None
    fits: bool
    needed_bytes: float
    capacity_bytes: float | None
    meets_deadline: bool
    within_budget: bool
    feasible: bool
    pareto: bool
    price_source: str
    price_date: str | None
    price_stale: bool
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOutcome:
    """``plan``: the candidates ranked by the objective, feasible first, and the pick.

    Attributes:
        model: The model.
        objective: What the pick minimizes.
        constraints: What was asked.
        candidates: Ranked: feasible ones by the objective, then the rest by how close they come.
        pick: The index in ``candidates`` of the pick (``None``: nothing is feasible).
        closest: Indices of the candidates that come closest when nothing is feasible.
        electricity_usd_per_kwh: The electricity price local devices are costed at, with its
            ``electricity_source`` and ``electricity_date``.
        notes: What the reader should know (devices skipped, defaults used).
        run_id: The stored run of the answer.
    """

    model: str
    objective: Objective
    constraints: PlanConstraints
    candidates: tuple[PlanCandidate, ...]
    pick: int | None
    closest: tuple[int, ...]
    electricity_usd_per_kwh: float
    electricity_source: str
    electricity_date: str | None
    notes: tuple[str, ...] = ()
    run_id: int | None = None
