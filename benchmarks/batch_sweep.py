"""Time to predict a model at several batch sizes on several catalog devices: every batch traced, or one.

``predict`` analyses a model once per batch size (the analysis serves every device of one memory
kind). Without derivation each new batch is a new trace; with it (``analyze/derive.py``), the first
analysis traces two batches and every other batch derives from them through the analysis cache.
Three runs in one process, each with its own empty cache: ``--no-cache`` (every batch traced),
``cold`` (an empty cache: the first batch traces, the rest derive), and ``warm`` (after that one
trace: a sweep such as ``crossover`` runs). Ratios are of ``warm`` and ``cold`` to ``--no-cache``.

Usage: ``python benchmarks/batch_sweep.py [--model resnet50] [--batches 1,2,4,8,16,32,64,128]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

DEVICES = ",".join(
    (
        "nvidia-h100-sxm5-80gb",
        "nvidia-a100-40gb-sxm4",
        "nvidia-geforce-rtx-4090",
        "nvidia-tesla-v100-sxm2-16gb",
        "intel-xeon-platinum-8480c",
    )
)


def sweep(model: str, batches: list[int], devices: str, *, use_cache: bool) -> float:
    """Seconds to predict ``model`` at each batch on each device (one ``predict`` per batch)."""
    from devicefit.app.predict import predict

    start = time.perf_counter()
    for batch in batches:
        predict(model, devices, batch_size=batch, use_cache=use_cache)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batches", default="1,2,4,8,16,32,64,128")
    parser.add_argument("--devices", default=DEVICES)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    # Ascending, as a sweep runs: a batch below the smallest traced one is traced (a batch of one
    # may run other operators), so a sweep that starts high traces again on the way down.
    batches.sort()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DEVICEFIT_DB"] = os.path.join(folder, "devicefit.db")
        os.environ["DEVICEFIT_CACHE_DIR"] = os.path.join(folder, "cache")
        sweep(args.model, batches[-1:], args.devices, use_cache=False)  # imports and catalog, not timed
        traced = sweep(args.model, batches, args.devices, use_cache=False)
        cold = sweep(args.model, batches, args.devices, use_cache=True)
        warm = sweep(args.model, batches, args.devices, use_cache=True)
    count = len(batches) * len(args.devices.split(","))
    print(
        f"{args.model}: {len(batches)} batches x {len(args.devices.split(','))} devices = {count} predictions"
    )
    print(f"  every batch traced (--no-cache): {traced:8.2f} s")
    print(f"  cold cache (one trace, derive):  {cold:8.2f} s   {traced / cold:6.1f}x faster")
    print(f"  after one trace (derive only):   {warm:8.3f} s   {traced / warm:6.1f}x faster")


if __name__ == "__main__":
    main()
