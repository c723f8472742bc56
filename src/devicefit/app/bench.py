"""``bench``: measure the selected devices into a stored run, then fit each device's model from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from devicefit.app.session import plan_cases, run_benchmarks
from devicefit.devices.base import Device
from devicefit.measure.bench_plan import ModelPlan
from devicefit.measure.case import Case
from devicefit.records import BenchOutcome, DeviceModel
from devicefit.records.vocabulary import Benchmark
from devicefit.store.sqlite import Store


def bench(
    devices: Sequence[Device],
    store: Store,
    *,
    suite: str = "micro",
    quick: bool = False,
    only: str | None = None,
    models: ModelPlan | None = None,
    label: str | None = None,
    on_case: Callable[[Case, int, int], None] | None = None,
    raise_errors: bool = False,
    num_processes: int = 2,
) -> BenchOutcome:
    """Runs ``suite`` on ``devices`` into a new run of ``store``; a finished run fits each device's model.

    Args:
        devices: Selected devices.
        store: Where the run, its results and the fits are kept.
        suite: ``micro``, ``models``, ``comm`` or ``all``; ``models`` whenever ``models`` names a model.
        quick: The reduced sweep.
        only: Shell patterns over benchmark names and case ids.
        models: What the models suite runs.
        label: A note stored with the run.
        on_case: Called before each case with the case, the number done and the number of cases.
        raise_errors: Let a failing case raise (``--debug``) instead of storing its error.
        num_processes: Processes of the comm suite's collectives.

    Returns:
        The run; ``fits`` holds the fitted models (none when interrupted).
    """
    if models is not None and models.models:
        suite = "models"
    cases = plan_cases(
        devices, suite=suite, quick=quick, only=only, models=models, num_processes=num_processes
    )
    outcome = run_benchmarks(
        cases, devices, store, quick=quick, label=label, on_case=on_case, raise_errors=raise_errors
    )
    if outcome.interrupted:
        return outcome
    fits = fit_bench_models(outcome, devices, store)
    return dataclasses.replace(
        outcome, fits=tuple(model for model, _ in fits), calibration_ids=tuple(i for _, i in fits)
    )


def fit_bench_models(
    outcome: BenchOutcome, devices: Sequence[Device], store: Store
) -> list[tuple[DeviceModel, int]]:
    """Fits each device's model from the micro suite's results, for predict until ``calibrate`` runs.

    Each fit is judged against the device's peak, its noise and this machine's earlier runs, and
    stored with the verdict: a rejected one is kept for the record but never predicts.
    """
    from devicefit.predict.calibration import fit_bench_model
    from devicefit.predict.plausibility import judge_fit

    fitted = []
    for device in devices:
        description = device.properties()
        measured = {r.benchmark for r in outcome.results if r.device == device.id and r.status == "ok"}
        if device.kind == "fake" or not {Benchmark.MATMUL, Benchmark.TRIAD, Benchmark.LAUNCH} <= measured:
            continue
        model = fit_bench_model(
            outcome.results,
            description,
            source=f"devicefit bench, run {outcome.run_id} (micro suite; 'devicefit calibrate' fits more)",
        )
        earlier = store.earlier_results(
            outcome.run_id, device.id, (r.case_id for r in outcome.results if r.device == device.id)
        )
        model = judge_fit(model, outcome.results, description, earlier=earlier)
        fitted.append((model, store.add_calibration(outcome.run_id, model, origin="bench")))
    return fitted
