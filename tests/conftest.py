"""Shared fixtures: probe caches cleared between tests, a temporary results database and analysis cache,
a PostgreSQL server, GPU marker."""

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


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (see tests/postgres_server.py); yields its DSN."""
    from tests.postgres_server import running_server, why_unavailable

    reason = why_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with running_server() as dsn:
        yield dsn


@pytest.fixture
def postgres_db(postgres_server):
    """A new, empty database on the session's server; returns its ``postgresql://`` URL."""
    from tests.postgres_server import create_database

    return create_database(postgres_server)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
