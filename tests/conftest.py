"""Shared fixtures: probe caches cleared between tests, a temporary results database and analysis cache,
GPU marker."""

from __future__ import annotations

import pytest

from devicefit.catalog.cores import core_table
from devicefit.devices import discover_devices


@pytest.fixture(autouse=True)
def _fresh_probes():
    discover_devices.cache_clear()
    core_table.cache_clear()
    yield
    discover_devices.cache_clear()


@pytest.fixture(autouse=True)
def _isolated_db(tmp_path, monkeypatch):
    """Every test gets its own database; nothing touches the user's data dir."""
    path = tmp_path / "devicefit.db"
    monkeypatch.setenv("DEVICEFIT_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory; nothing touches the user's. Returns its analysis cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("DEVICEFIT_CACHE_DIR", str(path))
    return path / "analysis"


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
