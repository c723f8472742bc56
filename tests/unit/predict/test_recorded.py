"""Predictions from recorded calibrations against the step times recorded on the same machines.

Each file in ``tests/data/prediction_cpu_*.json`` is a run of ``benchmarks/prediction_error.py``:
the device models fitted from micro-benchmarks alone, with one thread and with two, and every zoo
step measured there. ``epyc_2vcpu`` is a 2-vCPU AMD EPYC (Zen 3, AVX2) VM (2026-11-23);
``xeon_2vcpu`` a 2-vCPU Intel Xeon (AVX-512, AMX) VM (2026-12-04), whose calibration includes
the LSTM, first-layer, 7x7, pooling, pointwise and fresh-page measurements the first lacks;
``epyc_zen4_2vcpu`` a 2-vCPU AMD EPYC (Zen 4, AVX-512) VM (2026-12-04), run with the same code
as the Xeon's but on a machine none of that code was developed on; ``epyc_zen4_2vcpu_1205`` another
run there (2026-12-05, with M = 4 products in the grid) that also keeps its raw calibration results
(``calibration_cpu_epyc_zen4_2vcpu_1205.json.gz``), so the fit itself is checked on real data;
``epyc_zen4_2vcpu_1205_pm`` a run that afternoon, after convolutions were measured at batch 32 too
and priced by whole channel blocks, with its calibration, and ``_1205_pm2`` one more an hour later.
Re-predicting those steps with today's code guards the performance model against regressions on
machines CI may not be; the recorded figures are quoted in docs/prediction-accuracy.md.
"""

import dataclasses
import json
import statistics
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from devicefit.app.validate import analyze, validation_points
from devicefit.predict.recorded import read_calibration, write_calibration
from devicefit.predict.roofline import fresh_training_bytes, predict_step
from devicefit.records import DeviceModel

DATA = Path(__file__).parents[2] / "data"
RECORDED = (
    "prediction_cpu_epyc_2vcpu.json",
    "prediction_cpu_xeon_2vcpu.json",
    "prediction_cpu_epyc_zen4_2vcpu.json",
    "prediction_cpu_epyc_zen4_2vcpu_1205.json",
    "prediction_cpu_epyc_zen4_2vcpu_1205_pm.json",
    "prediction_cpu_epyc_zen4_2vcpu_1205_pm2.json",
)
#: The raw calibration results behind a recording, where it kept them.
CALIBRATIONS = {
    "prediction_cpu_epyc_zen4_2vcpu_1205.json": "calibration_cpu_epyc_zen4_2vcpu_1205.json.gz",
    "prediction_cpu_epyc_zen4_2vcpu_1205_pm.json": "calibration_cpu_epyc_zen4_2vcpu_1205_pm.json.gz",
    "prediction_cpu_epyc_zen4_2vcpu_1205_pm2.json": "calibration_cpu_epyc_zen4_2vcpu_1205_pm2.json.gz",
}
#: Models small enough to analyze in a few seconds each.
SMALL = ("mlp", "cifar-cnn", "lstm-lm", "resnet18")


@pytest.fixture(scope="module", params=RECORDED)
def recorded(request):
    return json.loads((DATA / request.param).read_text())


def test_recorded_calibrations_still_load(recorded):
    models = [TypeAdapter(DeviceModel).validate_python(m) for m in recorded["device_models"]]
    assert [m.num_threads for m in models] == [1, 2]
    for model in models:
        assert model.kind == "cpu" and not model.asynchronous
        assert {"fp32", "fp32.cold"} <= set(model.matmul_shapes)
        assert {"stream", "elementwise", "batch_norm", "conv_depthwise"} <= set(model.memory)
        assert 0 < model.op_overhead_s < 1e-4


def _errors_now_and_then(recorded: dict, models: dict[int, DeviceModel]) -> tuple[list[float], list[float]]:
    """|error| of the recorded steps of the small models, predicted today and as recorded."""
    now, then = [], []
    for c in recorded["comparisons"]:
        if c["model"] not in SMALL or not c["measured_s"]:
            continue
        length = next(p.sequence_length for p in validation_points([c["model"]]))
        cost = analyze(c["model"], c["batch_size"], length, "cpu")
        predicted = predict_step(cost, models[c["num_threads"]], mode=c["mode"], memory_kind="cpu")
        now.append(abs(predicted.step_time_s / c["measured_s"] - 1))
        then.append(abs(c["error"]))
    assert len(now) == 2 * 2 * 3 * len(SMALL)
    return now, then


