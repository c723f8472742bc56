"""A fit from a busy machine: rejected or warned about, never silently used, and the band by source.

The results are hand-made, as a busy machine leaves them: a 2-core CPU whose fp32 peak is 1e11
FLOP/s (``CPU`` of the prediction tests' helpers), its products at 1% of that where an idle one
reaches 50%, and most measurements noisy.
"""

import dataclasses
import json
import socket

import pytest

from devicefit.devices import discover_devices
from devicefit.predict.calibration import (
    BENCH_ERROR_BAND,
    LOCAL_ERROR_BAND,
    fit_bench_model,
    fit_device_model,
)
from devicefit.predict.devices import default_parameters, local_default_model
from devicefit.predict.plausibility import implausible_rates, judge_fit, slowdown
from devicefit.predict.targets import local_target
from devicefit.records import BenchOutcome, DeviceDescription, Result
from devicefit.store.sqlite import Store
from tests.unit.predict.helpers import (
    CPU,
    ENVIRONMENT,
    calibration_results,
    invoke,
    matmul_result,
    memory_result,
    timed,
)


def noisy(result: Result, relative_iqr: float = 0.3) -> Result:
    """``result`` with an interquartile range of ``relative_iqr`` of its median."""
    assert result.measurement is not None
    summary = result.measurement.summary
    summary = dataclasses.replace(summary, iqr_s=relative_iqr * summary.median_s)
    return dataclasses.replace(result, measurement=dataclasses.replace(result.measurement, summary=summary))


def bench_results(
    fraction: float, *, relative_iqr: float = 0.0, peak: float = 1e11, slower: float = 1.0
) -> list[Result]:
    """What ``bench --quick`` measures that a fit needs, on all threads.

    Products at ``fraction`` of ``peak``; memory kernels and host costs ``slower`` times slower
    than an idle machine's.
    """
    results = [
        dataclasses.replace(matmul_result(n, fraction, peak=peak, num_threads=None), peak=peak)
        for n in (256, 1024)
    ]
    results += [
        memory_result("triad", 1.2e7, 2e10 / slower),
        memory_result("copy", 8e6, 1.6e10 / slower),
        timed("launch", "launch", 4e-6 * slower),
        timed("view", "view", 1.5e-6 * slower),
    ]
    results = [dataclasses.replace(r, num_threads=None) for r in results]
    return [noisy(r, relative_iqr) if relative_iqr else r for r in results]


def test_products_at_one_percent_of_the_peak_are_rejected_as_a_busy_machine():
    busy = bench_results(0.01, relative_iqr=0.3)
    model = judge_fit(fit_bench_model(busy, CPU, source="bench run 2"), busy, CPU)
    (reason,) = model.rejected
    # The better of the two products: 1% of the peak, less the launch cost in its time.
    assert "reached at most 1.0% of the peak with all threads" in reason
    assert "busy" in reason and "devicefit bench --quick" in reason and "devicefit calibrate" in reason
    # All six measurements noisy: more than half.
    assert any("6 of its 6 measurements were noisy" in w for w in model.warnings)
    idle = bench_results(0.5)
    model = judge_fit(fit_bench_model(idle, CPU, source="bench run 1"), idle, CPU)
    assert (model.rejected, model.warnings) == ((), ())


def test_a_product_pinned_to_one_thread_is_judged_against_one_core_of_the_peak():
    def pinned(fraction):
        product = matmul_result(1024, fraction, peak=1e11, num_threads=1)
        return dataclasses.replace(product, peak=1e11, case_id="matmul.fp32.1024.t1")

    # 4% of the 2-core peak is 8% of one core's: an idle thread may do that.
    assert judge_fit(fit_bench_model([pinned(0.04)], CPU, source="t1"), [pinned(0.04)], CPU).rejected == ()
    # 2% of the peak is 4% of one core's: below the 5% floor.
    (reason,) = judge_fit(fit_bench_model([pinned(0.02)], CPU, source="t1"), [pinned(0.02)], CPU).rejected
    assert "with 1 thread," in reason


