"""The installed package carries its data files and its entry points (codecarbon's integrity check)."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

from devicefit.data import load_packaged_toml


def test_cpu_core_table_loads_from_the_installed_package():
    table = load_packaged_toml("devicefit.catalog", "cpu_cores.toml")["cores"]
    assert table and all({"name", "fma_units", "fma_width_bits", "source"} <= set(entry) for entry in table)


def test_price_table_loads_from_the_installed_package():
    table = load_packaged_toml("devicefit.catalog", "prices.toml")
    assert table["instances"] and {"electricity", "carbon"} <= set(table)
    assert all(
        {"id", "device", "usd_per_hour", "observed", "source"} <= set(row) for row in table["instances"]
    )


def test_py_typed_marker_is_shipped():
    assert resources.files("devicefit").joinpath("py.typed").is_file()


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "devicefit", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("devicefit ")


def test_lightweight_modules_do_not_import_torch():
    code = (
        "import sys; import devicefit.records, devicefit.analyze.stats, devicefit.store.sqlite, "
        "devicefit.report.results, devicefit.report.devices, devicefit.report.history, "
        "devicefit.report.progress, devicefit.report.export; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_ci_runs_the_readme_test_command_word_for_word():
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text().splitlines()
    marker = readme.index("<!-- test-command -->")
    assert readme[marker + 1] == "```bash"
    command = readme[marker + 2]
    assert "python -m pytest" in command
    ci_lines = (root / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines
