"""validate: each timed step paired with its prediction by device and case id, in a stored run."""

import pytest

from devicefit.app.validate import validate
from devicefit.devices import select_devices
from devicefit.errors import UsageError
from devicefit.measure.environment import collect_environment
from devicefit.predict.calibration import fit_device_model
from devicefit.store.sqlite import Store
from tests.unit.predict.helpers import calibration_results


def test_each_step_is_predicted_measured_and_paired(tmp_path):
    devices = select_devices("cpu")
    described = devices[0].properties()
    model = fit_device_model(calibration_results(), described, num_threads=None, source="test")
    with Store(tmp_path / "v.db") as store:
        run_id = store.start_run(
            command="devicefit calibrate", environment=collect_environment((described,)), devices=(described,)
        )
        store.add_calibration(run_id, model)
        outcome = validate(["mlp"], devices, store, batch_sizes=(2,))
        (run,) = [r for r in store.list_runs() if r.run_id == outcome.run_id]
    assert [(c.model, c.batch_size, c.mode) for c in outcome.comparisons] == [
        ("mlp", 2, "train"),
        ("mlp", 2, "infer"),
    ]
    assert all(c.status == "ok" and c.measured_s and c.predicted_s > 0 for c in outcome.comparisons)
    assert outcome.num_errors == 2 and outcome.median_abs_error is not None
    assert (run.num_results, run.label) == (2, "validate")


def test_a_device_without_calibration_names_the_fix(tmp_path):
    with Store(tmp_path / "v.db") as store, pytest.raises(UsageError, match="calibrate"):
        validate(["mlp"], select_devices("cpu"), store, batch_sizes=(2,))