def test_a_run_much_slower_than_earlier_runs_is_warned_about_not_rejected():
    earlier = bench_results(0.5)
    # Every case about four times slower (the launch cost in each time is not): products at
    # 12.5% of the peak, above the floor.
    slow = bench_results(0.125, slower=4.0)
    assert slowdown(slow, "cpu", earlier) == pytest.approx(4.0, rel=0.05)
    model = judge_fit(fit_bench_model(slow, CPU, source="b"), slow, CPU, earlier=earlier)
    assert model.rejected == ()
    (warning,) = model.warnings
    assert "slower than earlier runs on this machine" in warning and "devicefit calibrate" in warning
    # One flaky case among six is not a slower machine: the median slowdown is 1.
    flaky = [*earlier[:-1], timed("view", "view", 100 * (earlier[-1].median_s or 0), num_threads=None)]
    assert slowdown(flaky, "cpu", earlier) == pytest.approx(1.0)


def test_a_noisy_minority_is_no_warning():
    results = bench_results(0.5)
    results = [noisy(r) if i < 3 else r for i, r in enumerate(results)]  # 3 of 6: not over half
    assert judge_fit(fit_bench_model(results, CPU, source="b"), results, CPU).warnings == ()


# --- stored fits and predict ------------------------------------------------------------------


#: Runs of this machine: predict reads the calibrations of its own host.
HERE = dataclasses.replace(ENVIRONMENT, hostname=socket.gethostname())


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "fits.db") as store:
        yield store


def new_run(store, command="devicefit bench --quick"):
    return store.start_run(command=command, environment=HERE, devices=(CPU,))


def stored_bench_fit(store, fraction, **kwargs):
    run_id = new_run(store)
    results = bench_results(fraction, **kwargs)
    for r in results:
        store.add_result(run_id, r)
    model = fit_bench_model(results, CPU, source=f"devicefit bench, run {run_id}")
    earlier = store.earlier_results(run_id, "cpu", (r.case_id for r in results))
    model = judge_fit(model, results, CPU, earlier=earlier)
    store.add_calibration(run_id, model, origin="bench")
    return model


def target(store, catalog):
    stored = store.calibrations(CPU.id, device_name=CPU.name, hostname=socket.gethostname())
    return local_target(CPU, catalog, stored)


@pytest.fixture(scope="module")
def catalog():
    from devicefit.catalog import load_catalog

    return load_catalog()


def test_earlier_results_are_this_hosts_earlier_runs_of_the_same_cases(store):
    first, second = new_run(store), new_run(store)
    store.add_result(first, timed("launch", "launch", 4e-6))
    store.add_result(first, timed("view", "view", 1e-6))
    store.add_result(first, dataclasses.replace(timed("launch", "launch", 9e-6), status="error"))
    store.add_result(second, timed("launch", "launch", 5e-6))
    other = store.start_run(
        command="x", environment=dataclasses.replace(ENVIRONMENT, hostname="elsewhere"), devices=(CPU,)
    )
    store.add_result(other, timed("launch", "launch", 7e-6))
    third = new_run(store)
    # Run 1's ok launch and run 2's; not run 1's failure, its view, the other host's, nor later runs.
    assert sorted(r.value for r in store.earlier_results(third, "cpu", ["launch"])) == [4e-6, 5e-6]
    assert store.earlier_results(first, "cpu", ["launch"]) == []


def test_a_rejected_bench_fit_is_passed_over_for_an_earlier_good_one_with_a_warning(store, catalog):
    good = stored_bench_fit(store, 0.5)
    busy = stored_bench_fit(store, 0.01, relative_iqr=0.3)
    assert busy.rejected and not good.rejected
    chosen = target(store, catalog).model
    assert chosen.source == good.source and chosen.origin == "bench"
    (warning,) = chosen.warnings
    assert warning.startswith(f"left out the fit of {busy.source}: fp32 matrix products reached at most")


def test_a_rejected_fit_alone_gives_the_defaults_with_a_warning(store, catalog):
    busy = stored_bench_fit(store, 0.01, relative_iqr=0.3)
    found = target(store, catalog)
    assert found.model.origin == "defaults"
    assert found.model.warnings[0].startswith(f"left out the fit of {busy.source}")
    assert found.notes == ()  # the warning says what to run; no second "not calibrated" note


def test_a_good_calibration_is_never_displaced_by_a_later_bench_fit(store, catalog):
    run_id = new_run(store, "devicefit calibrate")
    calibrated = fit_device_model(calibration_results(), CPU, num_threads=2, source="devicefit calibrate")
    store.add_calibration(run_id, calibrated)
    stored_bench_fit(store, 0.5)
    stored_bench_fit(store, 0.01, relative_iqr=0.3)
    chosen = target(store, catalog).model
    assert chosen == calibrated and chosen.warnings == ()


