"""The performance model's error here: calibrate from micro-benchmarks, predict the zoo, measure it.

For each local device (on CPUs with one thread and with all), in one process: run the calibration
plan (micro-benchmarks only, never a model step), fit the device model, predict every benchmarked
zoo workload's training step and inference at its three batch sizes, then time those steps. Prints
each error (predicted / measured - 1) and the median and 90th percentile of |error| per device and
thread count and over everything. Bar (issue 4): CPU median <= 10%, 90th percentile <= 25%; GPU
median <= 15%.

``--out FILE`` writes every comparison and the fitted device models as JSON (``tests/data`` keeps
recorded runs). ``--predict-from FILE`` skips calibration and predicts with the device models of an
earlier ``--out`` file, transferred to this machine's GPU by its catalog figures (H100 -> H200).

Usage: ``python benchmarks/prediction_error.py [--device cpu|cuda|all] [--models mlp,resnet18]
[--threads 1,2] [--quick] [--no-bracket] [--out FILE] [--predict-from FILE]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from devicefit.catalog import load_catalog
from devicefit.devices import select_devices
from devicefit.devices.base import Device
from devicefit.measure.plan import plan_calibration
from devicefit.measure.runner import FULL, QUICK, execute
from devicefit.predict.calibration import calibration_threads, fit_device_model
from devicefit.predict.devices import transferred_model
from devicefit.predict.validate import Comparison, compare, plan_validation, validation_points
from devicefit.records import DeviceModel, Result
from devicefit.report.prediction import error_summary
from devicefit.workloads import list_models

#: The bars of issue 4: (median, 90th percentile) of |error|.
BARS = {"cpu": (0.10, 0.25), "cuda": (0.15, None)}


def _calibrate(device: Device, threads: int | None, quick: bool) -> list[Result]:
    cases = plan_calibration(device.properties(), num_threads=threads, quick=quick)
    started = time.perf_counter()
    results = list(execute(cases, {device.id: device}, QUICK if quick else FULL))
    print(f"  calibrated {len(results)} micro-benchmarks in {time.perf_counter() - started:.0f} s")
    return results


def _fit(device: Device, threads: int | None, results: list[Result]) -> DeviceModel:
    return fit_device_model(
        results,
        device.properties(),
        num_threads=threads,
        source="benchmarks/prediction_error.py",
        created_at=None,
    )


def _borrowed(device: Device, path: Path) -> DeviceModel:
    from pydantic import TypeAdapter

    recorded = json.loads(path.read_text())
    reference = TypeAdapter(DeviceModel).validate_python(recorded["device_models"][0])
    description = device.properties()
    catalog = load_catalog()
    target = catalog.get(description.catalog_id) if description.catalog_id else None
    if target is None:
        sys.exit(f"{description.name} is not in the catalog: nothing to transfer the curves to")
    return transferred_model(reference, target)


def _print(comparisons: list[Comparison]) -> None:
    print(f"  {'model':<14}{'batch':>6} {'mode':<6}{'predicted':>11}{'measured':>11}{'error':>8}")
    for c in comparisons:
        measured = f"{c.measured_s * 1e3:>9.2f}ms" if c.measured_s else f"{c.status:>11}"
        error = f"{c.error:>+8.0%}" if c.error is not None else ""
        print(f"  {c.model:<14}{c.batch_size:>6} {c.mode:<6}{c.predicted_s * 1e3:>9.2f}ms{measured}{error}")


def _summary_line(label: str, comparisons: list[Comparison], bars: tuple[float, float | None] | None) -> bool:
    summary = error_summary([c.error for c in comparisons if c.error is not None])
    if not summary["n"]:
        print(f"{label}: nothing measured")
        return False
    median, p90 = summary["median_abs_error"], summary["p90_abs_error"]
    assert isinstance(median, float) and isinstance(p90, float)
    verdict = ""
    passed = True
    if bars:
        passed = median <= bars[0] and (bars[1] is None or p90 <= bars[1])
        limit = f"median <= {bars[0]:.0%}" + (f", p90 <= {bars[1]:.0%}" if bars[1] else "")
        verdict = f"  [{'PASS' if passed else 'FAIL'}: {limit}]"
    print(f"{label}: |error| median {median:.1%}, p90 {p90:.1%} over {summary['n']} steps{verdict}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", help="comma-separated (default: every benchmarked zoo model)")
    parser.add_argument("--threads", help="CPU thread counts, comma-separated (default: 1 and all)")
    parser.add_argument("--quick", action="store_true", help="the calibration's short budget")
    parser.add_argument("--out", type=Path, help="write comparisons and device models as JSON")
    parser.add_argument("--predict-from", type=Path, help="device models of an earlier --out (transfer)")
    parser.add_argument(
        "--no-bracket", action="store_true", help="calibrate only before the model steps, not also after"
    )
    args = parser.parse_args()
    names = (
        args.models.split(",") if args.models else [i.name for i in list_models() if i.benchmark_batch_sizes]
    )
    points = validation_points(names)
    everything: list[Comparison] = []
    models: list[DeviceModel] = []
    ok = True
    for device in select_devices(args.device):
        description = device.properties()
        threads_list: tuple[int | None, ...] = (
            tuple(int(t) for t in args.threads.split(","))
            if args.threads and device.kind == "cpu"
            else calibration_threads(description)
        )
        for threads in threads_list:
            label = f"{device.id} ({description.name})" + (f", {threads} threads" if threads else "")
            print(label)
            calibration = [] if args.predict_from else _calibrate(device, threads, args.quick)
            cases = plan_validation(description, points, num_threads=threads)
            started = time.perf_counter()
            results = list(execute(cases, {device.id: device}, QUICK))
            print(f"  measured {len(results)} model steps in {time.perf_counter() - started:.0f} s")
            if args.predict_from:
                model = _borrowed(device, args.predict_from)
            else:
                # Calibrated before and after the steps: a machine whose speed drifts over minutes
                # (shared hosts, thermal limits) is measured on both sides of the steps it predicts.
                if not args.no_bracket:
                    calibration += _calibrate(device, threads, args.quick)
                model = _fit(device, threads, calibration)
            models.append(model)
            memory_kind = "cpu" if device.kind == "cpu" else "cuda"
            comparisons = compare(points, results, model, memory_kind=memory_kind)
            _print(comparisons)
            ok &= _summary_line(f"  {label}", comparisons, BARS.get(device.kind))
            everything += comparisons
    if len(models) > 1:
        kinds = {m.kind for m in models}
        _summary_line("all", everything, BARS["cpu"] if kinds == {"cpu"} else None)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "device_models": [dataclasses.asdict(m) for m in models],
                    "comparisons": [{**dataclasses.asdict(c), "error": c.error} for c in everything],
                },
                indent=1,
            )
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
