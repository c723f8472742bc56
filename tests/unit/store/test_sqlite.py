"""The results store: round trip, history, run references, abandoned runs, migrations, bad paths and files.

Tests taking ``db`` run on SQLite and on PostgreSQL (tests/unit/store/conftest.py)."""

import dataclasses
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devicefit.errors import StoreError, UsageError
from devicefit.records import (
    DeviceDescription,
    EnergyDomain,
    EnergyReading,
    Environment,
    Measurement,
    Peak,
    Result,
    Summary,
)
from devicefit.store.location import check_db_path
from devicefit.store.process import this_host, this_process
from devicefit.store.schema import MIGRATIONS, SCHEMA_VERSION
from devicefit.store.sqlite import Store, default_db_path

ENVIRONMENT = Environment(
    devicefit_version="0.1.0",
    python_version="3.11.7",
    torch_version="2.13.0+cpu",
    numpy_version="2.4.6",
    platform="Linux 6.1 x86_64",
    hostname="box",
    cpu_model="AMD EPYC",
    torch_num_threads=2,
)
DEVICE = DeviceDescription(
    id="cpu",
    kind="cpu",
    name="AMD EPYC",
    vendor="amd",
    memory_bytes=2**34,
    peaks=(Peak(dtype="fp32", flops_per_s=1.568e11, derivation="2 x 8 x 2 x 2 x 2.45 GHz"),),
)


def make_result(case_id="matmul.fp32.256", value=1.2e11, **overrides):
    samples = (2.8e-4, 2.9e-4, 2.7e-4, 2.8e-4, 3.0e-4)
    summary = Summary(
        median_s=2.8e-4,
        iqr_s=1e-5,
        min_s=2.7e-4,
        max_s=3.0e-4,
        mean_s=2.84e-4,
        cv=0.04,
        num_samples=5,
        warnings=("only 5 samples",),
    )
    fields = dict(
        device="cpu",
        benchmark="matmul",
        case_id=case_id,
        unit="FLOP/s",
        dtype="fp32",
        size=256,
        shape=(256, 256, 256),
        flops_per_iteration=2 * 256**3,
        value=value,
        peak=1.568e11,
        measurement=Measurement(
            samples_s=samples,
            iterations_per_sample=20,
            overhead_s=1e-7,
            num_warmup_iterations=40,
            summary=summary,
        ),
    )
    fields.update(overrides)
    return Result(**fields)


def test_run_round_trips_every_field(db):
    with Store(db) as store:
        run_id = store.start_run(
            command="devicefit bench", environment=ENVIRONMENT, devices=(DEVICE,), label="x"
        )
        stored = [
            make_result(),
            make_result(
                "matmul.fp32.1024", status="oom", value=None, measurement=None, error="CUDA out of memory"
            ),
        ]
        for result in stored:
            store.add_result(run_id, result)
        store.finish_run(run_id, "complete")
        run = store.load_run(run_id)
    assert run.results == tuple(stored)
    assert run.environment == ENVIRONMENT
    assert run.devices == (DEVICE,)
    assert (run.status, run.label, run.command) == ("complete", "x", "devicefit bench")
    assert run.ended_at is not None


def test_recording_marks_complete_interrupted_and_failed(db):
    store = Store(db)
    with store.recording(command="a", environment=ENVIRONMENT, devices=(DEVICE,)) as recorder:
        recorder.add(make_result())
    with (
        pytest.raises(KeyboardInterrupt),
        store.recording(command="b", environment=ENVIRONMENT, devices=(DEVICE,)) as recorder,
    ):
        recorder.add(make_result())
        raise KeyboardInterrupt
    with (
        pytest.raises(RuntimeError),
        store.recording(command="c", environment=ENVIRONMENT, devices=(DEVICE,)),
    ):
        raise RuntimeError("boom")
    runs = store.list_runs()
    assert [(r.command, r.status, r.num_results) for r in runs] == [
        ("c", "failed", 0),
        ("b", "interrupted", 1),
        ("a", "complete", 1),
    ]
    assert runs[0].devices == ("cpu",)


def test_run_references_resolve(db):
    store = Store(db)
    ids = [store.start_run(command=str(i), environment=ENVIRONMENT, devices=(DEVICE,)) for i in range(3)]
    assert store.resolve_run_id("latest") == ids[-1]
    assert store.resolve_run_id("-2") == ids[-2]
    assert store.resolve_run_id(str(ids[0])) == ids[0]
    for bad in ("99", "-9", "-0", "abc", "--1", "²", "-²"):
        with pytest.raises(UsageError):
            store.resolve_run_id(bad)


