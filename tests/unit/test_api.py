"""The public API a notebook user calls: ``import devicefit`` and the functions it names."""

import subprocess
import sys

import devicefit
from devicefit.records import BenchOutcome, ModelCost, PredictOutcome


def test_importing_the_package_imports_no_torch():
    code = "import sys, devicefit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_public_function_stays_callable_once_every_subpackage_is_imported():
    import devicefit.analyze.cost
    import devicefit.app.predict
    import devicefit.predict.roofline  # noqa: F401  (a subpackage named like a function would shadow it)

    assert all(callable(getattr(devicefit, name)) for name in devicefit.__all__ if name != "__version__")


def test_list_and_build_models():
    names = [info.name for info in devicefit.list_models("resnet*")]
    assert "resnet50" in names and all(n.startswith("resnet") for n in names)
    instance = devicefit.build_model("mlp", 4)
    assert next(instance.module.parameters()).device.type == "meta"


def test_analyze_then_predict_on_catalog_devices(tmp_path):
    cost = devicefit.profile("mlp", batch_size=8)
    assert isinstance(cost, ModelCost) and cost.batch_size == 8 and cost.num_parameters > 0
    result = devicefit.predict_step(
        "mlp", devices="h100 sxm,a100 80gb pcie", batch_size=8, db=tmp_path / "r.db"
    )
    assert isinstance(result, PredictOutcome)
    assert [p.device for p in result.predictions] == ["nvidia-h100-sxm5-80gb", "nvidia-a100-80gb-pcie"]
    assert all(p.step_time_s > 0 and p.fits for p in result.predictions)
    assert len(result.notes) == len(result.predictions)


def test_bench_on_the_simulated_gpu_is_stored(tmp_path):
    outcome = devicefit.bench("fake", quick=True, db=tmp_path / "r.db")
    assert isinstance(outcome, BenchOutcome) and not outcome.interrupted
    assert {r.benchmark for r in outcome.results} >= {"matmul", "launch"}
    assert all(r.device == "fake" for r in outcome.results)


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("DEVICEFIT_DB", str(tmp_path / "readme.db"))
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    # "h100" names all three H100s; each line is device, step time, fits, largest batch.
    rows = [line.split() for line in printed]
    assert [r[0] for r in rows] == [
        "nvidia-h100-pcie-80gb",
        "nvidia-h100-sxm5-80gb",
        "nvidia-h100-nvl",
        "nvidia-a100-80gb-pcie",
    ]
    assert all(float(r[1]) > 0 and r[2] == "True" and int(r[3]) >= 64 for r in rows)


def test_ctrl_c_in_a_script_stops_it_and_keeps_what_finished(tmp_path, monkeypatch):
    import pytest

    from devicefit.app import session
    from devicefit.store.sqlite import Store

    real_execute = session.execute

    def interrupted_after_two(*args, **kwargs):
        for done, result in enumerate(real_execute(*args, **kwargs)):
            if done == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(session, "execute", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        devicefit.bench("fake", quick=True, db=tmp_path / "r.db")
    with Store(tmp_path / "r.db") as store:
        (run,) = store.list_runs()
    assert (run.status, run.num_results) == ("interrupted", 2)
