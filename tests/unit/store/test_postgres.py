"""The store on PostgreSQL: the translated migrations give SQLite's schema, concurrent writers lose nothing,
a killed writer loses only its unfinished result; and the query translation on its own."""

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devicefit.errors import StoreError
from devicefit.store.postgres import identity_columns, redact, to_psycopg, translate_migration
from devicefit.store.schema import SCHEMA_VERSION
from devicefit.store.sqlite import Store, open_store
from tests.unit.store.test_sqlite import DEVICE, ENVIRONMENT, HERE, finished_pid, make_result

ROOT = Path(__file__).parents[3]


def test_placeholders_become_psycopg_ones_outside_quotes():
    query = "SELECT '?', \"a?\", x FROM t WHERE a = ? AND b LIKE '5%' AND c IN (?, ?)"
    assert to_psycopg(query) == "SELECT '?', \"a?\", x FROM t WHERE a = %s AND b LIKE '5%%' AND c IN (%s, %s)"
    assert to_psycopg("SELECT 'it''s ?' WHERE a = ?") == "SELECT 'it''s ?' WHERE a = %s"


def test_every_migration_translates_to_postgres_types():
    for version in range(1, SCHEMA_VERSION + 1):
        text = " ".join(translate_migration(version)).upper()
        assert "AUTOINCREMENT" not in text and " REAL" not in text and " INTEGER" not in text, version
        assert "RENAME TO" not in text, "a SQLite table rebuild needs a PostgreSQL override"
    keys = {"runs": "run_id", "results": "result_id", "calibrations": "calibration_id"}
    assert keys.items() <= identity_columns().items()


def test_a_password_never_reaches_a_message():
    assert redact("postgresql://me:s3cret@db.lab:5432/x") == "postgresql://me:***@db.lab:5432/x"
    assert redact("postgresql://me@db.lab/devicefit") == "postgresql://me@db.lab/devicefit"


def columns_of_sqlite(path):
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            table: {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({table})")}
            for table in tables
            if not table.startswith("sqlite_")
        }


def columns_of_postgres(store):
    rows = store._db.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
    ).fetchall()
    found = {}
    for table, column, kind in rows:
        found.setdefault(table, {})[column] = kind
    return found


def test_postgres_has_the_sqlite_schema_at_the_same_version(tmp_path, postgres_db):
    with Store(tmp_path / "r.db"):
        pass
    sqlite_columns = columns_of_sqlite(tmp_path / "r.db")
    with Store(postgres_db) as store:
        postgres_columns = columns_of_postgres(store)
        assert store._db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert {t: set(c) for t, c in postgres_columns.items()} == {t: set(c) for t, c in sqlite_columns.items()}
    same_type = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}
    for table, columns in sqlite_columns.items():
        for column, kind in columns.items():
            assert postgres_columns[table][column] == same_type[kind], (table, column)


def test_version_3_postgres_database_gains_pids_keeping_its_runs(postgres_db):
    import psycopg

    with psycopg.connect(postgres_db, autocommit=True) as db:
        for version in (1, 2, 3):
            for statement in translate_migration(version):
                db.execute(statement)
        db.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (3)")
        db.execute(
            "INSERT INTO runs (started_at, status, command, hostname, environment, devices) VALUES"
            " ('2026-01-01T00:00:00+00:00', 'running', 'devicefit bench', %s, %s, '[]')",
            (HERE.hostname, json.dumps(dataclasses.asdict(ENVIRONMENT))),
        )
        db.execute(
            "INSERT INTO results (run_id, device, benchmark, case_id, unit, status, record)"
            " VALUES (1, 'cpu', 'matmul', 'matmul.fp32.256', 'FLOP/s', 'ok', %s)",
            (json.dumps(dataclasses.asdict(make_result())),),
        )

    with Store(postgres_db) as store:
        (run,) = store.list_runs()
        # A run recorded before pids cannot be judged, so it stays as it was.
        assert (run.run_id, run.status, run.num_results, run.pid) == (1, "running", 1, None)
        assert store.load_run(1).results == (make_result(),)
        # The widened CHECK constraint takes 'abandoned', and run ids carry on after the old ones.
        dead = store.start_run(
            command="next", environment=HERE, devices=(DEVICE,), process=(finished_pid(), 0.0)
        )
        assert dead == 2
        assert [r.status for r in store.list_runs()] == ["abandoned", "running"]
        assert store._db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_newer_postgres_schema_is_refused(postgres_db):
    with Store(postgres_db) as store:
        store._db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this devicefit reads"):
        Store(postgres_db)


def test_an_unreachable_server_is_one_error_naming_it_without_its_password(postgres_server):
    port = int(postgres_server.rsplit(":", 1)[1].split("/")[0])
    url = f"postgresql://devicefit:hunter2@127.0.0.1:{port}/no_such_database"
    with pytest.raises(StoreError) as raised:
        open_store(url)
    message = str(raised.value)
    assert "postgresql://devicefit:***@127.0.0.1" in message and "no_such_database" in message
    assert "hunter2" not in message and "\n" not in message


def start_writers(db, go, num_writers, num_results, delay_s=0.0):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.unit.store.writer", *map(str, (db, num_results, go, delay_s))],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(num_writers)
    ]
    for writer in writers:
        assert writer.stdout.readline() == "ready\n"
    return writers


def test_four_processes_writing_at_once_lose_nothing(db, tmp_path):
    """They open the new database together (one migrates, the others wait), then commit 200 results each."""
    go = tmp_path / "go"
    writers = start_writers(db, go, num_writers=4, num_results=200)
    go.touch()
    for writer in writers:
        writer.communicate(timeout=240)
        assert writer.returncode == 0

    with Store(db) as store:
        runs = store.list_runs()
        assert sorted((r.status, r.num_results) for r in runs) == [("complete", 200)] * 4
        # Each run has its own results, in order (load_run would parse all 800 records, slowly).
        for run in runs:
            rows = store._db.execute(
                "SELECT case_id FROM results WHERE run_id = ? ORDER BY result_id", (run.run_id,)
            ).fetchall()
            assert rows == [(f"case.{n}",) for n in range(200)]
        assert store._db.execute("SELECT COUNT(*) FROM results").fetchone() == (800,)
        version = "PRAGMA user_version" if isinstance(db, Path) else "SELECT version FROM schema_version"
        assert store._db.execute(version).fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_a_killed_writer_loses_only_its_unfinished_result(db, tmp_path):
    go = tmp_path / "go"
    (writer,) = start_writers(db, go, num_writers=1, num_results=10**6, delay_s=0.005)
    go.touch()
    try:
        for _ in range(20):
            assert writer.stdout.readline().strip().isdigit()
        writer.send_signal(signal.SIGKILL)
        printed = 20 + len(writer.communicate(timeout=60)[0].split())
    finally:
        writer.kill()
        writer.wait()

    with Store(db) as store:
        (run,) = store.list_runs()
        assert (run.status, run.pid) == ("abandoned", writer.pid)
        kept = store.load_run(run.run_id).results
    # Every result it reported committed is there, whole; at most one more, committed as it died.
    assert printed <= len(kept) <= printed + 1
    assert [(r.case_id, r.value) for r in kept] == [(f"case.{n}", float(n)) for n in range(len(kept))]