def test_version_1_database_is_migrated_keeping_its_runs(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices) VALUES "
        "('2026-01-01T00:00:00+00:00', 'complete', 'devicefit bench', 'box', ?, '[]')",
        (json.dumps(dataclasses.asdict(ENVIRONMENT)),),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    with Store(path) as store:
        (run,) = store.list_runs()
        assert (run.command, run.label) == ("devicefit bench", None)
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(runs)")}
        assert "label" in columns


def test_fresh_database_is_at_the_latest_version_in_wal_mode(tmp_path):
    with Store(tmp_path / "new.db") as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this devicefit reads"):
        Store(path)


def test_corrupt_file_names_its_path(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as raised:
        Store(path)
    assert str(path) in str(raised.value)
    assert "not a database" in str(raised.value)
    assert raised.value.exit_code == 1


def test_unwritable_location_names_its_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError) as raised:
        Store(blocker / "sub" / "r.db")
    assert str(blocker / "sub" / "r.db") in str(raised.value)


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVICEFIT_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"
    monkeypatch.setenv("DEVICEFIT_DB", "postgresql://me@db.lab/devicefit")
    assert default_db_path() == "postgresql://me@db.lab/devicefit"
    monkeypatch.delenv("DEVICEFIT_DB")
    assert default_db_path().name == "devicefit.db"


def finished_pid():
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


HERE = dataclasses.replace(ENVIRONMENT, hostname=this_host())


def test_run_whose_process_is_gone_reads_abandoned_with_its_results(db):
    with Store(db) as store:
        run_id = store.start_run(
            command="devicefit bench", environment=HERE, devices=(DEVICE,), process=(finished_pid(), 0.0)
        )
        store.add_result(run_id, make_result())
        (summary,) = store.list_runs()
        run = store.load_run(run_id)
    assert (summary.status, summary.num_results) == ("abandoned", 1)
    assert run.status == "abandoned" and len(run.results) == 1
    assert run.ended_at is None


def test_a_reused_pid_is_not_taken_for_the_run(db):
    pid, started_at_s = this_process()
    with Store(db) as store:
        # This process holds the pid now, but it started an hour after the run's process did.
        store.start_run(
            command="old", environment=HERE, devices=(DEVICE,), process=(pid, started_at_s - 3600.0)
        )
        store.start_run(command="live", environment=HERE, devices=(DEVICE,))
        statuses = {run.command: run.status for run in store.list_runs()}
    assert statuses == {"old": "abandoned", "live": "running"}


def test_a_run_of_another_host_stays_running_with_its_host(db):
    elsewhere = dataclasses.replace(ENVIRONMENT, hostname="not-" + this_host())
    with Store(db) as store:
        store.start_run(command="x", environment=elsewhere, devices=(DEVICE,), process=(finished_pid(), 0.0))
        (run,) = store.list_runs()
    assert (run.status, run.hostname) == ("running", "not-" + this_host())


def test_an_ended_run_is_never_marked_abandoned(db):
    with Store(db) as store:
        run_id = store.start_run(
            command="x", environment=HERE, devices=(DEVICE,), process=(finished_pid(), 0.0)
        )
        store.finish_run(run_id, "interrupted")
        assert store.mark_abandoned_runs() == []
        assert store.load_run(run_id).status == "interrupted"


def test_version_3_database_gains_pids_and_keeps_runs_results_and_calibrations(tmp_path):
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices) VALUES "
        "('2026-01-01T00:00:00+00:00', 'running', 'devicefit bench', ?, ?, '[]')",
        (this_host(), json.dumps(dataclasses.asdict(ENVIRONMENT))),
    )
    db.execute(
        "INSERT INTO results (run_id, device, benchmark, case_id, unit, status, record)"
        " VALUES (1, 'cpu', 'matmul', 'matmul.fp32.256', 'FLOP/s', 'ok', ?)",
        (json.dumps(dataclasses.asdict(make_result())),),
    )
    db.execute(
        "INSERT INTO calibrations (run_id, device, device_name, origin, hostname, created_at, record)"
        " VALUES (1, 'cpu', 'AMD EPYC', 'bench', 'box', '2026-01-01', '{}')"
    )
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()

    with Store(path) as store:
        (run,) = store.list_runs()
        # A run recorded before pids cannot be judged, so it stays as it was.
        assert (run.run_id, run.status, run.num_results, run.pid) == (1, "running", 1, None)
        assert store._db.execute("SELECT COUNT(*) FROM calibrations").fetchone()[0] == 1
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # Run ids carry on after the migrated ones.
        assert store.start_run(command="next", environment=ENVIRONMENT, devices=(DEVICE,)) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("garbage", "is not a database file name"),
        ("mysql://user@host/devicefit", "is a URL of a database devicefit does not read"),
        (".", "is a directory"),
    ],
)
def test_a_path_that_cannot_name_a_database_is_refused(text, problem, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=problem) as raised:
        check_db_path(text, source="DEVICEFIT_DB")
    assert str(raised.value).startswith(f"DEVICEFIT_DB={text.split('//')[0]}")
    assert list(tmp_path.iterdir()) == []


