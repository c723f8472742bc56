"""The command line through CliRunner: JSON contracts, tables, history, export and every bad input."""

import json

import pytest
from typer.testing import CliRunner

from devicefit.app import session
from devicefit.cli import app

runner = CliRunner()

FAKE_QUICK = ["bench", "--device", "fake", "--quick"]


def invoke(*args, **kwargs):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"}, **kwargs)


def test_devices_json_contract():
    result = invoke("devices", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    (device,) = json.loads(result.stdout)["devices"]
    assert device["id"] == "cpu" and device["kind"] == "cpu"
    assert device["name"]
    assert device["peak_flops_per_s"]["fp32"] > 0
    assert "peak_bandwidth_bytes_per_s" in device
    assert device["cpu"]["num_physical_cores"] >= 1


def test_devices_table():
    result = invoke("devices", "--device", "cpu")
    assert result.exit_code == 0
    assert "peak fp32" in result.stdout and "FMA units" in result.stdout


def test_bench_json_contract_and_history():
    result = invoke(*FAKE_QUICK, "--only", "matmul,triad,launch", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data["run_id"], int)
    benchmarks = {r["benchmark"] for r in data["results"]}
    assert benchmarks == {"matmul", "triad", "launch"}
    for row in data["results"]:
        assert {"device", "benchmark", "dtype", "size", "value", "unit", "median_s"} <= set(row)
        assert row["device"] == "fake"
    matmul = next(r for r in data["results"] if r["benchmark"] == "matmul")
    assert matmul["unit"] == "FLOP/s" and matmul["value"] == pytest.approx(
        matmul["flops_per_iteration"] / matmul["median_s"]
    )

    history = json.loads(invoke("history", "--json").stdout)
    (run,) = history["runs"]
    assert (run["run_id"], run["status"]) == (data["run_id"], "complete")
    assert run["started_at"]


def test_bench_tables_show_and_export():
    result = invoke(*FAKE_QUICK, "--only", "matmul.fp32.*,h2d", "--label", "smoke")
    assert result.exit_code == 0, result.output
    assert "Matrix multiply" in result.stdout and "Host-device transfer" in result.stdout
    assert "stored as run 1" in result.stderr

    shown = invoke("show", "latest", "--details")
    assert shown.exit_code == 0
    assert (
        "run 1 complete" in shown.stdout and "smoke" in shown.stdout and "Statistics per case" in shown.stdout
    )

    exported = json.loads(invoke("export", "1", "--format", "json").stdout)
    assert exported["results"][0]["samples_s"]
    csv_text = invoke("export", "1", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("run_id,device,benchmark")
    assert len(csv_text.splitlines()) == 1 + len(exported["results"])


def test_export_to_a_file(tmp_path):
    invoke(*FAKE_QUICK, "--only", "launch")
    target = tmp_path / "run.csv"
    result = invoke("export", "latest", "-f", "csv", "-o", str(target))
    assert result.exit_code == 0
    assert target.read_text().startswith("run_id,")


def test_real_cpu_bench_of_two_cases():
    result = invoke("bench", "--device", "cpu", "--quick", "--only", "matmul.fp32.256,launch", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [r["case_id"] for r in rows] == ["matmul.fp32.256", "launch"]
    assert all(r["status"] == "ok" and r["value"] > 0 for r in rows)
    assert rows[0]["peak_fraction"] > 0
    for row in rows:
        # Never a silent zero: a figure with how it was read, or none with the reason.
        if row["energy_method"] == "none":
            assert row["energy_j"] is None and row["power_w"] is None
            assert row["energy_note"].startswith("no meter:")
        else:
            assert row["energy_method"] == "counter" and row["power_w"] > 0
    if rows[0]["energy_method"] == "counter":
        assert rows[0]["unit_per_j"] == "FLOP/J" and rows[0]["value_per_j"] > 0


def test_bench_json_without_a_meter_says_why(monkeypatch, tmp_path):
    """As on a VM: no powercap tree, so every result says "no meter" and why (and shows it in tables)."""
    from devicefit.devices import cpu, rapl

    monkeypatch.setattr(cpu, "rapl_meter", lambda: rapl.rapl_meter(tmp_path / "powercap"))
    result = invoke("bench", "--device", "cpu", "--quick", "--only", "launch", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert (row["energy_method"], row["energy_j"], row["power_w"], row["value_per_j"]) == (
        "none",
        None,
        None,
        None,
    )
    assert (
        row["energy_note"] == f"no meter: {tmp_path / 'powercap'} absent (a VM, or a kernel without powercap)"
    )
    assert row["energy"]["method"] == "none" and row["energy"]["duration_s"] > 0
    shown = invoke("show", "latest")
    assert "Energy of cpu: no meter:" in shown.stdout


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_unknown_device_is_one_line_exit_2():
    line = one_line_error(invoke("bench", "--device", "gpu"), 2)
    assert "unknown device 'gpu'" in line and "cuda:N" in line


def test_cuda_without_cuda_says_what_was_found():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = one_line_error(invoke("bench", "--device", "cuda"), 2)
    assert "no CUDA device" in line and "found: cpu" in line


def test_unknown_suite_lists_the_valid_ones():
    line = one_line_error(invoke("bench", "--device", "fake", "--suite", "nope"), 2)
    assert "unknown suite 'nope'" in line and "micro" in line


def test_filter_matching_nothing():
    line = one_line_error(invoke("bench", "--device", "fake", "--only", "nothing*"), 2)
    assert "matches no benchmark" in line


def test_corrupt_database_names_its_path(tmp_path):
    path = tmp_path / "junk.db"
    path.write_text("not a database at all" * 50)
    line = one_line_error(invoke("history", "--db", str(path)), 1)
    assert str(path) in line and "not a database" in line


def test_unwritable_database_names_its_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(invoke("bench", "--device", "fake", "--quick", "--db", str(blocker / "x.db")), 1)
    assert str(blocker / "x.db") in line


def test_database_from_the_environment(tmp_path):
    path = tmp_path / "env.db"
    result = runner.invoke(app, [*FAKE_QUICK, "--only", "launch"], env={"DEVICEFIT_DB": str(path)})
    assert result.exit_code == 0
    assert path.exists()


def test_missing_run_is_a_usage_error():
    line = one_line_error(invoke("show", "42"), 2)
    assert "no run 42" in line


def test_debug_shows_the_traceback():
    result = invoke("--debug", "show", "42")
    assert result.exit_code != 0
    assert result.exception is not None and "no run 42" in str(result.exception)


def test_ctrl_c_keeps_finished_results_and_marks_the_run(monkeypatch):
    real_execute = session.execute

    def interrupted_after_two(*args, **kwargs):
        for number, result in enumerate(real_execute(*args, **kwargs)):
            if number == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(session, "execute", interrupted_after_two)
    result = invoke(*FAKE_QUICK, "--only", "matmul")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert (run["status"], run["num_results"]) == ("interrupted", 2)


def test_no_runs_yet_is_friendly():
    result = invoke("history")
    assert result.exit_code == 0
    assert "no runs yet" in result.stderr


def test_version_and_help():
    assert invoke("--version").stdout.startswith("devicefit ")
    assert "bench" in invoke("--help").stdout


def test_models_json_contract():
    result = invoke("models", "resnet*", "--json")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert [m["name"] for m in models] == ["resnet18", "resnet50"]
    assert all({"name", "family", "description"} <= set(m) for m in models)
    assert models[1]["num_parameters"] == 25_557_032


def test_profile_json_contract():
    result = invoke("profile", "resnet18", "--batch", "4", "--json", "--memory", "8GiB")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "model",
        "batch_size",
        "precision",
        "num_parameters",
        "forward_flops",
        "backward_flops",
        "flop_coverage",
        "memory",
        "layers",
    ):
        assert key in data, key
    assert data["batch_size"] == 4 and data["num_parameters"] == 11_689_512
    assert {"train_peak_bytes", "infer_peak_bytes"} <= set(data["memory"])
    memory = data["memory"]
    parts = ("weights", "gradients", "optimizer_state", "master_weights", "activations", "transient")
    assert sum(memory[f"{part}_bytes"] for part in parts) == pytest.approx(memory["train_peak_bytes"])
    assert data["max_batch_size"]["batch_size"] > 4
    assert data["layers"][0]["name"] and "forward_flops" in data["layers"][0]


def test_profile_table():
    result = invoke("profile", "mlp", "--batch", "8", "--layers", "0")
    assert result.exit_code == 0, result.output
    assert "By operator class" in result.stdout and "Layers (" in result.stdout
    assert "layers.0" in result.stdout or "Linear" in result.stdout


def test_profile_bad_inputs():
    assert "unknown model 'resnet51'" in one_line_error(invoke("profile", "resnet51"), 2)
    assert "Did you mean" in one_line_error(invoke("profile", "resnet51"), 2)
    assert "unknown precision" in one_line_error(invoke("profile", "mlp", "--precision", "fp8"), 2)
    assert "batch size must be at least 1" in one_line_error(invoke("profile", "mlp", "--batch", "0"), 2)
    assert "cannot read the size" in one_line_error(invoke("profile", "mlp", "--memory", "lots"), 2)


def test_profile_of_a_raising_factory(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def make(batch_size):\n    raise ValueError('width must be even')\n")
    line = one_line_error(invoke("profile", f"{path}:make"), 2)
    assert "raised ValueError: width must be even" in line


def test_bench_one_model_json_contract():
    result = invoke("bench", "--device", "cpu", "--quick", "--model", "mlp", "--batch", "8", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert {r["benchmark"] for r in rows} == {"train_step", "inference"}
    for row in rows:
        assert row["model"] == "mlp" and row["batch_size"] == 8 and row["unit"] == "samples/s"
        assert row["value"] > 0 and row["peak_memory_bytes"] > 0
