"""Seconds ``plan`` and ``crossover`` take over the whole catalog once the model is traced, against 10 s.

The bar (issue 20): ``plan resnet50 --samples 1281167 --epochs 90 --device all`` and ``crossover
resnet18 --device all`` answer in under 10 s once the model is traced. Each is run once to trace
(timed, for scale), then timed warm: in process through ``app/`` (the median of ``--rounds``), and
once as a ``devicefit`` subprocess, which adds the interpreter's start, the imports and the
rendering. Each answer is stored as a run, as the commands store it.

The analysis cache and the results database are temporary, so the user's are untouched; the CPU
probe cache is the user's (what a real second call finds). ``--profile`` prints the cProfile
functions with the most cumulative time of one warm in-process call of each, to find what is slow.

Usage: ``python benchmarks/advice_speed.py [--rounds 3] [--profile]`` (under ``nice`` on a shared machine).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The bar of issue 20, in seconds, for either command once the model is traced.
BAR_S = 10.0
PLAN_ARGS = ["plan", "resnet50", "--samples", "1281167", "--epochs", "90", "--device", "all"]
CROSSOVER_ARGS = ["crossover", "resnet18", "--device", "all"]


def devicefit_command() -> list[str]:
    """The ``devicefit`` console script beside this interpreter, else ``python -m devicefit``."""
    script = Path(sys.executable).with_name("devicefit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "devicefit"]


def timed_s(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of ``call()`` in this process."""
    start, start_cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - start_cpu


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def subprocess_s(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``devicefit ARGS`` from spawn to exit; raises, with its stderr, if it fails.

    CPU seconds (user and system) are what a shared machine's load does not stretch.
    """
    start, start_cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(
        [*devicefit_command(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ
    )
    elapsed_s, cpu_s = time.perf_counter() - start, _children_cpu_s() - start_cpu
    if done.returncode != 0:
        raise SystemExit(f"devicefit {' '.join(args)} failed: {done.stderr.decode().strip()}")
    return elapsed_s, cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one warm call of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["DEVICEFIT_CACHE_DIR"] = str(Path(scratch) / "cache")
        os.environ["DEVICEFIT_DB"] = str(Path(scratch) / "devicefit.db")
        from devicefit.app.crossover import crossover
        from devicefit.app.plan import plan
        from devicefit.store.sqlite import open_store

        with open_store() as store:
            calls: dict[str, Callable[[], Any]] = {
                "plan resnet50 --device all": lambda: plan(
                    "resnet50", samples=1281167, epochs=90, devices="all", store=store
                ),
                "crossover resnet18 --device all": lambda: crossover("resnet18", "all", store=store),
            }
            first_s = {name: timed_s(call)[0] for name, call in calls.items()}
            warm_s: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
            for _ in range(args.rounds):
                for name, call in calls.items():
                    warm_s[name].append(timed_s(call))
            if args.profile:
                for name, call in calls.items():
                    profiler = cProfile.Profile()
                    profiler.runcall(call)
                    print(f"\n--- {name}: the 25 functions with the most cumulative time")
                    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        cli_s = {
            "plan resnet50 --device all": subprocess_s(PLAN_ARGS),
            "crossover resnet18 --device all": subprocess_s(CROSSOVER_ARGS),
        }
    print("seconds: wall (CPU)")
    header = ("command", "first (traces)", "warm, in process", "warm, CLI", "CLI / bar")
    print(f"{header[0]:32} {header[1]:>15} {header[2]:>18} {header[3]:>16} {header[4]:>10}")
    for name in calls:
        wall = statistics.median(w for w, _ in warm_s[name])
        cpu = statistics.median(c for _, c in warm_s[name])
        cli_wall, cli_cpu = cli_s[name]
        print(
            f"{name:32} {first_s[name]:14.2f}s {wall:8.2f}s ({cpu:5.2f}s) {cli_wall:7.2f}s ({cli_cpu:5.2f}s)"
            f" {cli_wall / BAR_S:9.2f}x"
        )
    print(f"bar: {BAR_S:g} s once the model is traced; in-process times are medians of {args.rounds} rounds")


if __name__ == "__main__":
    main()
