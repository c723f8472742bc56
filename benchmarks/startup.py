"""Wall time of four ``devicefit`` commands against ``python -c "import torch"``: each pays for what it uses.

The commands: a second ``predict`` of a model on a catalog device (the first traces it; the second
reads the traced analysis from the cache and should import neither PyTorch nor probe this machine),
``devices`` (imports PyTorch to find GPUs and probes the CPU, whose per-boot facts are cached after
the first call), ``catalog list`` and ``history`` (neither imports PyTorch). The reference is the
cost of importing PyTorch in a fresh interpreter, measured on the same machine in the same run: the
five commands alternate, round after round, each in a fresh process, so drift of the machine hits
all alike. Each ratio is of the medians.

The analysis cache, the CPU probe cache and the results database are temporary, so the user's are
untouched (``history`` reads an empty database); the first (tracing) ``predict`` and the first
``devices`` (probing) are timed once, for scale.

Bars (issue 18): at most 2x ``import torch`` for the second ``predict mlp --device h100``, 1.5x for
``devices``, 0.5x for ``catalog list`` and for ``history``.
Usage: ``python benchmarks/startup.py [--rounds 7] [--model mlp] [--device h100]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The bars of issue 18: what each command may cost, in ``import torch``s.
BARS = {"predict (cached)": 2.0, "devices": 1.5, "catalog list": 0.5, "history": 0.5}


def devicefit_command() -> list[str]:
    """The ``devicefit`` console script beside this interpreter, else ``python -m devicefit``."""
    script = Path(sys.executable).with_name("devicefit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "devicefit"]


def wall_s(command: list[str], environment: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its exit; raises, with its stderr, if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode().strip()}")
    return elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--device", default="h100")
    args = parser.parse_args()
    devicefit = devicefit_command()
    commands = {
        "predict (cached)": [*devicefit, "predict", args.model, "--device", args.device],
        "devices": [*devicefit, "devices"],
        "catalog list": [*devicefit, "catalog", "list"],
        "history": [*devicefit, "history"],
    }
    torch_import = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as scratch:
        environment = {
            **os.environ,
            "DEVICEFIT_CACHE_DIR": str(Path(scratch) / "cache"),
            "DEVICEFIT_DB": str(Path(scratch) / "devicefit.db"),
        }
        wall_s(torch_import, environment)  # warm the page cache for every side
        first_predict_s = wall_s(commands["predict (cached)"], environment)
        first_devices_s = wall_s(commands["devices"], environment)
        torch_s: list[float] = []
        times_s: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            torch_s.append(wall_s(torch_import, environment))
            for name, command in commands.items():
                times_s[name].append(wall_s(command, environment))
    reference = statistics.median(torch_s)
    print(f"devicefit: {' '.join(devicefit)}; medians of {args.rounds} interleaved rounds")
    print(f"first predict {args.model} --device {args.device} (traces): {first_predict_s:6.2f} s")
    print(f"first devices (probes the CPU):      {first_devices_s:6.2f} s")
    print(f"python -c 'import torch':            {reference:6.2f} s")
    passed = True
    for name, samples in times_s.items():
        median = statistics.median(samples)
        ratio = median / reference
        passed &= ratio <= BARS[name]
        verdict = "pass" if ratio <= BARS[name] else "FAIL"
        print(f"{name:<17} {median:6.2f} s  {ratio:5.2f}x import torch  (bar: {BARS[name]}x)  {verdict}")
    print("PASS" if passed else "FAIL")


if __name__ == "__main__":
    main()
