"""The store's tests run against both backends: a SQLite file and a database on a real PostgreSQL server."""

import itertools

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def new_db(request, tmp_path):
    """Makes a new database of the test's backend at each call: a file path, or an empty database's URL."""
    if request.param == "sqlite":
        numbers = itertools.count()
        return lambda: tmp_path / f"r{next(numbers)}.db"
    from tests.postgres_server import create_database

    server = request.getfixturevalue("postgres_server")
    return lambda: create_database(server)


@pytest.fixture
def db(new_db):
    """Where a new database goes, on either backend."""
    return new_db()
