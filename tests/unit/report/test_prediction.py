"""A prediction's report: what the training peak holds, in the table and in JSON."""

from rich.console import Console

from devicefit.predict.roofline import predict_step
from devicefit.report.prediction import prediction_to_dict, render_prediction
from tests.unit.predict.helpers import make_cost, make_device


def test_prediction_shows_what_the_training_peak_holds():
    prediction = predict_step(make_cost(), make_device(memory_bytes=1e9), mode="train", memory_kind="cpu")
    console = Console(width=200, record=True, color_system=None)
    console.print(render_prediction(prediction))
    # The backward moment at batch 8: weights 4e6, activations 8 x 1e6, plus 4e6 of momentum.
    assert (
        "15.3 MiB peak of 954 MiB, in the backward pass: weights 3.81 MiB, gradients 0 B, "
        "optimizer state 3.81 MiB, activations 7.63 MiB, transient 0 B"
    ) in console.export_text()
    data = prediction_to_dict(prediction)
    assert data["memory"]["train_peak_bytes"] == data["peak_memory_bytes"] == 1.6e7
    inference = predict_step(make_cost(), make_device(memory_bytes=1e9), mode="infer", memory_kind="cpu")
    assert prediction_to_dict(inference)["memory"] is None
