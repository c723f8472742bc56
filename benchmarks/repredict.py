"""A recorded run's measured steps, predicted again with today's code: what a model change does to them.

``benchmarks/prediction_error.py --out RUN.json --calibration-out CAL.json.gz`` records a run: every
zoo step measured on a machine, the device models fitted there, and the raw calibration results they
were fitted from. This script predicts the recorded steps again: with device models refitted from
the recorded calibration (``--calibration``), so a change to the fit or to the roofline shows on the
same measurements, or else with the recorded device models (a change to the roofline or the analysis
only). The machine's run-to-run noise (15-40% on a step, on the VMs recorded) is left out of the
comparison: only the code differs. Prints each step's error then and now, and the median and 90th
percentile of |error| per thread count and over all steps.

Two other sources measure the error bands ``predict`` shows for them: ``--bench FILE`` fits the
recorded steps' device from a recorded ``devicefit bench --quick`` run of a machine of the same kind,
as ``bench`` does; ``--defaults`` takes the shipped defaults for the device described in
``--calibration`` or ``--bench``. Both predict for all threads, so only the steps at that thread
count are compared.

Usage: ``python benchmarks/repredict.py tests/data/prediction_cpu_epyc_zen4_2vcpu_1205.json
[--calibration tests/data/calibration_cpu_epyc_zen4_2vcpu_1205.json.gz] [--models mlp,resnet18]``;
``python benchmarks/repredict.py tests/data/prediction_cpu_epyc_2vcpu.json
--bench tests/data/bench_quick_cpu_epyc_zen3_2vcpu_1206.json.gz [--defaults]``
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pydantic import TypeAdapter

from devicefit.analyze.stats import error_summary
from devicefit.app.validate import analyze, validation_points
from devicefit.catalog import load_catalog
from devicefit.predict.calibration import fit_bench_model
from devicefit.predict.devices import local_default_model
from devicefit.predict.recorded import read_calibration
from devicefit.predict.roofline import predict_step
from devicefit.records import DeviceModel, MemoryKind


def _summary(errors: list[float]) -> str:
    summary = error_summary(errors)
    # The 80th percentile (nearest rank) is what predict's error bands are.
    p80 = sorted(abs(e) for e in errors)[max(-(-8 * len(errors) // 10) - 1, 0)]
    return (
        f"median {summary['median_abs_error']:.1%}, p80 {p80:.1%}, p90 {summary['p90_abs_error']:.1%}"
        f" over {summary['n']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an --out file of benchmarks/prediction_error.py")
    parser.add_argument("--calibration", type=Path, help="its --calibration-out file: refit from it")
    parser.add_argument("--bench", type=Path, help="a recorded bench run: fit from it as bench does")
    parser.add_argument(
        "--defaults", action="store_true", help="the defaults for the device of --calibration or --bench"
    )
    parser.add_argument("--models", help="comma-separated (default: every model recorded)")
    args = parser.parse_args()
    recorded = json.loads(args.run.read_text())
    described = read_calibration(args.bench or args.calibration) if args.bench or args.calibration else []
    if args.defaults:
        catalog = load_catalog()
        models = {}
        for c in described:
            spec = catalog.get(c.device.catalog_id) if c.device.catalog_id else None
            model = local_default_model(c.device, spec.architecture if spec else None)
            models[c.device.id, model.num_threads] = model
    elif args.bench:
        models = {}
        for c in described:
            model = fit_bench_model(c.results, c.device, source=str(args.bench))
            models[c.device.id, model.num_threads] = model
    elif args.calibration:
        models = {(c.device.id, c.num_threads): c.fit(source=str(args.calibration)) for c in described}
    else:
        adapter = TypeAdapter(DeviceModel)
        fitted = (adapter.validate_python(d) for d in recorded["device_models"])
        models = {(m.device, m.num_threads): m for m in fitted}
    wanted = set(args.models.split(",")) if args.models else None
    then: dict[str, list[float]] = defaultdict(list)
    now: dict[str, list[float]] = defaultdict(list)
    print(f"  {'device':<8}{'threads':>8}  {'model':<14}{'batch':>6} {'mode':<6}", end="")
    print(f"{'measured':>11}{'then':>8}{'now':>8}")
    for c in recorded["comparisons"]:
        model = models.get((c["device"], c["num_threads"]))
        if not c["measured_s"] or (wanted and c["model"] not in wanted) or model is None:
            continue
        length = next(p.sequence_length for p in validation_points([c["model"]]))
        kind: MemoryKind = "cpu" if c["device"] == "cpu" else "cuda"
        cost = analyze(c["model"], c["batch_size"], length, kind)
        error = predict_step(cost, model, mode=c["mode"], memory_kind=kind).step_time_s / c["measured_s"] - 1
        label = f"{c['device']}, {c['num_threads']} threads" if c["num_threads"] else c["device"]
        for key in (label, "all"):
            then[key].append(c["error"])
            now[key].append(error)
        print(
            f"  {c['device']:<8}{c['num_threads'] or '':>8}  {c['model']:<14}{c['batch_size']:>6}"
            f" {c['mode']:<6}{c['measured_s'] * 1e3:>9.2f}ms{c['error']:>+8.0%}{error:>+8.0%}"
        )
    for key in sorted(then, key=lambda k: k == "all"):
        print(f"{key}: |error| then {_summary(then[key])}; now {_summary(now[key])}")


if __name__ == "__main__":
    main()
