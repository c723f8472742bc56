"""The public API a notebook user calls: ``import devicefit`` and the functions it names."""

import subprocess
import sys

import devicefit
from devicefit.records import BenchOutcome, ModelCost, PredictOutcome


def test_importing_the_package_imports_no_torch():
    code = "import sys, devicefit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_public_name_exists():
    assert all(hasattr(devicefit, name) for name in devicefit.__all__)


def test_list_and_build_models():
    names = [info.name for info in devicefit.list_models("resnet*")]
    assert "resnet50" in names and all(n.startswith("resnet") for n in names)
    instance = devicefit.build_model("mlp", 4)
    assert next(instance.module.parameters()).device.type == "meta"


def test_analyze_then_predict_on_catalog_devices(tmp_path):
    cost = devicefit.analyze("mlp", batch_size=8)
    assert isinstance(cost, ModelCost) and cost.batch_size == 8 and cost.num_parameters > 0
    result = devicefit.predict("mlp", devices="h100 sxm,a100 80gb pcie", batch_size=8, db=tmp_path / "r.db")
    assert isinstance(result, PredictOutcome)
    assert [p.device for p in result.predictions] == ["nvidia-h100-sxm-80gb", "nvidia-a100-pcie-80gb"]
    assert all(p.step_time_s > 0 and p.fits for p in result.predictions)
    assert len(result.notes) == len(result.predictions)


def test_bench_on_the_simulated_gpu_is_stored(tmp_path):
    outcome = devicefit.bench("fake", quick=True, db=tmp_path / "r.db")
    assert isinstance(outcome, BenchOutcome) and not outcome.interrupted
    assert {r.benchmark for r in outcome.results} >= {"matmul", "launch"}
    assert all(r.device == "fake" for r in outcome.results)
