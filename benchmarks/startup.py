"""Wall time of a second ``devicefit predict`` of a model, against ``python -c "import torch"``.

The first ``predict`` of a model traces it (seconds, PyTorch imported); the second reads the traced
analysis from the cache and should not import PyTorch at all. The reference is the cost of importing
PyTorch in a fresh interpreter, measured on the same machine in the same run: the two commands
alternate, round after round, each in a fresh process, so drift of the machine hits both alike. The
ratio is of the medians.

The cache and the results database are temporary, so the user's are untouched; the first (tracing)
call is timed once, for scale.

Bar (issue 17): the second ``predict resnet50 --device h100`` takes at most 1.5x ``import torch``.
Usage: ``python benchmarks/startup.py [--rounds 7] [--model resnet50] [--device h100]``
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

#: The bar of issue 17: a cached predict costs at most this many ``import torch``.
BAR = 1.5


def devicefit_command() -> list[str]:
    """The ``devicefit`` console script beside this interpreter, else ``python -m devicefit``."""
    script = Path(sys.executable).with_name("devicefit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "devicefit"]


def wall_s(command: list[str], environment: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its exit; raises if it fails."""
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--device", default="h100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        environment = {
            **os.environ,
            "DEVICEFIT_CACHE_DIR": str(Path(scratch) / "cache"),
            "DEVICEFIT_DB": str(Path(scratch) / "devicefit.db"),
        }
        predict = [*devicefit_command(), "predict", args.model, "--device", args.device]
        torch_import = [sys.executable, "-c", "import torch"]
        wall_s(torch_import, environment)  # warm the page cache for both sides
        first_s = wall_s(predict, environment)
        torch_s: list[float] = []
        cached_s: list[float] = []
        for _ in range(args.rounds):
            torch_s.append(wall_s(torch_import, environment))
            cached_s.append(wall_s(predict, environment))
    reference, cached = statistics.median(torch_s), statistics.median(cached_s)
    ratio = cached / reference
    print(f"command: {' '.join(predict)}")
    print(f"first predict (traces):        {first_s:6.2f} s")
    print(f"python -c 'import torch':      {reference:6.2f} s  median of {args.rounds}")
    print(f"second predict (cached):       {cached:6.2f} s  median of {args.rounds}")
    print(f"ratio cached / import torch:   {ratio:6.2f}  (bar: at most {BAR})")
    print("PASS" if ratio <= BAR else "FAIL")


if __name__ == "__main__":
    main()
