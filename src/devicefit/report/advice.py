"""Tables, sentences and JSON for ``crossover`` and ``plan``."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from devicefit.records.advice import Crossover, CrossoverOutcome, CrossoverPoint, PlanCandidate, PlanOutcome
from devicefit.report.units import format_bytes, format_seconds

_BOUND_WORDS = {
    "launch": "launch-bound",
    "copy": "copy-bound",
    "compute": "compute-bound",
    "memory": "memory-bound",
}


def _times(speedup: float) -> str:
    return f"{speedup:.3g}x" if math.isfinite(speedup) else "infinitely"


def crossover_reason(c: Crossover) -> str:
    """The crossover in words: from which batch (or width) the GPU wins, by how much at the ends, and why."""
    by_width = c.first_width is not None
    unit = "width" if by_width else "batch"
    first, last = (c.first_width, c.last_width) if by_width else (c.first_batch_size, c.last_batch_size)
    low = (
        f"at {unit} {first} the GPU is {_times(c.first_speedup)} the CPU's speed"
        f" ({_BOUND_WORDS[c.first_gpu_bound]})"
    )
    high = f"at {unit} {last} {_times(c.last_speedup)} ({_BOUND_WORDS[c.last_gpu_bound]})"
    source = " (CPU measured)" if c.measured else ""
    if by_width:
        source += f" at batch {c.first_batch_size}"
    crossing = c.width if by_width else c.batch_size
    if c.winner == "gpu":
        return f"{c.gpu} beats {c.cpu} at every {unit}{source}: {low}, {high}"
    if c.winner == "cpu":
        return f"{c.cpu} beats {c.gpu} at every {unit}{source}: {low}, {high}"
    if crossing is None:
        return f"{c.cpu} overtakes {c.gpu} from {unit} {c.cpu_ahead_from}{source}: {low}, {high}"
    return f"{c.gpu} overtakes {c.cpu} from {unit} {crossing}{source}: {low}, {high}"


def _point_to_dict(p: CrossoverPoint) -> dict[str, Any]:
    return {
        **({"width": p.width} if p.width is not None else {}),
        "batch_size": p.batch_size,
        "step_time_s": p.step_time_s,
        "samples_per_s": p.samples_per_s,
        "copy_s": p.copy_s,
        "bound": p.bound,
        "fits": p.fits,
        **({"measured_step_time_s": p.measured_step_time_s} if p.measured_step_time_s is not None else {}),
    }


def _crossover_to_dict(c: Crossover) -> dict[str, Any]:
    # A width sweep names its crossing width where a batch sweep names its batch.
    at = {"width": c.width} if c.first_width is not None else {"batch_size": c.batch_size}
    return {
        "gpu": c.gpu,
        "cpu": c.cpu,
        **at,
        "winner": c.winner,
        "cpu_ahead_from": c.cpu_ahead_from,
        "measured": c.measured,
        "reason": crossover_reason(c),
    }


def crossover_to_dict(outcome: CrossoverOutcome) -> dict[str, Any]:
    """``crossover --json``; a width sweep adds ``widths`` and keys its points and crossovers by width."""
    return {
        "model": outcome.model,
        "mode": outcome.mode,
        "precision": outcome.precision,
        "sweep": outcome.sweep,
        "batch_sizes": list(outcome.batch_sizes),
        **({"widths": list(outcome.widths)} if outcome.sweep == "width" else {}),
        "devices": [
            {
                "device": s.device,
                "device_name": s.device_name,
                "cpu": s.cpu,
                "origin": s.origin,
                "error_band": s.error_band,
                "copy_source": s.copy_source or None,
                "points": [_point_to_dict(p) for p in s.points],
            }
            for s in outcome.devices
        ],
        "crossovers": [_crossover_to_dict(c) for c in outcome.crossovers],
        "run_id": outcome.run_id,
        "notes": list(outcome.notes),
    }


def render_crossover(outcome: CrossoverOutcome) -> RenderableType:
    """Samples per second by device (columns) and batch or width (rows), then each GPU's crossover."""
    measured = any(p.measured_step_time_s is not None for s in outcome.devices for p in s.points)
    by_width = outcome.sweep == "width"
    caption = "samples/s (bound)" + (f" at batch {outcome.batch_sizes[0]}" if by_width else "")
    table = Table(box=box.SIMPLE_HEAD, title=caption, title_justify="left")
    table.add_column("width" if by_width else "batch", justify="right")
    for s in outcome.devices:
        table.add_column(s.device, justify="right")
        if any(p.measured_step_time_s is not None for p in s.points):
            table.add_column(f"{s.device} measured", justify="right", style="green")
    for row, position in enumerate(outcome.widths if by_width else outcome.batch_sizes):
        cells = [str(position)]
        for s in outcome.devices:
            p = s.points[row]
            text = f"{p.samples_per_s:,.4g} ({p.bound})"
            cells.append(text if p.fits is not False else f"{text} no fit")
            if any(q.measured_step_time_s is not None for q in s.points):
                cells.append(
                    f"{p.batch_size / p.measured_step_time_s:,.4g}" if p.measured_step_time_s else "-"
                )
        table.add_row(*cells)
    title = Text(f"{outcome.model}: {outcome.mode}, {outcome.precision}", style="bold")
    lines = [Text(f"- {crossover_reason(c)}") for c in outcome.crossovers]
    if not outcome.crossovers:
        lines = [Text("no crossover: the sweep has no GPU and CPU pair (add one to --device)")]
    footer = "GPU times include the batch's copy over the host link; "
    footer += (
        "the CPU's crossover side is measured" if measured else "add --measure to time the local devices"
    )
    parts: list[RenderableType] = [title, table, *lines, Text(footer, style="dim")]
    parts += [Text(f"note: {n}", style="yellow") for n in outcome.notes]
    return Group(*parts)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    for scale, unit in ((86400.0, "days"), (3600.0, "h"), (60.0, "min")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return format_seconds(seconds)


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.2g}"


