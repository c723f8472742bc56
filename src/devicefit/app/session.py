"""Runs a set of benchmark cases as one stored run, keeping every finished result on Ctrl-C or SIGTERM."""

from __future__ import annotations

import fnmatch
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from devicefit.devices.base import Device
from devicefit.errors import UsageError
from devicefit.measure.bench_plan import SUITES, ModelPlan, plan_micro, plan_models
from devicefit.measure.case import Case
from devicefit.measure.environment import collect_environment, command_line
from devicefit.measure.runner import FULL, QUICK, execute
from devicefit.records import BenchOutcome, Result
from devicefit.store.sqlite import RunRecorder, Store


def plan_cases(
    devices: Sequence[Device],
    *,
    suite: str,
    quick: bool,
    only: str | None = None,
    models: ModelPlan | None = None,
) -> list[Case]:
    """Lists the cases of ``suite`` on each device, filtered by ``only``.

    Args:
        devices: Selected devices.
        suite: ``micro``, ``models`` or ``all``.
        quick: The reduced sweep of ``--quick``.
        only: Comma-separated shell patterns matched against benchmark names and case ids
            (``matmul``, ``triad,copy``, ``matmul.bf16.*``, ``train_step``).
        models: What the models suite runs; the zoo at default settings when ``None``.

    Raises:
        UsageError: On an unknown suite, or a filter that matches nothing.
    """
    if suite not in (*SUITES, "all"):
        raise UsageError(f"unknown suite {suite!r}", fix=f"Choose from: {', '.join((*SUITES, 'all'))}")
    cases: list[Case] = []
    for device in devices:
        if suite in ("micro", "all"):
            cases += plan_micro(device.properties(), quick=quick)
        if suite in ("models", "all"):
            cases += plan_models(device.properties(), models or ModelPlan(), quick=quick)
    if only:
        patterns = [p.strip() for p in only.split(",") if p.strip()]
        cases = [
            c
            for c in cases
            if any(fnmatch.fnmatchcase(c.benchmark, p) or fnmatch.fnmatchcase(c.id, p) for p in patterns)
        ]
    if not cases:
        what = (
            f"--only {only!r} matches no benchmark"
            if only
            else f"suite {suite!r} has no case on these devices"
        )
        raise UsageError(
            what,
            fix="Use names such as matmul, copy, triad, h2d, launch, elementwise, conv2d, "
            "train_step, inference",
        )
    return cases


def run_benchmarks(
    cases: Sequence[Case],
    devices: Sequence[Device],
    store: Store,
    *,
    quick: bool,
    label: str | None = None,
    on_case: Callable[[Case, int, int], None] | None = None,
    raise_errors: bool = False,
) -> BenchOutcome:
    """Measures ``cases`` into a new run of ``store``.

    A Ctrl-C or a SIGTERM abandons the case in progress; the run is marked interrupted and every
    finished result stays stored. (A ``kill -9`` leaves no chance to mark it: the store reads such a
    run as ``abandoned`` once its process is gone.) ``on_case`` is called before each case with the
    case, the number of cases done and the number of cases.
    """
    descriptions = tuple(d.properties() for d in devices)
    results: list[Result] = []
    recording = store.recording(
        command=command_line(),
        environment=collect_environment(descriptions),
        devices=descriptions,
        label=label,
    )
    recorder: RunRecorder | None = None
    try:
        with _sigterm_as_ctrl_c(), recording as recorder:
            for result in execute(
                cases,
                {d.id: d for d in devices},
                QUICK if quick else FULL,
                on_case=None if on_case is None else lambda case, done: on_case(case, done, len(cases)),
                raise_errors=raise_errors,
            ):
                recorder.add(result)
                results.append(result)
    except KeyboardInterrupt:
        if recorder is None:
            raise
        return BenchOutcome(run_id=recorder.run_id, results=tuple(results), interrupted=True)
    return BenchOutcome(run_id=recorder.run_id, results=tuple(results), interrupted=False)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """Raises ``KeyboardInterrupt`` on SIGTERM within the block, so ``kill`` ends a run as Ctrl-C does.

    Python may set signal handlers only in the main thread; elsewhere SIGTERM keeps its handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
