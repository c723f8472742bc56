"""Predictions from a recorded calibration against the step times recorded on the same machine.

``tests/data/prediction_cpu_epyc_2vcpu.json`` is a run of ``benchmarks/prediction_error.py`` on a
2-vCPU AMD EPYC (Zen 3) VM: the device models fitted from micro-benchmarks alone, with one thread and
with two, and every zoo step measured there. Re-predicting those steps with today's code guards the
performance model against regressions on a machine CI does not have; the recorded figures are quoted
in the README.
"""

import json
import statistics
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from devicefit.predict.roofline import fresh_training_bytes, predict_step
from devicefit.predict.validate import analyze, validation_points
from devicefit.records import DeviceModel

RECORDED = Path(__file__).parents[1] / "data" / "prediction_cpu_epyc_2vcpu.json"
#: Models small enough to analyze in a few seconds each.
SMALL = ("mlp", "cifar-cnn", "lstm-lm", "resnet18")


@pytest.fixture(scope="module")
def recorded():
    return json.loads(RECORDED.read_text())


def test_recorded_calibrations_still_load(recorded):
    models = [TypeAdapter(DeviceModel).validate_python(m) for m in recorded["device_models"]]
    assert [m.num_threads for m in models] == [1, 2]
    for model in models:
        assert model.kind == "cpu" and not model.asynchronous
        assert {"fp32", "fp32.cold"} <= set(model.matmul_shapes)
        assert {"stream", "elementwise", "batch_norm", "conv_depthwise"} <= set(model.memory)
        assert 0 < model.op_overhead_s < 1e-4


def test_recorded_steps_are_predicted_as_well_as_when_recorded(recorded):
    adapter = TypeAdapter(DeviceModel)
    models = {m["num_threads"]: adapter.validate_python(m) for m in recorded["device_models"]}
    now, then = [], []
    for c in recorded["comparisons"]:
        if c["model"] not in SMALL or not c["measured_s"]:
            continue
        length = next(p.sequence_length for p in validation_points([c["model"]]))
        cost = analyze(c["model"], c["batch_size"], length, "cpu")
        predicted = predict_step(cost, models[c["num_threads"]], mode=c["mode"], device_kind="cpu")
        now.append(abs(predicted.step_time_s / c["measured_s"] - 1))
        then.append(abs(c["error"]))
    assert len(now) == 2 * 2 * 3 * len(SMALL)
    # No worse than when recorded, with a little room for changes that move single steps.
    assert statistics.median(now) <= statistics.median(then) + 0.03


FAULTS = Path(__file__).parents[1] / "data" / "page_faults_cpu_epyc_2vcpu.json"


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
