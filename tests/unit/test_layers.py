"""The house is one-way: each package imports only the layers below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "devicefit"

#: What each package may import of devicefit besides itself. ``errors`` and ``data`` are leaves
#: everyone may use; ``app`` and ``cli`` are the top, and nothing below imports them.
ALLOWED = {
    "records": set(),
    "catalog": {"records"},
    "devices": {"records", "catalog"},
    "workloads": set(),
    "store": {"records"},
    "report": {"records"},
    "analyze": {"records", "workloads"},
    "measure": {"records", "devices", "workloads", "analyze"},
    "predict": {"records", "catalog", "analyze"},
    # Advice reads predictions and prices (records) and decides; it predicts nothing itself.
    "advise": {"records"},
    # Ray plumbing and the fleet's outliers: it runs what app/ hands it on each node.
    "fleet": {"records"},
    # Diagnoses read what devices/ probes (NVML, the framework probe script) and decide; no timing.
    "diagnose": {"records", "devices"},
    "app": {
        "records",
        "catalog",
        "devices",
        "workloads",
        "store",
        "analyze",
        "measure",
        "predict",
        "advise",
        "fleet",
        "diagnose",
    },
    # The CLI parses, calls app/, renders: it names devices and model plans, reads the store, and never
    # analyzes, predicts or measures itself.
    "cli": {"records", "catalog", "devices", "workloads", "store", "report", "measure", "app"},
}
LEAVES = {"errors", "data", "__version__"}
#: Packages that stay importable without PyTorch (fast to start, testable anywhere).
TORCH_FREE = {
    "records",
    "catalog",
    "store",
    "report",
    "predict",
    "advise",
    "fleet",
    "diagnose",
    "app",
    "cli",
}
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _package(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """Every imported module name with its line and whether it is imported at module level."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_the_layers_below_it(path):
    package = _package(path)
    if package not in ALLOWED:
        return
    wrong = []
    for name, line, _ in _imports(path):
        parts = name.split(".")
        if parts[0] != "devicefit" or len(parts) < 2 or parts[1] in LEAVES or parts[1] == package:
            continue
        if parts[1] not in ALLOWED[package]:
            wrong.append(f"{_where(path, line)} imports {name}")
    assert not wrong, f"{package}/ may import only {sorted(ALLOWED[package]) or 'itself'}: {wrong}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_torch_free_packages_never_import_torch(path):
    if _package(path) not in TORCH_FREE:
        return
    torch = [_where(path, line) for name, line, _ in _imports(path) if name.split(".")[0] == "torch"]
    assert not torch, f"{_package(path)}/ stays torch-free: {torch}"


def test_records_are_data_only():
    functions = [
        f"{path.name}: {node.name}"
        for path in (PACKAGE / "records").glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    assert not functions, f"records/ defines no module-level function: {functions}"


def test_no_module_is_over_the_line_limit():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_the_layers_test_knows_every_package():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"add {sorted(packages - set(ALLOWED))} to ALLOWED"
