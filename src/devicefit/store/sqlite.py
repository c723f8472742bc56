"""The results store: runs and their results in SQLite (embedded) or PostgreSQL, one commit per result.

Each result is committed as soon as it is measured, so an interrupted or failed run keeps every
result that finished. The schema and its migrations are in ``store/schema.py``. The queries are
written once, in SQLite's dialect with ``?`` placeholders; ``store/postgres.py`` runs them on a
``postgresql://`` database.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from devicefit.errors import StoreError, UsageError
from devicefit.records import (
    DeviceDescription,
    DeviceModel,
    Environment,
    Result,
    Run,
    RunStatus,
    RunSummary,
)
from devicefit.store.advice import AdviceTables
from devicefit.store.location import DB_ENV, check_db_path, default_db_path, is_postgres_url
from devicefit.store.postgres import PostgresConnection, first_line, redact
from devicefit.store.process import is_process_alive, this_host, this_process
from devicefit.store.schema import migrate
from devicefit.store.watch import WatchTables


@functools.cache
def _results_adapter() -> Any:
    """The validator of stored results, built once: building one costs tens of milliseconds."""
    from pydantic import TypeAdapter

    return TypeAdapter(Result)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store(AdviceTables, WatchTables):
    """An open results database.

    Its queries run on SQLite and on PostgreSQL alike (``store/postgres.py``): SQL both take, with ``?``
    placeholders; the store's tests run on both.

    Args:
        path: The database file, its folder created if missing; or a ``postgresql://`` URL.

    Raises:
        StoreError: If the file cannot be created, is not a SQLite database, the server cannot be
            reached, or the database was written by a newer devicefit.
    """

    def __init__(self, path: Path | str) -> None:
        #: Where the database is, for messages: the file, or the URL with its password masked.
        self.path: Path | str = redact(str(path)) if is_postgres_url(path) else Path(path)
        self._db: sqlite3.Connection | PostgresConnection
        #: What the database raises, and what it raises when it may be read but not written.
        self._errors: type[Exception]
        self._write_refused: tuple[type[Exception], ...]
        if isinstance(self.path, str):
            self._db = PostgresConnection(str(path), where=self.path)
            self._errors, self._write_refused = self._db.errors, self._db.write_refused
        else:
            self._db = _connect_sqlite(self.path)
            self._errors, self._write_refused = sqlite3.DatabaseError, (sqlite3.OperationalError,)
        try:
            with self._translated():
                if isinstance(self._db, PostgresConnection):
                    self._db.migrate(str(self.path))
                else:
                    migrate(self._db, Path(self.path))
                    self._db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Closes the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self._errors as error:
            raise StoreError(f"cannot use the database {self.path}: {first_line(error)}", fix=_FIX) from error

    def start_run(
        self,
        *,
        command: str,
        environment: Environment,
        devices: tuple[DeviceDescription, ...],
        label: str | None = None,
        process: tuple[int, float] | None = None,
    ) -> int:
        """Records a new run in status ``running`` and returns its id.

        Args:
            command: The command line.
            environment: Where it runs; its host is the run's host.
            devices: The devices it measures.
            label: A note.
            process: The pid and start time (s since the epoch) of the process recording the run;
                this process by default. Once that process is gone, the run reads ``abandoned``.
        """
        pid, process_started_at_s = process or this_process()
        with self._translated():
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, status, command, hostname, environment, devices, label, pid,"
                " process_started_at_s) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now(),
                    command,
                    environment.hostname,
                    json.dumps(asdict(environment)),
                    json.dumps([asdict(d) for d in devices]),
                    label,
                    pid,
                    process_started_at_s,
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_result(self, run_id: int, result: Result) -> None:
        """Commits one result of a run."""
        with self._translated():
            self._db.execute(
                "INSERT INTO results (run_id, device, benchmark, case_id, dtype, value, unit, median_s,"
                " status, energy_j, power_w, energy_method, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    result.device,
                    result.benchmark,
                    result.case_id,
                    result.dtype,
                    result.value,
                    result.unit,
                    result.median_s,
                    result.status,
                    result.energy_j,
                    result.power_w,
                    result.energy_method,
                    json.dumps(asdict(result)),
                ),
            )

    def finish_run(self, run_id: int, status: RunStatus) -> None:
        """Marks a run complete, interrupted or failed."""
        with self._translated():
            self._db.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?", (status, _now(), run_id)
            )

    @contextmanager
    def recording(
        self,
        *,
        command: str,
        environment: Environment,
        devices: tuple[DeviceDescription, ...],
        label: str | None = None,
    ) -> Iterator[RunRecorder]:
        """Opens a run; it ends ``complete``, ``interrupted`` (Ctrl-C) or ``failed`` (any other error)."""
        run_id = self.start_run(command=command, environment=environment, devices=devices, label=label)
        recorder = RunRecorder(self, run_id)
        try:
            yield recorder
        except KeyboardInterrupt:
            self.finish_run(run_id, "interrupted")
            raise
        except BaseException:
            self.finish_run(run_id, "failed")
            raise
        self.finish_run(run_id, "complete")

    def mark_abandoned_runs(self) -> list[int]:
        """Marks ``abandoned`` each run of this host still ``running`` whose process is gone.

        A run of another host cannot be judged from here and stays ``running``; so does one
        recorded before pids were (schema version 3 and older).

        Returns:
            The ids of the runs it marked.
        """
        with self._translated():
            rows = self._db.execute(
                "SELECT run_id, pid, process_started_at_s FROM runs"
                " WHERE status = 'running' AND hostname = ? AND pid IS NOT NULL",
                (this_host(),),
            ).fetchall()
            gone = [run_id for run_id, pid, started_at_s in rows if not is_process_alive(pid, started_at_s)]
            try:
                for run_id in gone:
                    # The status test keeps a run its process ended meanwhile.
                    self._db.execute(
                        "UPDATE runs SET status = 'abandoned' WHERE run_id = ? AND status = 'running'",
                        (run_id,),
                    )
            except self._write_refused:
                # A read-only file or server (a shared database): the runs stay as stored; reading goes on.
                return []
        return gone

    def list_runs(self, limit: int | None = None) -> list[RunSummary]:
        """Returns the most recent runs first, all of them when ``limit`` is ``None``."""
        self.mark_abandoned_runs()
        with self._translated():
            rows = self._db.execute(
                "SELECT r.run_id, r.status, r.started_at, r.ended_at, r.command, r.label, r.hostname,"
                " r.devices, (SELECT COUNT(*) FROM results WHERE results.run_id = r.run_id), r.pid"
                " FROM runs r ORDER BY r.run_id DESC" + ("" if limit is None else " LIMIT ?"),
                () if limit is None else (limit,),
            ).fetchall()
        return [
            RunSummary(
                run_id=row[0],
                status=row[1],
                started_at=row[2],
                ended_at=row[3],
                command=row[4],
                label=row[5],
                hostname=row[6],
                devices=tuple(d["id"] for d in json.loads(row[7])),
                num_results=row[8],
                pid=row[9],
            )
            for row in rows
        ]

    def resolve_run_id(self, ref: str) -> int:
        """Turns ``RUN`` as typed (``12``, ``latest``, ``-1`` for the latest) into a run id.

        Raises:
            UsageError: If no such run exists.
        """
        with self._translated():
            if ref in ("latest", "last") or re.fullmatch(r"-[1-9][0-9]*", ref):
                offset = 0 if ref in ("latest", "last") else -int(ref) - 1
                row = self._db.execute(
                    "SELECT run_id FROM runs ORDER BY run_id DESC LIMIT 1 OFFSET ?", (offset,)
                ).fetchone()
            elif re.fullmatch(r"[0-9]+", ref):
                row = self._db.execute("SELECT run_id FROM runs WHERE run_id = ?", (int(ref),)).fetchone()
            else:
                raise UsageError(
                    f"RUN must be a run id, 'latest' or a negative offset, not {ref!r}",
                    fix="See 'devicefit history' for run ids",
                )
        if row is None:
            raise UsageError(f"no run {ref} in {self.path}", fix="See 'devicefit history' for run ids")
        return int(row[0])

    def load_run(self, run_id: int) -> Run:
        """Reads a run with all its results."""
        from pydantic import TypeAdapter

        self.mark_abandoned_runs()
        with self._translated():
            row = self._db.execute(
                "SELECT run_id, status, started_at, ended_at, command, label, environment, devices, pid"
                " FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise UsageError(f"no run {run_id} in {self.path}", fix="See 'devicefit history' for run ids")
            records = self._db.execute(
                "SELECT record FROM results WHERE run_id = ? ORDER BY result_id", (run_id,)
            ).fetchall()
        crossover, plan = self.load_advice(run_id)
        return Run(
            run_id=row[0],
            status=row[1],
            started_at=row[2],
            ended_at=row[3],
            command=row[4],
            label=row[5],
            environment=TypeAdapter(Environment).validate_json(row[6]),
            devices=TypeAdapter(tuple[DeviceDescription, ...]).validate_json(row[7]),
            results=tuple(_results_adapter().validate_json(record) for (record,) in records),
            pid=row[8],
            crossover=crossover,
            plan=plan,
        )

    def add_calibration(self, run_id: int, model: DeviceModel, *, origin: str = "calibrate") -> int:
        """Stores a device's performance model fitted from run ``run_id``; returns its id.

        Args:
            run_id: The run whose results it was fitted from.
            model: The fitted model.
            origin: ``calibrate`` (the full calibration plan) or ``bench`` (the micro suite's
                coarser sweep); a ``calibrate`` model is preferred to any ``bench`` one.
        """
        with self._translated():
            hostname = self._db.execute("SELECT hostname FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if hostname is None:
                raise UsageError(f"no run {run_id} in {self.path}", fix="See 'devicefit history' for run ids")
            cursor = self._db.execute(
                "INSERT INTO calibrations (run_id, device, device_name, num_threads, origin, hostname,"
                " created_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    model.device,
                    model.name,
                    model.num_threads,
                    origin,
                    hostname[0],
                    model.created_at or _now(),
                    json.dumps(asdict(model)),
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def latest_calibration(
        self, device: str, *, device_name: str, hostname: str, num_threads: int | None = None
    ) -> DeviceModel | None:
        """The newest performance model of a local device on this host, or ``None``.

        A full calibration is taken before a newer one fitted from a bench run. Arguments as for
        ``calibrations``.
        """
        found = self.calibrations(device, device_name=device_name, hostname=hostname, num_threads=num_threads)
        return found[0][1] if found else None

    def calibrations(
        self, device: str, *, device_name: str, hostname: str, num_threads: int | None = None
    ) -> list[tuple[str, DeviceModel]]:
        """Every stored performance model of a local device on this host, best first, with its origin.

        Full calibrations (origin ``calibrate``) come before bench fits (``bench``), each newest first.

        Args:
            device: Local id (``cpu``, ``cuda:0``).
            device_name: What the device reports: a calibration of another GPU in the same slot
                does not apply.
            hostname: This machine.
            num_threads: On CPUs, the thread count it was fitted for; ``None`` takes any, the
                newest run's first, with the most threads of that run.
        """
        from pydantic import TypeAdapter

        with self._translated():
            rows = self._db.execute(
                "SELECT origin, record FROM calibrations"
                " WHERE device = ? AND device_name = ? AND hostname = ? AND (? IS NULL OR num_threads = ?)"
                " ORDER BY origin = 'calibrate' DESC, run_id DESC, num_threads DESC NULLS LAST,"
                " calibration_id DESC",
                (device, device_name, hostname, num_threads, num_threads),
            ).fetchall()
        adapter = TypeAdapter(DeviceModel)
        return [(origin, adapter.validate_json(record)) for origin, record in rows]

    def earlier_results(self, run_id: int, device: str, case_ids: Iterable[str]) -> list[Result]:
        """Results of these cases on ``device`` from runs before ``run_id`` on the same host, ``ok`` only."""
        from pydantic import TypeAdapter

        wanted = sorted(set(case_ids))
        if not wanted:
            return []
        with self._translated():
            rows = self._db.execute(
                "SELECT results.record FROM results JOIN runs ON runs.run_id = results.run_id"
                " WHERE results.run_id < ? AND results.device = ? AND results.status = 'ok'"
                " AND runs.hostname = (SELECT hostname FROM runs WHERE run_id = ?)"
                f" AND results.case_id IN ({', '.join('?' * len(wanted))})",
                (run_id, device, run_id, *wanted),
            ).fetchall()
        adapter = TypeAdapter(Result)
        return [adapter.validate_json(record) for (record,) in rows]

    def calibrated_devices(self, hostname: str) -> tuple[str, ...]:
        """The local ids (``cpu``, ``cuda:0``) with a performance model fitted on ``hostname``."""
        with self._translated():
            rows = self._db.execute(
                "SELECT DISTINCT device FROM calibrations WHERE hostname = ? ORDER BY device", (hostname,)
            ).fetchall()
        return tuple(device for (device,) in rows)


class RunRecorder:
    """Adds results to one open run."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.num_results = 0

    def add(self, result: Result) -> None:
        """Commits ``result`` to the run."""
        self.store.add_result(self.run_id, result)
        self.num_results += 1


_FIX = (
    f"Pass --db with a writable file or a reachable postgresql:// URL, or set {DB_ENV}; move a damaged"
    " file aside to start afresh"
)


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    """Opens the file ``path`` (in autocommit: each statement commits), creating its folder if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(path, isolation_level=None, timeout=10.0)
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot open the database {path}: {error}", fix=_FIX) from error


def open_store(path: str | Path | None = None) -> Store:
    """Opens (creating and migrating as needed) the database at ``path`` or the default location.

    ``path`` (as ``--db``) and ``$DEVICEFIT_DB`` may be a file or a ``postgresql://`` URL.

    Raises:
        UsageError: If ``path`` (as ``--db``) or ``$DEVICEFIT_DB`` cannot name a database.
        StoreError: If the database cannot be opened.
    """
    return Store(default_db_path() if path is None else check_db_path(str(path), source="--db"))
