"""A plan: each device or cloud instance's time, cost and energy for a job, ranked, with the pick.

Training takes ``samples x epochs`` over the throughput (the batch over the step and its copy);
serving at a rate takes as many devices as the rate needs. An instance of several GPUs trains data
parallel: its step is predicted for that many GPUs (``predict.parallel``: the gradients' all-reduce
over the instance's links), and the scaling efficiency is stated on the candidate; a prediction made
for one GPU only is taken to scale perfectly, and says so. Serving replicas need no communication.
A cloud instance costs its hourly price; a local device the electricity its modelled power draws.
The pick is the best feasible candidate by the objective; the time/cost Pareto front shows the
trade-offs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from devicefit.records import ElectricityPrice, InstancePrice, Prediction
from devicefit.records.advice import Objective, PlanCandidate, PlanConstraints, PlanOutcome

#: Seconds of serving costed when ``--infer --rate`` has no sample count: an hour, as prices are quoted.
SERVING_WINDOW_S = 3600.0
#: Candidates listed as closest when nothing is feasible.
NUM_CLOSEST = 3
_J_PER_KWH = 3.6e6
_S_PER_H = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """A candidate to cost: a device's predicted step, and the instance that carries it (or none)."""

    prediction: Prediction
    instance: InstancePrice | None = None


def cost_candidate(
    option: Option, constraints: PlanConstraints, electricity: ElectricityPrice
) -> PlanCandidate:
    """The time, cost and energy of the job on one option, and whether it meets the constraints."""
    p = option.prediction
    instance = option.instance
    step = p.step_time_s + p.transfer_s
    per_device = p.batch_size / step if step > 0 else 0.0
    fits = p.fits is not False and per_device > 0
    gpus = instance.num_gpus if instance else 1
    num_instances = 1
    assumptions: list[str] = []
    if constraints.mode == "infer" and constraints.rate_per_s:
        needed = max(math.ceil(constraints.rate_per_s / per_device), 1) if per_device > 0 else 1
        if instance:
            num_instances = math.ceil(needed / instance.num_gpus)
            gpus = needed
        else:
            gpus = needed
        time = constraints.samples / constraints.rate_per_s if constraints.samples else SERVING_WINDOW_S
        power_devices = gpus
    else:
        work = (constraints.samples or 0) * constraints.epochs
        power_devices = gpus
        if p.gpus > 1 and p.gpus == gpus:
            rate = p.replicas * per_device
            time = work / rate if rate > 0 else math.inf
            efficiency = f"{p.scaling_efficiency:.0%}" if p.scaling_efficiency is not None else "unknown"
            assumptions.append(
                f"{gpus} GPUs {p.parallel}, scaling efficiency {efficiency} "
                f"(communication {p.comm_s * 1e3:.3g} ms a step, {p.exposed_comm_s * 1e3:.2g} ms not hidden)"
            )
        else:
            time = work / (per_device * gpus) if per_device > 0 else math.inf
            if gpus > 1:
                assumptions.append(f"{gpus} GPUs scale perfectly (data parallel, no communication cost)")
    power = p.power.power_w * power_devices if p.power else None
    if instance is not None:
        price: float | None = instance.usd_per_hour
        source, date, stale = instance.source, instance.date or instance.observed, instance.stale
    else:
        price = power / 1000 * electricity.usd_per_kwh if power is not None else None
        source, date = f"electricity: {electricity.source}", electricity.date or electricity.observed
        stale = electricity.stale
        if constraints.mode == "infer" and gpus > 1:
            fits = False
            assumptions.append(f"needs {gpus} devices for the rate; this machine has one")
    cost = time / _S_PER_H * price * num_instances if price is not None and math.isfinite(time) else None
    energy = power * time / _J_PER_KWH if power is not None and math.isfinite(time) else None
    meets = constraints.deadline_s is None or time <= constraints.deadline_s
    within = constraints.budget_usd is None or cost is None or cost <= constraints.budget_usd
    return PlanCandidate(
        device=p.device,
        device_name=p.device_name,
        instance=instance.id if instance else None,
        gpus=gpus,
        num_instances=num_instances,
        batch_size=p.batch_size,
        step_time_s=step,
        time_s=time,
        price_usd_per_h=price,
        cost_usd=cost,
        energy_kwh=energy,
        power_w=power,
        fits=fits,
        needed_bytes=p.peak_memory_bytes,
        capacity_bytes=p.memory_capacity_bytes,
        meets_deadline=meets,
        within_budget=within,
        feasible=fits and meets and within,
        pareto=False,
        price_source=source,
        price_date=date,
        price_stale=stale,
        assumptions=tuple(assumptions),
    )


def objective_value(candidate: PlanCandidate, objective: Objective) -> float:
    """What the objective minimizes for ``candidate`` (infinite where unknown)."""
    value = {"cost": candidate.cost_usd, "time": candidate.time_s, "energy": candidate.energy_kwh}[objective]
    return math.inf if value is None else value


def shortfall(candidate: PlanCandidate, constraints: PlanConstraints) -> float:
    """How far a candidate that fits is from its constraints: the worst of time/deadline and cost/budget."""
    ratios = [1.0]
    if constraints.deadline_s:
        ratios.append(candidate.time_s / constraints.deadline_s)
    if constraints.budget_usd and candidate.cost_usd is not None:
        ratios.append(candidate.cost_usd / constraints.budget_usd)
    return max(ratios)


def pareto_front(candidates: Sequence[PlanCandidate]) -> set[int]:
    """Indices of the candidates that fit and that no other beats on both time and cost."""
    fitting = [
        (i, c)
        for i, c in enumerate(candidates)
        if c.fits and c.cost_usd is not None and math.isfinite(c.time_s)
    ]
    front = set()
    for i, c in fitting:
        dominated = any(
            o.time_s <= c.time_s
            and (o.cost_usd or 0.0) <= (c.cost_usd or 0.0)
            and (o.time_s < c.time_s or (o.cost_usd or 0.0) < (c.cost_usd or 0.0))
            for j, o in fitting
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def make_plan(
    model: str,
    options: Sequence[Option],
    constraints: PlanConstraints,
    *,
    objective: Objective,
    electricity: ElectricityPrice,
    notes: Sequence[str] = (),
) -> PlanOutcome:
    """Costs every option, ranks them (feasible first, by the objective) and picks the best feasible one.

    Candidates that are not feasible follow, those that fit by how close they come to the constraints,
    then those that do not fit. When nothing is feasible, ``closest`` holds the first few that fit.
    """
    costed = [cost_candidate(o, constraints, electricity) for o in options]
    front = pareto_front(costed)
    costed = [replace(c, pareto=i in front) for i, c in enumerate(costed)]
    feasible = sorted(
        (c for c in costed if c.feasible), key=lambda c: (objective_value(c, objective), c.time_s)
    )
    fitting = sorted(
        (c for c in costed if c.fits and not c.feasible),
        key=lambda c: (shortfall(c, constraints), objective_value(c, objective)),
    )
    rest = sorted((c for c in costed if not c.fits), key=lambda c: c.needed_bytes)
    ranked = (*feasible, *fitting, *rest)
    closest = () if feasible else tuple(range(len(feasible), len(feasible) + min(NUM_CLOSEST, len(fitting))))
    return PlanOutcome(
        model=model,
        objective=objective,
        constraints=constraints,
        candidates=ranked,
        pick=0 if feasible else None,
        closest=closest,
        electricity_usd_per_kwh=electricity.usd_per_kwh,
        electricity_source=electricity.source,
        electricity_date=electricity.date,
        notes=tuple(notes),
    )
