"""The ``predict`` and ``validate`` commands: the JSON contract and one-line errors."""

import json

import pytest

from tests.unit.predict.helpers import H100_SXM, invoke


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_predict_json_contract(tmp_path):
    db = str(tmp_path / "p.db")
    result = invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "8", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["batch_size"], data["precision"], data["mode"]) == ("mlp", 8, "fp32", "train")
    (p,) = data["predictions"]
    assert p["device"] == H100_SXM
    assert p["step_time_s"] > 0
    assert p["throughput_samples_per_s"] == pytest.approx(8 / p["step_time_s"])
    phases = p["phases"]
    assert set(phases) == {"forward_s", "backward_s", "optimizer_s"}
    assert sum(phases.values()) == pytest.approx(p["step_time_s"])
    assert phases["backward_s"] > 0 and phases["optimizer_s"] > 0
    assert p["fits"] is True
    assert 0 < p["peak_memory_bytes"] < 85_899_345_920
    memory = p["memory"]
    parts = ("weights", "gradients", "optimizer_state", "master_weights", "activations", "transient")
    assert sum(memory[f"{part}_bytes"] for part in parts) == pytest.approx(p["peak_memory_bytes"])
    assert memory["train_peak_phase"] in ("forward", "backward", "optimizer step")
    assert p["max_batch_size"] > 8
    assert p["error_band"] == 0.35
    assert p["breakdown"] and {"op_class", "time_s", "bound", "num_ops"} <= set(p["breakdown"][0])
    # Kernels and launches of the traced ops: no more than the forward and backward phases.
    assert sum(c["time_s"] for c in p["breakdown"]) <= phases["forward_s"] + phases["backward_s"] + 1e-12
    assert data["skipped"] == []

    result = invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "8", "--infer", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "infer"
    (p,) = data["predictions"]
    assert p["phases"]["backward_s"] == 0 and p["phases"]["optimizer_s"] == 0
    assert p["step_time_s"] == pytest.approx(p["phases"]["forward_s"])


def test_predict_for_catalog_devices_does_not_probe_this_machine(monkeypatch):
    import devicefit.devices

    def refuse():
        raise AssertionError("probed the local devices")

    monkeypatch.setattr(devicefit.devices, "discover_devices", refuse)
    result = invoke("predict", "mlp", "--device", "h100-sxm, a100 80gb pcie", "--batch", "2", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 2


def test_predict_bad_model_and_device_are_one_line(tmp_path):
    db = str(tmp_path / "p.db")
    line = one_line_error(invoke("predict", "nosuchmodel", "--device", "h100-sxm", "--db", db), 2)
    assert "nosuchmodel" in line
    line = one_line_error(invoke("predict", "mlp", "--device", "nosuchgpu", "--db", db), 2)
    assert "nosuchgpu" in line
    # Zero is a bad size, not "the model's default".
    line = one_line_error(invoke("predict", "mlp", "--device", "h100-sxm", "--batch", "0", "--db", db), 2)
    assert "batch size must be at least 1" in line and "--batch" in line
    args = ("predict", "gpt2", "--device", "h100-sxm", "--seq-len", "0", "--db", db)
    line = one_line_error(invoke(*args), 2)
    assert "sequence length must be at least 1" in line and "--seq-len" in line


def test_validate_without_calibration_says_to_calibrate(tmp_path):
    line = one_line_error(invoke("validate", "mlp", "--db", str(tmp_path / "v.db")), 2)
    assert "no calibration" in line and "devicefit calibrate" in line


def test_predict_host_precision_and_channels_last_options(tmp_path):
    db = str(tmp_path / "p.db")
    common = (
        "predict",
        "cifar-cnn",
        "--device",
        "v100-sxm2-16gb",
        "--batch",
        "1",
        "--infer",
        "--json",
        "--db",
        db,
    )
    default = json.loads(invoke(*common).stdout)["predictions"][0]
    assert default["host"].startswith("Intel Xeon E5-2698 v4 (") and default["channels_last"] is False
    faster = json.loads(invoke(*common, "--host", "xeon 8480c").stdout)["predictions"][0]
    assert faster["host"].startswith("Intel Xeon Platinum 8480C (--host)")
    # Batch 1 of a small CNN is host-bound: the 2023 host launches it sooner than the 2016 one.
    assert faster["step_time_s"] < default["step_time_s"]
    data = json.loads(invoke(*common, "--precision", "amp", "--channels-last").stdout)
    assert data["precision"] == "amp" and data["predictions"][0]["channels_last"] is True


def test_predict_bad_host_and_precision_are_one_line(tmp_path):
    db = str(tmp_path / "p.db")
    line = one_line_error(
        invoke("predict", "mlp", "--device", "h100-sxm", "--host", "pentium", "--db", db), 2
    )
    assert "no catalog CPU matches host 'pentium'" in line and "intel-xeon-e5-2698-v4" in line
    line = one_line_error(
        invoke("predict", "mlp", "--device", "h100-sxm", "--precision", "fp8", "--db", db), 2
    )
    assert "unknown precision 'fp8'" in line and "fp32, tf32, bf16, fp16, amp" in line
    line = one_line_error(
        invoke("bench", "--suite", "models", "--device", "cpu", "--precision", "fp8", "--db", db), 2
    )
    assert "unknown precision 'fp8'" in line and "tf32" in line and "amp" in line


def test_predict_several_gpus_json_contract(tmp_path):
    db = str(tmp_path / "p.db")
    base = ("predict", "mlp", "--device", "a100 80gb sxm4", "--batch", "8", "--json", "--db", db)
    (one,) = json.loads(invoke(*base).stdout)["predictions"]
    assert (one["gpus"], one["parallel"], one["comm_s"], one["scaling_efficiency"]) == (1, "none", 0.0, None)
    result = invoke(*base, "--gpus", "16")
    assert result.exit_code == 0, result.output
    (p,) = json.loads(result.stdout)["predictions"]
    # 16 A100s are two DGX A100s, data parallel by default.
    assert (p["gpus"], p["nodes"], p["parallel"], p["replicas"]) == (16, 2, "ddp", 16)
    assert p["comm_s"] > 0 and 0 <= p["exposed_comm_s"] <= p["comm_s"]
    assert p["step_time_s"] == pytest.approx(one["step_time_s"] + p["exposed_comm_s"])
    assert p["throughput_samples_per_s"] == pytest.approx(16 * 8 / p["step_time_s"])
    assert p["scaling_efficiency"] == pytest.approx(one["step_time_s"] / p["step_time_s"])
    assert "InfiniBand HDR" in p["interconnect"]
    result = invoke(*base, "--gpus", "8", "--parallel", "zero2")
    (z,) = json.loads(result.stdout)["predictions"]
    assert z["memory"]["optimizer_state_bytes"] == pytest.approx(one["memory"]["optimizer_state_bytes"] / 8)


def test_predict_several_gpus_errors_are_one_line(tmp_path):
    db = str(tmp_path / "p.db")
    base = ("predict", "mlp", "--device", "a100 80gb sxm4", "--batch", "8", "--db", db)
    line = one_line_error(invoke(*base, "--gpus", "8", "--parallel", "pipeline"), 2)
    assert "pipeline" in line and "tp=K" in line
    line = one_line_error(invoke(*base, "--gpus", "8", "--parallel", "tp=2"), 2)
    assert "decoder family" in line
    line = one_line_error(invoke(*base, "--gpus", "6", "--nodes", "4"), 2)
    assert "6 GPUs do not spread evenly over 4 machines" in line
    line = one_line_error(invoke(*base, "--gpus", "8", "--infer"), 2)
    assert "training" in line
