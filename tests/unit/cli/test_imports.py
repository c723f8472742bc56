"""A command pays only for what it uses: reading the catalog or stored runs imports no PyTorch and
probes no hardware; predicting for a catalog device probes nothing local."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import devicefit
from devicefit.analyze.cache import analyze_model_cached
from devicefit.cli import app

#: Runs the CLI in this fresh interpreter, then prints which heavy or probing modules it loaded.
DRIVER = (
    "import sys; from devicefit.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    assert done.code in (0, None), done.code\n"
    "print(sorted(m for m in ('torch', 'cpuinfo', 'numpy') if m in sys.modules), file=sys.stderr)"
)


def loaded_modules(*args: str) -> list[str]:
    """The heavy modules a fresh ``devicefit ARGS`` imports (it must succeed)."""
    source = str(Path(devicefit.__file__).parents[1])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stderr.strip().splitlines()[-1].replace("'", '"'))


@pytest.fixture
def stored_run():
    """One run with results in the test's database."""
    result = CliRunner().invoke(app, ["bench", "--device", "fake", "--quick", "--only", "launch", "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["run_id"])


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "list"),
        ("catalog", "show", "h100 sxm"),
        ("history",),
        ("show", "RUN", "--details"),
        ("export", "RUN"),
        ("export", "RUN", "--format", "csv"),
    ],
    ids=" ".join,
)
def test_reading_the_catalog_or_stored_runs_imports_no_torch_and_probes_nothing(args, stored_run):
    assert loaded_modules(*(stored_run if arg == "RUN" else arg for arg in args)) == []


def test_a_cached_predict_for_a_catalog_device_probes_no_local_hardware():
    analyze_model_cached("mlp", 2)
    assert loaded_modules("predict", "mlp", "--device", "h100-sxm", "--batch", "2") == []


def test_a_cached_crossover_of_catalog_devices_stores_its_run_without_importing_torch():
    for batch in (1, 2):
        analyze_model_cached("mlp", batch)
    assert loaded_modules("crossover", "mlp", "--device", "nvidia-t4", "--batch", "1,2") == []
    runs = json.loads(CliRunner().invoke(app, ["history", "--json"]).stdout)["runs"]
    assert [r["command"].split()[:3] for r in runs] == [["devicefit", "crossover", "mlp"]]