def test_recorded_steps_are_predicted_as_well_as_when_recorded(recorded):
    adapter = TypeAdapter(DeviceModel)
    models = {m["num_threads"]: adapter.validate_python(m) for m in recorded["device_models"]}
    now, then = _errors_now_and_then(recorded, models)
    # No worse than when recorded, with a little room for changes that move single steps.
    assert statistics.median(now) <= statistics.median(then) + 0.03


@pytest.mark.parametrize(("run", "calibration"), CALIBRATIONS.items())
def test_refitting_a_recorded_calibration_predicts_as_well_as_when_recorded(run, calibration):
    recorded = json.loads((DATA / run).read_text())
    calibrations = read_calibration(DATA / calibration)
    # What the recording's device models were fitted from: one calibration per thread count, each
    # the plan's cases measured twice (benchmarks/prediction_error.py interleaves two passes).
    assert [c.num_threads for c in calibrations] == [1, 2]
    for c in calibrations:
        assert c.device.kind == "cpu" and c.device.cpu is not None
        assert {r.num_threads for r in c.results} == {c.num_threads}
        assert sum(r.benchmark == "matmul" for r in c.results) > 100
    models = {c.num_threads: c.fit(source="test") for c in calibrations}
    for threads, model in models.items():
        assert model.num_threads == threads and model.origin == "calibrated"
        assert {"fp32", "fp32.cold"} <= set(model.matmul_shapes)
    # Today's fit of the same micro-benchmarks, not the recorded device models, predicts the steps.
    now, then = _errors_now_and_then(recorded, models)
    assert statistics.median(now) <= statistics.median(then) + 0.03


def test_a_written_calibration_reads_back_as_written_without_per_sample_timings(tmp_path):
    calibration = read_calibration(DATA / CALIBRATIONS["prediction_cpu_epyc_zen4_2vcpu_1205.json"])[0]
    results = calibration.results[:5]
    for name in ("c.json", "c.json.gz"):
        path = tmp_path / name
        write_calibration(path, [(calibration.device, 1, results)])
        (back,) = read_calibration(path)
        assert back.device == calibration.device and back.num_threads == 1
        assert back.results == results
        assert all(r.measurement is not None and r.measurement.samples_s == () for r in back.results)
    # Compressed when the name says so.
    assert (tmp_path / "c.json.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "c.json").read_text().startswith("{")
    # The samples are dropped, the summary the fit reads is kept.
    measured = dataclasses.replace(results[0].measurement, samples_s=(1e-6, 2e-6))
    sampled = dataclasses.replace(results[0], measurement=measured)
    write_calibration(tmp_path / "s.json", [(calibration.device, 1, [sampled])])
    (again,) = read_calibration(tmp_path / "s.json")
    assert again.results[0].median_s == results[0].median_s and again.results[0].measurement.samples_s == ()


@pytest.mark.parametrize("name", RECORDED[1:])
def test_later_recordings_calibrated_the_layers_measured_since_the_first(name):
    adapter = TypeAdapter(DeviceModel)
    data = json.loads((DATA / name).read_text())
    for model in (adapter.validate_python(m) for m in data["device_models"]):
        assert {"lstm.fp32", "lstm_backward.fp32"} <= set(model.lstm_shapes)
        assert "conv_backward_weight.fp32" in model.conv_shapes
        assert {"max_pool_2x2", "max_pool_backward", "batch_norm_infer"} <= set(model.memory)
        # Recording an autograd node costs more than the call alone (Xeon: 1.30 us against 0.86).
        assert model.recorded_op_overhead_s is not None
        assert model.recorded_op_overhead_s > model.op_overhead_s
        # Fresh pages from a new mapping (Xeon: 1.1 us a page at one thread), not from a heap's free
        # memory (0.002 us a page, which a fill through the allocator measured).
        assert model.first_touch_s_per_byte * 4096 > 0.1e-6


FAULTS = DATA / "page_faults_cpu_epyc_2vcpu.json"


def test_counted_fresh_pages_are_a_lower_bound_of_the_recorded_faults():
    # Minor faults of every zoo step at 1 thread on the same VM (benchmarks/page_faults.py).
    steps = json.loads(FAULTS.read_text())["steps"]
    counted = {}
    for name in ("bert-base", "gpt2"):
        length = next(p.sequence_length for p in validation_points([name]))
        counted[name] = sum(fresh_training_bytes(analyze(name, 1, length, "cpu")))
    # Their embeddings (94 MB and 154 MB) take a gradient and AdamW's two temporaries each step.
    assert counted["bert-base"] == pytest.approx(3 * 30522 * 768 * 4)
    assert counted["gpt2"] == pytest.approx(3 * 50257 * 768 * 4)
    trained = [s for s in steps if s["model"] in counted and s["mode"] == "train"]
    assert len(trained) == 6
    for step in trained:
        assert counted[step["model"]] <= step["faulted_bytes"]
