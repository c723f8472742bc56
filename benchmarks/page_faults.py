"""How much fresh memory each zoo step faults in on this CPU, against what the performance model counts.

A CPU step pays a page fault for every 4 KiB page its allocator hands out fresh (on this 2-vCPU VM,
2.3 us a page). Which allocations get fresh pages depends on the allocator's history, so the model
counts only what every training step must fault in: the gradients (and Adam's temporaries) of the
parameters above glibc's mmap threshold (``predict.roofline.fresh_training_bytes``). This script runs each
step standalone in one process, as the benchmark harness does, and counts the minor faults of a
step (``getrusage``) beside the model's count: the model's should be a lower bound.

Usage: ``python benchmarks/page_faults.py [--models gpt2,bert-base] [--threads 1] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch

from devicefit.app.validate import analyze, validation_points
from devicefit.measure.steps import ModelStep
from devicefit.predict.roofline import fresh_training_bytes
from devicefit.workloads import build_model, list_models

PAGE_BYTES = resource.getpagesize()


def _faulted(step: ModelStep, repeats: int) -> tuple[float, float]:
    """Median seconds and median bytes of pages faulted per step, after two warm-up steps."""
    step()
    step()
    times, faults = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) * PAGE_BYTES)
    return statistics.median(times), statistics.median(faults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated (default: every benchmarked zoo model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    names = (
        args.models.split(",") if args.models else [i.name for i in list_models() if i.benchmark_batch_sizes]
    )
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'model':<14}{'batch':>6} {'mode':<6}{'step':>10}{'faulted':>11}{'counted':>11}")
    for point in validation_points(names):
        mode = "train" if point.train else "infer"
        instance = build_model(
            point.model, point.batch_size, device="cpu", sequence_length=point.sequence_length
        )
        step = ModelStep(
            instance,
            train=point.train,
            precision="fp32",
            device_kind="cpu",
            transfer=False,
            channels_last=False,
            compile=False,
        )
        seconds, faulted = _faulted(step, args.repeats)
        cost = analyze(point.model, point.batch_size, point.sequence_length, "cpu")
        counted = sum(fresh_training_bytes(cost)) if point.train else 0.0
        rows.append(
            {
                "model": point.model,
                "batch_size": point.batch_size,
                "mode": mode,
                "num_threads": args.threads,
                "step_s": seconds,
                "faulted_bytes": faulted,
                "counted_bytes": counted,
            }
        )
        print(
            f"{point.model:<14}{point.batch_size:>6} {mode:<6}{seconds * 1e3:>8.0f}ms"
            f"{faulted / 2**20:>8.0f} MiB{counted / 2**20:>7.0f} MiB",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps({"page_bytes": PAGE_BYTES, "steps": rows}, indent=1))


if __name__ == "__main__":
    main()
