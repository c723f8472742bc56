"""``devicefit watch``: run a command (or attach to a pid), sample its process tree, store and diagnose.

A watch is a stored run (command ``devicefit watch ...``): its samples are committed each second, so
a watch that is killed keeps what it sampled. Ctrl-C (or SIGTERM) stops the command -- SIGINT, then
SIGTERM, then SIGKILL, each after a grace period -- keeps the samples and marks the run interrupted.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

import psutil

from devicefit.devices import nvml
from devicefit.diagnose.watch import TreeSampler
from devicefit.diagnose.watch_findings import diagnose_watch
from devicefit.errors import UsageError
from devicefit.measure.environment import collect_environment
from devicefit.records import GPUSample, StepRate, WatchOutcome, WatchSample
from devicefit.store.sqlite import Store

#: Samples are committed to the store in batches this far apart: one transaction per sample at 5 Hz
#: would cost more than the sampling.
FLUSH_EVERY_S = 1.0
#: How long to wait, once the job has ended, for its last output lines to be read.
READER_GRACE_S = 5.0
#: The process's standard error, as a file descriptor (``sys.stderr`` may be replaced in-process).
_STDERR_FD = 2
#: Grace periods after SIGINT and after SIGTERM before the next, harder signal.
STOP_GRACE_S = (5.0, 3.0)


class _StepCounter:
    """Echoes the command's output and notes when lines matching the step pattern appear."""

    def __init__(self, pattern: re.Pattern[str], clock: Callable[[], float], echo: IO[str]) -> None:
        self.pattern, self.clock, self.echo = pattern, clock, echo
        self.marks: list[tuple[float, int | None]] = []

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            self.echo.write(line)
            self.echo.flush()
            match = self.pattern.search(line)
            if match:
                number = match.group(1) if match.groups() else None
                self.marks.append((self.clock(), int(number) if number and number.isdecimal() else None))

    def rate(self) -> tuple[int, float] | None:
        """Steps and seconds between the first and the last mark (startup excluded)."""
        if len(self.marks) < 2:
            return None
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        steps = n1 - n0 if n0 is not None and n1 is not None else len(self.marks) - 1
        return (steps, t1 - t0) if steps > 0 and t1 > t0 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Options:
    """How to watch, as ``watch`` received it."""

    interval_s: float
    pattern: re.Pattern[str] | None
    num_steps: int | None
    model: str | None
    batch_size: int | None
    quiet_output: bool
    on_sample: Callable[[WatchSample], None] | None


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGINT, then SIGTERM, then SIGKILL, waiting a grace period after each."""
    for sig, grace_s in ((signal.SIGINT, STOP_GRACE_S[0]), (signal.SIGTERM, STOP_GRACE_S[1])):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


def _sigterm_as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def watch(
    command: Sequence[str],
    store: Store,
    *,
    pid: int | None = None,
    interval_s: float = 0.2,
    steps_regex: str | None = None,
    num_steps: int | None = None,
    model: str | None = None,
    batch_size: int | None = None,
    quiet_output: bool = False,
    on_sample: Callable[[WatchSample], None] | None = None,
) -> WatchOutcome:
    """Runs ``command`` (or follows process ``pid``) to its end, sampling every ``interval_s``.

    Args:
        command: The command and its arguments (empty with ``pid``).
        store: Where the session's run and samples go.
        pid: Attach to this running process instead of starting one; Ctrl-C stops watching only.
        interval_s: Time between samples.
        steps_regex: A pattern the job prints once per step (its first group, if any, the step number).
        num_steps: Steps the whole job makes, when it prints none (the rate is then its duration's).
        model: A model devicefit can analyze, to predict the step time beside the measured one.
        batch_size: Its batch size.
        quiet_output: Send the command's stdout to stderr (``--json`` keeps stdout for its document).
        on_sample: Called with each sample (the live view).

    Raises:
        UsageError: If neither or both of a command and ``pid`` are given, the command cannot start,
            the pid is no process, or ``model`` is no model devicefit knows.
    """
    if bool(command) == (pid is not None):
        raise UsageError(
            "watch takes a command or --pid, not both" if command else "watch needs a command or --pid",
            fix="Use 'devicefit watch -- CMD ARGS', or 'devicefit watch --pid N'",
        )
    if interval_s <= 0:
        raise UsageError(f"--interval must be positive, not {interval_s:g}", fix="Use e.g. --interval 0.2")
    try:
        pattern = re.compile(steps_regex) if steps_regex else None
    except re.error as error:
        raise UsageError(
            f"--steps-regex {steps_regex!r} is no regular expression ({error})",
            fix=r"Use e.g. --steps-regex 'step (\d+)'",
        ) from error
    if model is not None:
        # An unknown model is a usage error now, not after a long job (its diagnosis would be lost).
        from devicefit.workloads import model_info

        model_info(model)
    with nvml.gpu_sampler() as read_gpus:
        # The run's command names what was watched, however watch was called (CLI, library, test).
        what = f"devicefit watch -- {shlex.join(command)}" if command else f"devicefit watch --pid {pid}"
        run_id = store.start_run(command=what, environment=collect_environment(()), devices=())
        try:
            options = _Options(
                interval_s=interval_s,
                pattern=pattern,
                num_steps=num_steps,
                model=model,
                batch_size=batch_size,
                quiet_output=quiet_output,
                on_sample=on_sample,
            )
            outcome = _watch(run_id, command, pid, store, options, read_gpus)
        except BaseException:
            store.finish_run(run_id, "failed")
            raise
    store.add_watch_session(outcome)
    store.finish_run(run_id, outcome.status)  # type: ignore[arg-type]
    return outcome


def _start(
    command: Sequence[str], pattern: re.Pattern[str] | None, quiet_output: bool
) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"} if pattern else None
    try:
        return subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE if pattern else (_STDERR_FD if quiet_output else None),
            stderr=subprocess.STDOUT if pattern else None,
            text=True,
            env=environment,
        )
    except OSError as error:
        raise UsageError(
            f"cannot start {command[0]!r}: {error.strerror}", fix="Check the command after '--' and its PATH"
        ) from error


def _watch(
    run_id: int,
    command: Sequence[str],
    pid: int | None,
    store: Store,
    options: _Options,
    read_gpus: Callable[[set[int]], tuple[GPUSample, ...]] | None,
) -> WatchOutcome:
    interval_s, on_sample = options.interval_s, options.on_sample
    process = _start(command, options.pattern, options.quiet_output) if command else None
    counter, reader = None, None
    if process is not None and options.pattern is not None and process.stdout is not None:
        counter = _StepCounter(
            options.pattern, time.monotonic, sys.stderr if options.quiet_output else sys.stdout
        )
        reader = threading.Thread(target=counter.read, args=(process.stdout,), daemon=True)
        reader.start()
    try:
        sampler = TreeSampler(process.pid if process else pid or 0, gpu=read_gpus)
    except psutil.Error as error:
        if process is not None:
            _stop(process)
        raise UsageError(f"no process {pid}: {error}", fix="Pass the pid of a running process") from error
    samples: list[WatchSample] = []
    pending: list[WatchSample] = []
    status = "complete"
    previous = (
        signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    last_flush = time.monotonic()
    try:
        # Deadlines on a fixed grid: a slow sample delays the next one, not every later one.
        tick = 1
        while sampler.is_alive() and (process is None or process.poll() is None):
            delay = sampler.start_s + tick * interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            tick = max(tick + 1, int((time.monotonic() - sampler.start_s) / interval_s) + 1)
            if process is not None and process.poll() is not None:
                break
            sample = sampler.sample()
            samples.append(sample)
            pending.append(sample)
            if on_sample is not None:
                on_sample(sample)
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                store.add_watch_samples(run_id, pending)
                pending, last_flush = [], time.monotonic()
    except KeyboardInterrupt:
        status = "interrupted"
        if process is not None:
            _stop(process)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        store.add_watch_samples(run_id, pending)
    duration_s = time.monotonic() - sampler.start_s
    exit_code = process.wait() if process is not None and status != "interrupted" else None
    if reader is not None:
        # The job's last lines may still be in the pipe: read them before counting steps.
        reader.join(timeout=READER_GRACE_S)
    if exit_code not in (None, 0):
        status = "failed"
    step_rate = _step_rate(counter, options, duration_s, samples)
    gpu_used = any(g.tree_memory_bytes for s in samples for g in s.gpus)
    num_cores = psutil.cpu_count() or 1
    return WatchOutcome(
        session_id=run_id,
        status=status,
        command=shlex.join(command) if command else f"pid {pid}",
        duration_s=duration_s,
        interval_s=interval_s,
        samples=tuple(samples),
        gpu_used=gpu_used,
        diagnosis=diagnose_watch(
            samples, num_cores=num_cores, gpu_visible=read_gpus is not None, step_rate=step_rate
        ),
        num_cores=num_cores,
        exit_code=exit_code,
        step_rate=step_rate,
    )


def _step_rate(
    counter: _StepCounter | None, options: _Options, duration_s: float, samples: Sequence[WatchSample]
) -> StepRate | None:
    num_steps, model, batch_size = options.num_steps, options.model, options.batch_size
    counted = counter.rate() if counter is not None else None
    if counted is not None:
        steps, seconds = counted
    elif num_steps:
        steps, seconds = num_steps, duration_s
    else:
        return None
    device = "cuda:0" if any(g.tree_memory_bytes for s in samples for g in s.gpus) else "cpu"
    predicted = None
    if model is not None:
        from devicefit.app.predict import predict

        outcome = predict(model, device, batch_size=batch_size)
        predicted = outcome.predictions[0].step_time_s
        batch_size = outcome.batch_size
    return StepRate(
        num_steps=steps,
        measured_step_s=seconds / steps,
        predicted_step_s=predicted,
        device=device if model else None,
        model=model,
        batch_size=batch_size,
    )
