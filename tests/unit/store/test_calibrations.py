"""Stored calibrations (on both backends): round trips, which one is preferred, and the migration that adds
them."""

import dataclasses
import json
import sqlite3

from devicefit.predict.calibration import fit_device_model
from devicefit.predict.devices import catalog_default_model
from devicefit.store.schema import MIGRATIONS, SCHEMA_VERSION
from devicefit.store.sqlite import Store
from tests.unit.predict.helpers import CPU, ENVIRONMENT, H100_SXM, calibration_results, make_device


def test_calibration_round_trips_through_the_store(db, catalog):
    fitted = fit_device_model(
        calibration_results(), CPU, num_threads=2, source="test", created_at="2026-11-22"
    )
    # A GPU model has a tile (a tuple) and tuples of tuples in every curve.
    h100 = catalog_default_model(catalog.get(H100_SXM))
    with Store(db) as store:
        run_id = store.start_run(command="devicefit calibrate", environment=ENVIRONMENT, devices=(CPU,))
        store.add_calibration(run_id, fitted)
        store.add_calibration(run_id, h100)
        found = store.latest_calibration("cpu", device_name="Hand EPYC", hostname="box", num_threads=2)
        assert found == fitted
        assert isinstance(found.matmul_shapes["fp32"][0], tuple)
        again = store.latest_calibration(H100_SXM, device_name=h100.name, hostname="box")
        assert again == h100
        assert again.matmul_tile == (128, 128)
        # Another host, or another device in the same slot, has no calibration.
        assert store.latest_calibration("cpu", device_name="Hand EPYC", hostname="elsewhere") is None
        assert store.latest_calibration("cpu", device_name="Other CPU", hostname="box") is None
        assert store.latest_calibration("cpu", device_name="Hand EPYC", hostname="box", num_threads=8) is None


def test_full_calibration_is_preferred_to_a_newer_bench_fit(db):
    def model(source, threads):
        return make_device(device="cpu", name="Hand EPYC", source=source, num_threads=threads)

    with Store(db) as store:
        runs = [store.start_run(command=str(i), environment=ENVIRONMENT, devices=(CPU,)) for i in range(3)]
        store.add_calibration(runs[0], model("calibrate 1t", 1))
        store.add_calibration(runs[0], model("calibrate 2t", 2))
        store.add_calibration(runs[1], model("bench", 2), origin="bench")

        def latest(threads=None):
            return store.latest_calibration(
                "cpu", device_name="Hand EPYC", hostname="box", num_threads=threads
            ).source

        assert latest(2) == "calibrate 2t"
        assert latest(1) == "calibrate 1t"
        # No thread count: the most threads of the newest full calibration.
        assert latest() == "calibrate 2t"
        store.add_calibration(runs[2], model("calibrate again", 2))
        assert latest(2) == "calibrate again"
        # Every calibration is kept, not replaced.
        assert store._db.execute(
            "SELECT COUNT(*) FROM calibrations WHERE device = ?", ("cpu",)
        ).fetchone() == (4,)


def test_version_2_database_gains_the_calibrations_table(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.executescript(MIGRATIONS[1])
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices, label) VALUES "
        "('2026-01-01T00:00:00+00:00', 'complete', 'devicefit bench', 'box', ?, '[]', 'old')",
        (json.dumps(dataclasses.asdict(ENVIRONMENT)),),
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()

    with Store(path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
        (run,) = store.list_runs()
        assert (run.command, run.label) == ("devicefit bench", "old")
        tables = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "calibrations" in tables
        store.add_calibration(run.run_id, make_device())
        assert store.latest_calibration("cpu", device_name="Hand CPU", hostname="box") == make_device()


def test_most_threads_come_first_before_a_model_without_a_thread_count(db):
    """SQLite sorts NULL last in DESC order, PostgreSQL first unless told: both must agree."""
    with Store(db) as store:
        run_id = store.start_run(command="c", environment=ENVIRONMENT, devices=(CPU,))
        for source, num_threads in (("2t", 2), ("any", None)):
            model = make_device(device="cpu", name="Hand EPYC", source=source, num_threads=num_threads)
            store.add_calibration(run_id, model)
        found = store.calibrations("cpu", device_name="Hand EPYC", hostname="box")
    assert [model.source for _, model in found] == ["2t", "any"]
