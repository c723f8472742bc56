"""The performance model's error here: calibrate from micro-benchmarks, predict the zoo, measure it.

For each local device (on CPUs with one thread and with all), in one process: run the calibration
plan twice (micro-benchmarks only, never a model step) and time every benchmarked zoo workload's
training step and inference at its three batch sizes, the two interleaved in slices; fit the device
model from the calibration alone and predict each step. Prints
each error (predicted / measured - 1) and the median and 90th percentile of |error| per device and
thread count and over everything. Bar (issue 4): CPU median <= 10%, 90th percentile <= 25%; GPU
median <= 15%.

``--out FILE`` writes every comparison and the fitted device models as JSON (``tests/data`` keeps
recorded runs). ``--calibration-out FILE`` writes the raw calibration results each device model was
fitted from, with the device's description (gzip-compressed when FILE ends in ``.gz``; per-sample
timings are left out, the fit reads each measurement's summary): ``benchmarks/repredict.py`` refits
from them, so a change to the fit or the roofline can be checked against the same measured steps,
without the machine's run-to-run noise. ``--predict-from FILE`` skips calibration and predicts with
the device models of an earlier ``--out`` file, transferred to this machine's GPU by its catalog
figures (H100 -> H200).

Usage: ``python benchmarks/prediction_error.py [--device cpu|cuda|all] [--models mlp,resnet18]
[--threads 1,2] [--quick] [--calibrate-first] [--out FILE] [--calibration-out FILE]
[--predict-from FILE]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from devicefit.analyze.stats import error_summary
from devicefit.app.validate import compare, plan_validation, validation_points
from devicefit.catalog import load_catalog
from devicefit.devices import select_devices
from devicefit.devices.base import Device
from devicefit.measure.calibration_plan import plan_calibration
from devicefit.measure.case import Case
from devicefit.measure.runner import FULL, QUICK, execute
from devicefit.predict.calibration import calibration_threads, fit_device_model
from devicefit.predict.devices import transferred_model
from devicefit.predict.recorded import replace_file, write_calibration
from devicefit.records import Comparison, DeviceDescription, DeviceModel, Result
from devicefit.workloads import list_models

#: The bars of issue 4: (median, 90th percentile) of |error|.
BARS = {"cpu": (0.10, 0.25), "cuda": (0.15, None)}
#: Slices the calibration and the model steps alternate in.
INTERLEAVE = 8


def _calibrate(device: Device, threads: int | None, quick: bool) -> list[Result]:
    cases = plan_calibration(device.properties(), num_threads=threads, quick=quick)
    started = time.perf_counter()
    results = list(execute(cases, {device.id: device}, QUICK if quick else FULL))
    print(f"  calibrated {len(results)} micro-benchmarks in {time.perf_counter() - started:.0f} s")
    return results


def _chunks(cases: list[Case], count: int) -> list[list[Case]]:
    size = -(-len(cases) // count)
    return [cases[i * size : (i + 1) * size] for i in range(count)]


def _interleaved(
    device: Device, threads: int | None, quick: bool, steps: list[Case]
) -> tuple[list[Result], list[Result]]:
    """The calibration twice and the model steps, in alternating slices: (calibration, steps).

    Slice i of the steps runs between slice i of the first calibration and slice n - 1 - i of the
    second, so every micro-benchmark is measured once early and once late, and the calibration as
    a whole sees the same hours as the steps it predicts. A machine whose speed shifts while the
    steps run (a shared host) then moves both alike, where a calibration before and after the
    steps can miss it.
    """
    devices = {device.id: device}
    plan = _chunks(plan_calibration(device.properties(), num_threads=threads, quick=quick), INTERLEAVE)
    timed = _chunks(steps, INTERLEAVE)
    calibration: list[Result] = []
    results: list[Result] = []
    started = time.perf_counter()
    for i in range(INTERLEAVE):
        calibration += execute(plan[i], devices, QUICK if quick else FULL)
        results += execute(timed[i], devices, QUICK)
        calibration += execute(plan[INTERLEAVE - 1 - i], devices, QUICK if quick else FULL)
    print(
        f"  calibrated {len(calibration)} micro-benchmarks and measured {len(results)} model steps,"
        f" interleaved, in {time.perf_counter() - started:.0f} s"
    )
    return calibration, results


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
    parser.add_argument(
        "--calibration-out", type=Path, help="write the raw calibration results as JSON (.gz: compressed)"
    )
    parser.add_argument("--predict-from", type=Path, help="device models of an earlier --out (transfer)")
    parser.add_argument(
        "--calibrate-first",
        action="store_true",
        help="calibrate once before the model steps (half the calibration time), not interleaved with them",
    )
    args = parser.parse_args()
    names = (
        args.models.split(",") if args.models else [i.name for i in list_models() if i.benchmark_batch_sizes]
    )
    points = validation_points(names)
    everything: list[Comparison] = []
    models: list[DeviceModel] = []
    calibrations: list[tuple[DeviceDescription, int | None, list[Result]]] = []
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
            cases = plan_validation(description, points, num_threads=threads)
            if args.predict_from or args.calibrate_first:
                calibration = [] if args.predict_from else _calibrate(device, threads, args.quick)
                started = time.perf_counter()
                results = list(execute(cases, {device.id: device}, QUICK))
                print(f"  measured {len(results)} model steps in {time.perf_counter() - started:.0f} s")
            else:
                calibration, results = _interleaved(device, threads, args.quick, cases)
            if args.predict_from:
                model = _borrowed(device, args.predict_from)
            else:
                calibrations.append((description, threads, calibration))
                if args.calibration_out:  # before the fit, which a bug could stop: nothing measured is lost
                    write_calibration(args.calibration_out, calibrations)
                model = _fit(device, threads, calibration)
            models.append(model)
            memory_kind = "cpu" if device.kind == "cpu" else "cuda"
            measured = {r.case_id: r for r in results}
            comparisons = [
                compare(point, measured.get(case.id), model, memory_kind=memory_kind)
                for point, case in zip(points, cases, strict=True)
            ]
            _print(comparisons)
            ok &= _summary_line(f"  {label}", comparisons, BARS.get(device.kind))
            everything += comparisons
            if args.out:
                _write_run(args.out, models, everything)
    if len(models) > 1:
        kinds = {m.kind for m in models}
        _summary_line("all", everything, BARS["cpu"] if kinds == {"cpu"} else None)
    sys.exit(0 if ok else 1)


def _write_run(path: Path, models: list[DeviceModel], comparisons: list[Comparison]) -> None:
    """The run so far, replacing the file whole (never left half-written)."""
    run = {
        "device_models": [dataclasses.asdict(m) for m in models],
        "comparisons": [{**dataclasses.asdict(c), "error": c.error} for c in comparisons],
    }
    replace_file(path, json.dumps(run, indent=1).encode())


if __name__ == "__main__":
    main()
