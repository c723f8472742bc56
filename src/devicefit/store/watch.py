"""Watch sessions in the results store: the samples of a watched process tree and its diagnosis."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, replace

from devicefit.records import WatchOutcome, WatchSample
from devicefit.store.postgres import PostgresConnection


class WatchTables:
    """The store's watch sessions (``devicefit watch``): samples as they come, then the diagnosis.

    A part of ``Store`` (its base class), in its own module to keep each table's queries together.
    """

    _db: sqlite3.Connection | PostgresConnection

    def _translated(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def add_watch_samples(self, run_id: int, samples: Iterable[WatchSample]) -> None:
        """Commits samples of a watch session in one transaction (a watch flushes them each second)."""
        rows = [
            (run_id, s.elapsed_s, s.cpu_percent, s.rss_bytes, max(_utilizations(s), default=None), _json(s))
            for s in samples
        ]
        with self._translated():
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO watch_samples (run_id, elapsed_s, cpu_percent, rss_bytes,"
                    " gpu_utilization_percent, record) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_watch_session(self, outcome: WatchOutcome) -> None:
        """Stores a watch session's summary and diagnosis (its samples are stored as they come)."""
        with self._translated():
            self._db.execute(
                "INSERT INTO watch_sessions (run_id, record) VALUES (?, ?)",
                (outcome.session_id, _json(replace(outcome, samples=()))),
            )

    def load_watch_session(self, run_id: int) -> WatchOutcome | None:
        """The watch session of run ``run_id`` with its samples.

        ``None`` for a run that is no watch, or a watch whose process died before its end (kill -9).
        """
        from pydantic import TypeAdapter

        with self._translated():
            session = self._db.execute(
                "SELECT record FROM watch_sessions WHERE run_id = ?", (run_id,)
            ).fetchone()
            rows = self._db.execute(
                "SELECT record FROM watch_samples WHERE run_id = ? ORDER BY sample_id", (run_id,)
            ).fetchall()
        if session is None:
            return None
        samples = tuple(TypeAdapter(WatchSample).validate_json(record) for (record,) in rows)
        return replace(TypeAdapter(WatchOutcome).validate_json(session[0]), samples=samples)


def _utilizations(sample: WatchSample) -> list[float]:
    return [g.utilization_percent for g in sample.gpus if g.utilization_percent is not None]


def _json(record: object) -> str:
    return json.dumps(asdict(record))  # type: ignore[call-overload]
