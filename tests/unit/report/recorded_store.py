"""A results store holding a real recorded ``bench --quick`` run, for the report's tests.

The run is ``tests/data/bench_quick_cpu_epyc_zen3_2vcpu_1206.json.gz`` (a 2-vCPU Zen 3 machine), stored
twice (the second time under ``label``, so the history has two runs), and a ``validate`` run of this
host with one measured MLP step.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from devicefit.predict.recorded import read_calibration
from devicefit.records import Result, Run
from devicefit.store.sqlite import Store, open_store
from tests.unit.store.test_sqlite import ENVIRONMENT, make_result

RECORDED = Path(__file__).parents[2] / "data" / "bench_quick_cpu_epyc_zen3_2vcpu_1206.json.gz"
#: What ends a script, an attribute or an element, in one string.
HOSTILE = "<script>alert(1)</script>\"'</div><!--"


def _store_run(store: Store, results: tuple[Result, ...], *, label: str | None, command: str, **env) -> int:
    recorded = read_calibration(RECORDED)[0]
    run_id = store.start_run(
        command=command, environment=replace(ENVIRONMENT, **env), devices=(recorded.device,), label=label
    )
    for result in results:
        store.add_result(run_id, result)
    store.finish_run(run_id, "complete")
    return run_id


def recorded_store(path: Path, *, label: str = HOSTILE) -> tuple[Store, list[int]]:
    """A store with the recorded run twice (the second labelled ``label``) and a validate run of this host."""
    store = open_store(path)
    results = read_calibration(RECORDED)[0].results
    first = _store_run(store, results, label="quick", command="devicefit bench --quick")
    second = _store_run(
        store, results, label=label, command="devicefit bench --quick", torch_version="2.14.0"
    )
    step = make_result(
        case_id="train_step.mlp.fp32.b32",
        benchmark="train_step",
        unit="samples/s",
        size=32,
        batch_size=32,
        model="mlp",
        value=32 / 2.8e-4,
        peak=None,
        shape=None,
        flops_per_iteration=None,
    )
    _store_run(store, (step,), label="validate", command="devicefit validate", hostname=socket.gethostname())
    return store, [first, second]


def stored(store: Store, run_id: int) -> Run:
    return store.load_run(run_id)