def candidate_name(c: PlanCandidate) -> str:
    """The instance (``aws/p4d.24xlarge``), or the local device."""
    return c.instance or c.device


def candidate_reason(outcome: PlanOutcome, index: int) -> str:
    """One sentence on why a candidate is in or out."""
    c = outcome.candidates[index]
    k = outcome.constraints
    if not c.fits:
        has = format_bytes(c.capacity_bytes) if c.capacity_bytes else "unknown"
        why = "; ".join(c.assumptions) if c.assumptions and k.mode == "infer" else ""
        return why or f"does not fit: needs {format_bytes(c.needed_bytes)} at batch {c.batch_size}, has {has}"
    missed = []
    if not c.meets_deadline and k.deadline_s is not None:
        missed.append(f"misses the deadline by {_duration(c.time_s - k.deadline_s)}")
    if not c.within_budget and k.budget_usd is not None and c.cost_usd is not None:
        missed.append(f"is over budget by {_usd(c.cost_usd - k.budget_usd)}")
    if missed:
        closest = " (among the closest)" if index in outcome.closest else ""
        return " and ".join(missed) + closest
    if index == outcome.pick:
        best = {"cost": "cheapest", "time": "fastest", "energy": "least energy"}[outcome.objective]
        return f"the pick: the {best} feasible candidate"
    pick = outcome.candidates[outcome.pick] if outcome.pick is not None else None
    if pick is None:
        return "feasible"
    if c.pareto:
        return (
            f"feasible, on the time/cost front: {_duration(c.time_s)} for {_usd(c.cost_usd)}"
            f" against the pick's {_duration(pick.time_s)} for {_usd(pick.cost_usd)}"
        )
    return f"feasible, but {candidate_name(pick)} is both faster and cheaper or as good"


def pick_sentence(outcome: PlanOutcome) -> str:
    """The pick explained, or ``none`` with the closest candidates."""
    if outcome.pick is None:
        closest = ", ".join(candidate_name(outcome.candidates[i]) for i in outcome.closest) or "none fits"
        return f"pick: none meets every constraint; closest: {closest}"
    c = outcome.candidates[outcome.pick]
    energy = f", {c.energy_kwh:,.3g} kWh" if c.energy_kwh is not None else ""
    return (
        f"pick: {candidate_name(c)} ({c.device_name}, batch {c.batch_size}): {_duration(c.time_s)}, "
        f"{_usd(c.cost_usd)}{energy}; the best feasible by {outcome.objective} "
        f"of {sum(1 for x in outcome.candidates if x.feasible)} feasible candidates"
    )


