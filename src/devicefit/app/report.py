"""``report``: gathers stored runs, validated steps, analyses, predictions and crossovers for the report."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from devicefit import __version__
from devicefit.analyze.cache import analyze_model_cached
from devicefit.app.crossover import DEFAULT_DEVICES, crossover
from devicefit.app.predict import predict_targets, resolve
from devicefit.app.validate import compare, validation_points
from devicefit.catalog import Catalog
from devicefit.catalog.prices import load_prices
from devicefit.errors import UsageError
from devicefit.predict.targets import local_target
from devicefit.records import Run
from devicefit.records.report import DeviceRate, ModelReport, ReportContent, ValidatedStep
from devicefit.records.vocabulary import Benchmark
from devicefit.store.sqlite import Store

#: Stored runs the history and the validated steps look through, newest first: enough for months of
#: runs, while a report of a store with thousands stays quick to gather.
MAX_STORED_RUNS = 200


def report(
    store: Store,
    runs: Sequence[str] = (),
    *,
    models: Sequence[str] = (),
    devices: str = DEFAULT_DEVICES,
    command: str = "devicefit report",
    catalog_files: Sequence[Path] = (),
    use_cache: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> ReportContent:
    """Everything the report shows.

    Args:
        store: The results database.
        runs: Run references (ids, ``latest``, ``-N``); default: the latest benchmark run, if any.
        models: Models to place on the roofline, predict across ``devices`` and sweep for the crossover.
        devices: As ``predict --device``: the local devices and three catalog GPUs by default.
        command: The command line, for the footer.
        catalog_files: User catalog files.
        use_cache: Read and write the analysis cache.
        on_step: Told what is being gathered (a progress line).

    Raises:
        UsageError: On an unknown run or device, or when there is nothing to report.
    """
    step = on_step or (lambda _: None)
    summaries = store.list_runs(MAX_STORED_RUNS)
    if runs:
        ids = [store.resolve_run_id(ref) for ref in runs]
    else:
        bench = [s for s in summaries if s.status != "running" and s.command.split()[1:2] == ["bench"]]
        ids = [bench[0].run_id] if bench else []
    selected = [store.load_run(i) for i in sorted(set(ids))]
    if not selected and not models:
        raise UsageError(
            "nothing to report: the store holds no benchmark run and no --model was given",
            fix="Run 'devicefit bench --quick' first, or pass --model resnet18",
        )
    step("stored runs")
    stored = [store.load_run(s.run_id) for s in reversed(summaries)]
    cases = {(r.device, r.case_id) for run in selected for r in run.results}
    history = tuple(r for r in stored if any((x.device, x.case_id) in cases for x in r.results))
    notes: list[str] = []
    reports: list[ModelReport] = []
    rates: tuple[DeviceRate, ...] = ()
    if models:
        catalog, local, resolution = resolve(devices, catalog_files=catalog_files, store=store)
        notes += [f"{device} left out: {why}" for device, why in resolution.skipped]
        rates = _rates(catalog, {t.model.device for t in resolution.targets})
        for model in models:
            # The crossover first: it traces the smallest batches, from which the cache derives the
            # default batch the predictions take instead of tracing that batch too.
            step(f"crossover of {model}")
            sweep = crossover(
                model, devices, store=store, catalog_files=catalog_files, use_cache=use_cache, record=False
            )
            step(f"model {model}")
            predictions, analysis_notes = predict_targets(
                model, resolution.targets, batch_size=None, catalog=catalog, local=local, use_cache=use_cache
            )
            cost, _ = analyze_model_cached(
                model, predictions[0].batch_size, memory_kind="cpu", use_cache=use_cache
            )
            reports.append(
                ModelReport(
                    model=model,
                    batch_size=predictions[0].batch_size,
                    precision=predictions[0].precision,
                    classes=cost.classes,
                    predictions=tuple(predictions),
                    crossover=sweep,
                    notes=tuple(analysis_notes),
                )
            )
    step("validated steps")
    return ReportContent(
        version=__version__,
        command=command,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        runs=tuple(selected),
        history=history if len(history) > 1 else (),
        models=tuple(reports),
        validated=tuple(_validated(store, stored)),
        rates=rates,
        notes=tuple(notes),
        watches=tuple(w for w in (store.load_watch_session(r.run_id) for r in selected) if w is not None),
    )


def _rates(catalog: Catalog, devices: set[str]) -> tuple[DeviceRate, ...]:
    """The cheapest on-demand hour of each catalog device among ``devices``, per GPU."""
    best: dict[str, DeviceRate] = {}
    for instance in load_prices(catalog=catalog).instances:
        if instance.device not in devices or instance.num_gpus < 1:
            continue
        rate = instance.usd_per_hour / instance.num_gpus
        if instance.device not in best or rate < best[instance.device].usd_per_hour:
            best[instance.device] = DeviceRate(
                device=instance.device, usd_per_hour=rate, source=f"{instance.id}: {instance.source}"
            )
    return tuple(best.values())


def _validated(store: Store, runs: Sequence[Run]) -> list[ValidatedStep]:
    """Each model step of the stored ``validate`` runs beside what this host's calibration predicts for it.

    Steps measured on another host are left out: their calibrations are not this machine's.
    """
    from devicefit.catalog import load_catalog

    hostname = socket.gethostname()
    steps = []
    catalog = None
    for run in runs:
        if run.label != "validate" or run.environment.hostname != hostname:
            continue
        catalog = catalog or load_catalog()
        for device in run.devices:
            target = local_target(
                device, catalog, store.calibrations(device.id, device_name=device.name, hostname=hostname)
            )
            for result in run.results:
                if result.device != device.id or result.benchmark not in (
                    Benchmark.TRAIN_STEP,
                    Benchmark.INFERENCE,
                ):
                    continue
                batch = result.batch_size or result.size
                if result.model is None or not batch or result.status != "ok":
                    continue
                train = result.benchmark == Benchmark.TRAIN_STEP
                # The sequence length validate ran at (the case id does not carry it).
                point = next(p for p in validation_points([result.model], [batch]) if p.train == train)
                comparison = compare(point, result, target.model, memory_kind=target.memory_kind)
                steps.append(ValidatedStep(run_id=run.run_id, case_id=result.case_id, comparison=comparison))
    return steps