def test_database_names_that_are_accepted(tmp_path):
    existing = tmp_path / "results"
    existing.write_bytes(b"")
    for path in (existing, tmp_path / "new.db", tmp_path / "new.sqlite", tmp_path / "new.SQLITE3"):
        assert check_db_path(str(path), source="--db") == path
    for url in ("postgresql://me:pw@db.lab:5432/devicefit", "postgres://db.lab/devicefit"):
        assert check_db_path(url, source="--db") == url


READ_ONLY = {
    # as a read-only file or mount refuses writes
    "sqlite": "PRAGMA query_only = ON",
    # as a read-only role or a standby server refuses writes
    "postgres": "SET default_transaction_read_only = on",
}


def test_a_read_only_database_lists_a_dead_run_without_marking_it(db):
    with Store(db) as store:
        store.start_run(
            command="devicefit bench", environment=HERE, devices=(DEVICE,), process=(finished_pid(), 0.0)
        )
        store._db.execute(READ_ONLY["sqlite" if isinstance(store.path, Path) else "postgres"])
        (summary,) = store.list_runs()
    assert summary.status == "running"


def test_connections_opening_a_new_database_at_once_all_succeed(new_db):
    """Each waits for the migration lock, then finds the schema already there (it used to rebuild it)."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_record(path):
        with Store(path) as store:
            return store.start_run(command="devicefit bench", environment=ENVIRONMENT, devices=(DEVICE,))

    for _ in range(5):
        path = new_db()
        with ThreadPoolExecutor(4) as pool:
            run_ids = list(pool.map(open_and_record, [path] * 4))
        assert sorted(run_ids) == [1, 2, 3, 4]
        with Store(path) as store:
            assert len(store.list_runs()) == 4


def test_version_4_database_gains_energy_columns_keeping_its_results(tmp_path):
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices) VALUES "
        "('2026-01-01T00:00:00+00:00', 'complete', 'devicefit bench', 'box', ?, '[]')",
        (json.dumps(dataclasses.asdict(ENVIRONMENT)),),
    )
    # A record as schema version 2 stored it: no energy field at all.
    old = dataclasses.asdict(make_result(schema_version=2))
    del old["energy"]
    db.execute(
        "INSERT INTO results (run_id, device, benchmark, case_id, unit, median_s, status, record)"
        " VALUES (1, 'cpu', 'matmul', 'matmul.fp32.256', 'FLOP/s', 2.8e-4, 'ok', ?)",
        (json.dumps(old),),
    )
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()

    metered = make_result(
        case_id="matmul.fp32.512",
        energy=EnergyReading(
            method="counter",
            meter="RAPL powercap (package-0)",
            duration_s=0.5,
            energy_j=20.0,
            domains=(EnergyDomain(name="package-0", energy_j=20.0),),
            resolution_j=1e-6,
        ),
    )
    with Store(path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(results)")}
        assert {"energy_j", "power_w", "energy_method"} <= columns
        store.add_result(1, metered)
        (kept, new) = store.load_run(1).results
        assert kept == make_result(schema_version=2)
        assert (kept.energy_method, kept.energy_j) == ("none", None)
        assert "stored before" in kept.energy_note
        assert new == metered
        rows = store._db.execute(
            "SELECT case_id, energy_j, power_w, energy_method FROM results ORDER BY result_id"
        ).fetchall()
    # 20 J over 0.5 s is 40 W; one iteration of 0.28 ms at 40 W is 11.2 mJ.
    assert rows[0] == ("matmul.fp32.256", None, None, None)
    assert rows[1][0] == "matmul.fp32.512" and rows[1][3] == "counter"
    assert rows[1][1:3] == pytest.approx((40.0 * 2.8e-4, 40.0))
