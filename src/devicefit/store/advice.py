"""Advice in the results store: the answer of a ``crossover`` or ``plan`` run, as its record's JSON."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import asdict

from devicefit.records.advice import CrossoverOutcome, PlanOutcome
from devicefit.store.postgres import PostgresConnection


class AdviceTables:
    """The store's advice: the answers of ``crossover`` and ``plan`` runs, which ``show`` prints again.

    A part of ``Store`` (its base class), in its own module to keep each table's queries together.
    """

    _db: sqlite3.Connection | PostgresConnection

    def _translated(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def add_advice(self, run_id: int, advice: CrossoverOutcome | PlanOutcome) -> None:
        """Stores the answer of a ``crossover`` or ``plan`` in run ``run_id``."""
        kind = "crossover" if isinstance(advice, CrossoverOutcome) else "plan"
        with self._translated():
            self._db.execute(
                "INSERT INTO advice (run_id, kind, model, record) VALUES (?, ?, ?, ?)",
                (run_id, kind, advice.model, json.dumps(asdict(advice))),
            )

    def load_advice(self, run_id: int) -> tuple[CrossoverOutcome | None, PlanOutcome | None]:
        """The latest ``crossover`` and ``plan`` answers stored in run ``run_id`` (``None``: none)."""
        from pydantic import TypeAdapter

        with self._translated():
            rows = self._db.execute(
                "SELECT kind, record FROM advice WHERE run_id = ? ORDER BY advice_id", (run_id,)
            ).fetchall()
        records = dict(rows)
        crossover, plan = records.get("crossover"), records.get("plan")
        return (
            None if crossover is None else TypeAdapter(CrossoverOutcome).validate_json(crossover),
            None if plan is None else TypeAdapter(PlanOutcome).validate_json(plan),
        )
