"""Stores the answers of ``crossover`` and ``plan`` as runs, which ``show`` prints again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

from devicefit.measure.environment import collect_environment, command_line
from devicefit.records import DeviceDescription
from devicefit.records.advice import CrossoverOutcome, PlanOutcome
from devicefit.store.sqlite import Store

Advice = TypeVar("Advice", CrossoverOutcome, PlanOutcome)


def record_advice(
    store: Store,
    advice: Advice,
    devices: Sequence[DeviceDescription],
    *,
    run_id: int | None = None,
) -> Advice:
    """Stores a ``crossover`` or ``plan`` answer as a run; returns the answer with its run id.

    The run is ``run_id`` (a measured crossover's), else a new run of this command on ``devices``
    (the local devices it probed, none for catalog devices alone). Advice from predictions alone
    does not import PyTorch to describe its environment.
    """
    if run_id is not None:
        advice = dataclasses.replace(advice, run_id=run_id)
        store.add_advice(run_id, advice)
        return advice
    descriptions = tuple(devices)
    environment = collect_environment(descriptions, load_torch=False)
    with store.recording(command=command_line(), environment=environment, devices=descriptions) as recorder:
        advice = dataclasses.replace(advice, run_id=recorder.run_id)
        store.add_advice(recorder.run_id, advice)
    return advice
