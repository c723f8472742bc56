"""Fixtures shared by the unit tests of several packages: the packaged catalog, loaded once per module."""

import pytest

from devicefit.catalog import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()
