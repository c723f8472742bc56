"""``calibrate``: measure the calibration plan on local devices and fit each device's performance model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from devicefit.app.session import comm_cases, run_benchmarks
from devicefit.devices.base import Device
from devicefit.errors import UsageError
from devicefit.measure.calibration_plan import plan_calibration
from devicefit.measure.case import Case
from devicefit.records import BenchOutcome
from devicefit.store.sqlite import Store


def calibrate(
    devices: Sequence[Device],
    store: Store,
    *,
    quick: bool = False,
    on_case: Callable[[Case, int, int], None] | None = None,
    raise_errors: bool = False,
    num_processes: int | None = None,
) -> BenchOutcome:
    """Measures each device's calibration plan (CPUs at one thread and at all) and stores the fits.

    With ``num_processes``, each device's collectives between that many processes are measured
    too (``bench --suite comm``'s sweep), and its model gets the local link they fit (``links``).

    Raises:
        UsageError: When only the simulated device is selected (it has nothing to calibrate).

    Returns:
        The run, with a fitted model per device and thread count in ``fits`` (none when interrupted).
    """
    from devicefit.predict.calibration import calibration_threads, fit_device_model
    from devicefit.predict.links import fit_links
    from devicefit.predict.plausibility import judge_fit

    selected = tuple(d for d in devices if d.kind != "fake")
    if not selected:
        raise UsageError("nothing to calibrate: a fake device has no measurements", fix="Pass --device cpu")
    plans = [(d.properties(), threads) for d in selected for threads in calibration_threads(d.properties())]
    cases = [
        case
        for description, threads in plans
        for case in plan_calibration(description, num_threads=threads, quick=quick)
    ]
    if num_processes is not None:
        cases += [c for d in selected for c in comm_cases(d, num_processes=num_processes, quick=quick)]
    outcome = run_benchmarks(
        cases, selected, store, quick=quick, label="calibrate", on_case=on_case, raise_errors=raise_errors
    )
    if outcome.interrupted:
        return outcome
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fits, ids = [], []
    for description, threads in plans:
        model = fit_device_model(
            outcome.results,
            description,
            num_threads=threads,
            source=f"devicefit calibrate, run {outcome.run_id}, {created[:10]}",
            created_at=created,
        )
        model = dataclasses.replace(model, links=fit_links(outcome.results, description.id))
        mine = [r for r in outcome.results if r.device == description.id and r.num_threads == threads]
        earlier = store.earlier_results(outcome.run_id, description.id, (r.case_id for r in mine))
        model = judge_fit(model, mine, description, earlier=earlier)
        fits.append(model)
        ids.append(store.add_calibration(outcome.run_id, model))
    return dataclasses.replace(outcome, fits=tuple(fits), calibration_ids=tuple(ids))
