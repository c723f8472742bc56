"""Advice in the store: crossover and plan answers round-trip with their run; old files gain the table."""

import dataclasses
import json
import math
import sqlite3

from devicefit.records.advice import (
    Crossover,
    CrossoverOutcome,
    CrossoverPoint,
    DeviceSweep,
    PlanCandidate,
    PlanConstraints,
    PlanOutcome,
)
from devicefit.store.schema import MIGRATIONS, SCHEMA_VERSION
from devicefit.store.sqlite import Store
from tests.unit.store.test_sqlite import DEVICE, ENVIRONMENT


def make_crossover(**overrides):
    points = tuple(
        CrossoverPoint(
            batch_size=8, step_time_s=1e-3 * w, samples_per_s=8e3 / w, copy_s=0.0, bound="compute", width=w
        )
        for w in (64, 128)
    )
    fields = dict(
        model="mlp",
        mode="infer",
        precision="fp32",
        batch_sizes=(8,),
        devices=(
            DeviceSweep(
                device="cpu", device_name="CPU", cpu=True, origin="defaults", error_band=1.2, points=points
            ),
        ),
        crossovers=(
            Crossover(
                gpu="nvidia-t4",
                cpu="cpu",
                batch_size=None,
                winner="gpu",
                first_batch_size=8,
                # A CPU that does nothing makes the GPU infinitely faster: stored as such, read back as such.
                first_speedup=math.inf,
                first_gpu_bound="launch",
                last_batch_size=8,
                last_speedup=3.0,
                last_gpu_bound="compute",
                first_width=64,
                last_width=128,
            ),
        ),
        notes=("cpu is not calibrated",),
        sweep="width",
        widths=(64, 128),
    )
    fields.update(overrides)
    return CrossoverOutcome(**fields)


def make_plan():
    candidate = PlanCandidate(
        device="nvidia-t4",
        device_name="NVIDIA T4",
        instance="aws/g4dn.xlarge",
        gpus=1,
        num_instances=1,
        batch_size=256,
        step_time_s=0.1,
        time_s=3600.0,
        price_usd_per_h=0.526,
        cost_usd=0.526,
        energy_kwh=0.07,
        power_w=70.0,
        fits=True,
        needed_bytes=2e9,
        capacity_bytes=16e9,
        meets_deadline=True,
        within_budget=True,
        feasible=True,
        pareto=True,
        price_source="aws.amazon.com",
        price_date="2026-01-01",
        price_stale=False,
    )
    return PlanOutcome(
        model="resnet50",
        objective="cost",
        constraints=PlanConstraints(
            samples=1000,
            epochs=1.0,
            deadline_s=None,
            budget_usd=None,
            rate_per_s=None,
            batch_size=None,
            mode="train",
        ),
        candidates=(candidate,),
        pick=0,
        closest=(),
        electricity_usd_per_kwh=0.17,
        electricity_source="eia.gov",
        electricity_date="2026-01-01",
    )


def test_crossover_and_plan_answers_round_trip_with_their_run(tmp_path):
    with Store(tmp_path / "a.db") as store:
        run_id = store.start_run(
            command="devicefit crossover mlp", environment=ENVIRONMENT, devices=(DEVICE,)
        )
        crossover = make_crossover(run_id=run_id)
        store.add_advice(run_id, crossover)
        store.finish_run(run_id, "complete")
        plan_run = store.start_run(command="devicefit plan resnet50", environment=ENVIRONMENT, devices=())
        store.add_advice(plan_run, make_plan())
        run, other = store.load_run(run_id), store.load_run(plan_run)
        (summary, _) = store.list_runs()[::-1]
    assert run.crossover == crossover and run.plan is None
    assert other.plan == make_plan() and other.crossover is None
    assert (summary.run_id, summary.command, summary.num_results) == (run_id, "devicefit crossover mlp", 0)


def test_a_run_without_advice_has_none(tmp_path):
    with Store(tmp_path / "a.db") as store:
        run_id = store.start_run(command="devicefit bench", environment=ENVIRONMENT, devices=(DEVICE,))
        assert store.load_advice(run_id) == (None, None)
        assert store.load_run(run_id).crossover is None


def test_a_database_before_advice_gains_the_table_keeping_its_runs(tmp_path):
    path = tmp_path / "old.db"
    before = next(i for i, script in enumerate(MIGRATIONS) if "CREATE TABLE advice" in script)
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:before]:
        db.executescript(script)
    db.execute(
        "INSERT INTO runs (started_at, status, command, hostname, environment, devices) VALUES "
        "('2026-01-01T00:00:00+00:00', 'complete', 'devicefit bench', 'box', ?, '[]')",
        (json.dumps(dataclasses.asdict(ENVIRONMENT)),),
    )
    db.execute(f"PRAGMA user_version = {before}")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.load_run(1).command == "devicefit bench"
        store.add_advice(1, make_crossover())
        assert store.load_run(1).crossover == make_crossover()