def test_the_band_says_where_the_figures_came_from(store, catalog):
    defaults = local_default_model(CPU, None)
    assert defaults.error_band == default_parameters("cpu", None)["error_band"]
    stored_bench_fit(store, 0.5)
    bench = target(store, catalog).model
    assert (bench.origin, bench.error_band) == ("bench", BENCH_ERROR_BAND["cpu"])
    run_id = new_run(store, "devicefit calibrate")
    store.add_calibration(
        run_id, fit_device_model(calibration_results(), CPU, num_threads=2, source="devicefit calibrate")
    )
    calibrated = target(store, catalog).model
    assert (calibrated.origin, calibrated.error_band) == ("calibrated", LOCAL_ERROR_BAND["cpu"])
    assert len({defaults.error_band, bench.error_band, calibrated.error_band}) == 3


def test_a_bench_fit_stored_before_it_had_its_own_origin_predicts_with_the_bench_band(store, catalog):
    run_id = new_run(store)
    old = dataclasses.replace(
        fit_device_model(bench_results(0.5), CPU, num_threads=None, source="devicefit bench, run 1"),
        num_threads=2,
        error_band=0.3,
    )
    assert old.origin == "calibrated"
    store.add_calibration(run_id, old, origin="bench")
    model = target(store, catalog).model
    assert (model.origin, model.error_band) == ("bench", BENCH_ERROR_BAND["cpu"])


# --- the command line: bench on a busy machine, then predict ------------------------------------


def test_bench_on_a_busy_machine_then_predict_carries_the_warning(tmp_path, monkeypatch):
    """``bench --quick`` as two busy loops leave it (faked), then ``predict --device cpu --json``."""
    cpu: DeviceDescription = next(d.properties() for d in discover_devices() if d.kind == "cpu")
    peak = cpu.peak_flops_per_s("fp32")
    assert peak, "the local CPU has a derived fp32 peak"
    fractions = iter([0.01, 0.5])

    def run_benchmarks(cases, devices, store, **kwargs):
        run_id = store.start_run(command="devicefit bench --quick", environment=HERE, devices=(cpu,))
        fraction = next(fractions)
        results = bench_results(fraction, relative_iqr=0.3 if fraction < 0.05 else 0.0, peak=peak)
        for r in results:
            store.add_result(run_id, r)
        return BenchOutcome(run_id=run_id, results=tuple(results), interrupted=False)

    monkeypatch.setattr("devicefit.app.bench.run_benchmarks", run_benchmarks)
    db = str(tmp_path / "busy.db")
    bench = invoke("bench", "--device", "cpu", "--quick", "--json", "--db", db)
    assert bench.exit_code == 0, bench.output
    (rejected, noise) = json.loads(bench.stdout)["warnings"]
    assert rejected.startswith("cpu: not used by predict: fp32 matrix products reached at most 1.0%")
    assert "noisy" in noise
    predicted = invoke("predict", "mlp", "--device", "cpu", "--batch", "8", "--json", "--db", db)
    assert predicted.exit_code == 0, predicted.output
    (prediction,) = json.loads(predicted.stdout)["predictions"]
    assert prediction["origin"] == "defaults"
    assert prediction["warnings"][0].startswith("left out the fit of devicefit bench, run 1")
    assert "busy" in prediction["warnings"][0]
    table = invoke("predict", "mlp", "--device", "cpu", "--batch", "8", "--db", db)
    assert "warning: left out the fit of devicefit bench, run 1" in " ".join(table.stdout.split())
    # A later bench on an idle machine predicts, with the band of a bench fit and no warning.
    assert invoke("bench", "--device", "cpu", "--quick", "--json", "--db", db).exit_code == 0
    predicted = invoke("predict", "mlp", "--device", "cpu", "--batch", "8", "--json", "--db", db)
    (prediction,) = json.loads(predicted.stdout)["predictions"]
    assert (prediction["origin"], prediction["warnings"]) == ("bench", [])
    assert prediction["error_band"] == BENCH_ERROR_BAND["cpu"]


def test_gpus_are_not_judged_by_the_cpu_threshold():
    """The 5% floor comes from CPU runs only; a GPU keeps the noise and history checks."""
    gpu = dataclasses.replace(CPU, id="cuda:0", kind="cuda", cpu=None)
    busy = [dataclasses.replace(r, device="cuda:0") for r in bench_results(0.01)]
    assert implausible_rates(busy, gpu) == ()
    assert implausible_rates(bench_results(0.01), CPU)