def plan_to_dict(outcome: PlanOutcome) -> dict[str, Any]:
    """``plan --json``."""
    k = outcome.constraints
    return {
        "model": outcome.model,
        "objective": outcome.objective,
        "constraints": {
            "mode": k.mode,
            "samples": k.samples,
            "epochs": k.epochs,
            "deadline_s": k.deadline_s,
            "budget_usd": k.budget_usd,
            "rate_per_s": k.rate_per_s,
            "batch_size": k.batch_size,
        },
        "electricity": {
            "usd_per_kwh": outcome.electricity_usd_per_kwh,
            "source": outcome.electricity_source,
            "date": outcome.electricity_date,
        },
        "candidates": [
            {
                "device": c.device,
                "device_name": c.device_name,
                "instance": c.instance,
                "gpus": c.gpus,
                "num_instances": c.num_instances,
                "batch_size": c.batch_size,
                "step_time_s": c.step_time_s,
                "time_s": c.time_s if math.isfinite(c.time_s) else None,
                "price_usd_per_h": c.price_usd_per_h,
                "cost_usd": c.cost_usd,
                "energy_kwh": c.energy_kwh,
                "power_w": c.power_w,
                "fits": c.fits,
                "needed_bytes": c.needed_bytes,
                "capacity_bytes": c.capacity_bytes,
                "meets_deadline": c.meets_deadline,
                "within_budget": c.within_budget,
                "feasible": c.feasible,
                "pareto": c.pareto,
                "reason": candidate_reason(outcome, i),
                "price_source": c.price_source,
                "price_date": c.price_date,
                "price_stale": c.price_stale,
                "assumptions": list(c.assumptions),
            }
            for i, c in enumerate(outcome.candidates)
        ],
        "pick": candidate_name(outcome.candidates[outcome.pick]) if outcome.pick is not None else None,
        "closest": [candidate_name(outcome.candidates[i]) for i in outcome.closest],
        "summary": pick_sentence(outcome),
        "notes": list(outcome.notes),
        "run_id": outcome.run_id,
    }


def render_plan(outcome: PlanOutcome, *, limit: int | None = None) -> RenderableType:
    """The ranked candidates (feasible first), the Pareto front marked, a reason each, the pick."""
    table = Table(box=box.SIMPLE_HEAD)
    for name, justify in (
        ("#", "right"), ("candidate", "left"), ("GPUs", "right"), ("batch", "right"), ("time", "right"),
        ("cost", "right"), ("energy", "right"), ("price date", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    shown = outcome.candidates if limit is None else outcome.candidates[:limit]
    for i, c in enumerate(shown):
        mark = "*" if c.pareto else ""
        style = "bold green" if i == outcome.pick else ("" if c.feasible else "dim")
        date = (c.price_date or "no date") + (" stale" if c.price_stale else "")
        table.add_row(
            f"{i + 1}{mark}",
            candidate_name(c),
            str(c.gpus),
            str(c.batch_size),
            _duration(c.time_s),
            _usd(c.cost_usd),
            f"{c.energy_kwh:,.3g} kWh" if c.energy_kwh is not None else "unknown",
            date,
            style=style,
        )
    k = outcome.constraints
    asked = [f"{k.mode}"]
    if k.samples:
        asked.append(f"{k.samples:,} samples" + (f" x {k.epochs:g} epochs" if k.mode == "train" else ""))
    if k.rate_per_s:
        asked.append(f"{k.rate_per_s:,.4g} samples/s")
    if k.deadline_s:
        asked.append(f"deadline {_duration(k.deadline_s)}")
    if k.budget_usd:
        asked.append(f"budget {_usd(k.budget_usd)}")
    title = Text(f"{outcome.model}: {', '.join(asked)}; by {outcome.objective}", style="bold")
    reasons = [
        Text(f"{i + 1}. {candidate_name(c)}: {candidate_reason(outcome, i)}") for i, c in enumerate(shown)
    ]
    parts: list[RenderableType] = [title, table, *reasons, Text(pick_sentence(outcome), style="bold")]
    hidden = len(outcome.candidates) - len(shown)
    footer = "* on the time/cost Pareto front"
    if hidden:
        footer += f"; {hidden} more candidates in --json"
    footer += (
        f"; local devices cost electricity at ${outcome.electricity_usd_per_kwh:.4g}/kWh "
        f"({outcome.electricity_date or 'no date'})"
    )
    scaled = [c for c in shown if c.gpus > 1 and k.mode == "train"]
    if scaled:
        footer += "; multi-GPU instances train data parallel: " + "; ".join(
            f"{candidate_name(c)}: {c.assumptions[0]}" for c in scaled if c.assumptions
        )
    parts.append(Text(footer, style="dim"))
    parts += [Text(f"note: {n}", style="yellow") for n in outcome.notes]
    return Group(*parts)
