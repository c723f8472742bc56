"""The results store's schema: its migrations as a commented history under ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1`` and runs inside one transaction,
so a migration interrupted halfway leaves the database at version ``i``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from devicefit.errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: runs with their environment and devices; results with the full record as JSON.
    """
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
        command TEXT NOT NULL,
        hostname TEXT NOT NULL,
        environment TEXT NOT NULL,
        devices TEXT NOT NULL
    );
    CREATE TABLE results (
        result_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        benchmark TEXT NOT NULL,
        case_id TEXT NOT NULL,
        dtype TEXT,
        value REAL,
        unit TEXT NOT NULL,
        median_s REAL,
        status TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX results_by_run ON results (run_id);
    """,
    # 2: a label per run (bench --label), and an index for comparing one benchmark across runs.
    """
    ALTER TABLE runs ADD COLUMN label TEXT;
    CREATE INDEX results_by_benchmark ON results (benchmark, device);
    """,
    # 3: fitted performance models (devicefit calibrate), each from the results of one run.
    """
    CREATE TABLE calibrations (
        calibration_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        device_name TEXT NOT NULL,
        num_threads INTEGER,
        origin TEXT NOT NULL CHECK (origin IN ('calibrate', 'bench')),
        hostname TEXT NOT NULL,
        created_at TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX calibrations_by_device ON calibrations (device, hostname);
    """,
    # 4: the process recording a run (its pid, and its start time so that a reused pid is not taken
    # for it), and status 'abandoned' for a run whose process died without ending it (kill -9, a
    # crash). SQLite cannot change a CHECK constraint in place, so the table is rebuilt as
    # sqlite.org/lang_altertable.html#otheralter prescribes (foreign keys are off while migrating).
    """
    CREATE TABLE runs_new (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'complete', 'interrupted', 'failed', 'abandoned')),
        command TEXT NOT NULL,
        hostname TEXT NOT NULL,
        environment TEXT NOT NULL,
        devices TEXT NOT NULL,
        label TEXT,
        pid INTEGER,
        process_started_at_s REAL
    );
    INSERT INTO runs_new
        (run_id, started_at, ended_at, status, command, hostname, environment, devices, label)
        SELECT run_id, started_at, ended_at, status, command, hostname, environment, devices, label
        FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    """,
    # 5: each result's energy: joules per iteration, average watts, and how they were obtained
    # ('counter', 'sampled', 'estimate' or 'none'; the record's energy note says why none). Results
    # stored before keep NULL in all three: they were never metered.
    """
    ALTER TABLE results ADD COLUMN energy_j REAL;
    ALTER TABLE results ADD COLUMN power_w REAL;
    ALTER TABLE results ADD COLUMN energy_method TEXT
        CHECK (energy_method IN ('counter', 'sampled', 'estimate', 'none'));
    """,
    # 6: watch sessions (devicefit watch): each run of command 'devicefit watch ...' keeps its samples of
    # the watched process tree (the record as JSON, with the figures a query wants as columns) and, once
    # it ends, its summary and diagnosis.
    """
    CREATE TABLE watch_samples (
        sample_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        elapsed_s REAL NOT NULL,
        cpu_percent REAL NOT NULL,
        rss_bytes INTEGER NOT NULL,
        gpu_utilization_percent REAL,
        record TEXT NOT NULL
    );
    CREATE INDEX watch_samples_by_run ON watch_samples (run_id);
    CREATE TABLE watch_sessions (
        session_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        record TEXT NOT NULL
    );
    CREATE INDEX watch_sessions_by_run ON watch_sessions (run_id);
    """,
    # 7: advice: the answer of a 'crossover' or 'plan' run (a measured crossover's run has results too),
    # as the record's JSON, which 'show' prints again.
    """
    CREATE TABLE advice (
        advice_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('crossover', 'plan')),
        model TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX advice_by_run ON advice (run_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Brings the database ``db`` (the file ``path``) to ``SCHEMA_VERSION``, one transaction per migration.

    Raises:
        StoreError: If the file was written by a newer devicefit, or a migration broke its foreign keys.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database {path} has schema version {version}, newer than this devicefit reads "
            f"({SCHEMA_VERSION})",
            fix="Upgrade devicefit, or pass --db with another file",
        )
    if version == SCHEMA_VERSION:
        return
    # Off while tables are rebuilt (dropping the old one must not cascade); checked before commit.
    db.execute("PRAGMA foreign_keys = OFF")
    for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
        statements = [s for s in script.split(";") if s.strip()]
        db.execute("BEGIN IMMEDIATE")
        # Another process may have migrated while this one waited for the lock: read the version again
        # under it, and skip what is already applied (a second rebuild of a table would lose its rows).
        if db.execute("PRAGMA user_version").fetchone()[0] >= target:
            db.execute("COMMIT")
            continue
        try:
            for statement in statements:
                db.execute(statement)
            if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise StoreError(
                    f"migrating {path} to schema version {target} broke its foreign keys",
                    fix="Move the file aside and start afresh",
                )
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    _write_ahead_log(db)


def _write_ahead_log(db: sqlite3.Connection, *, timeout_s: float = 10.0) -> None:
    """Switches the file to WAL (readers never wait for the writer); it stays so for every connection.

    The switch needs the file to itself. SQLite answers "database is locked" at once, without
    waiting, while another connection holds a transaction (a second process migrating beside
    this one), so it is retried until ``timeout_s``, as the connection's busy timeout would.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
