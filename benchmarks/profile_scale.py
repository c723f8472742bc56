"""Profiles a 70-billion-parameter decoder (batch 1, 4096 tokens) and prints the time and peak memory it took.

Bar (issue 3): under 60 s and under 2 GB of resident memory on a 2-core CPU. Everything runs on fake
tensors, so the model's 276 GB of fp32 weights never exist.

Usage: ``python benchmarks/profile_scale.py [--model decoder-70b] [--seq-len 4096]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="decoder-70b")
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    from devicefit.analyze.cost import analyze_model

    imported = time.perf_counter()
    cost = analyze_model(args.model, args.batch, sequence_length=args.seq_len, precision="bf16")
    elapsed = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

    print(f"model              {args.model}, batch {args.batch}, {args.seq_len} tokens, bf16 autocast")
    print(f"parameters         {cost.num_parameters:,}")
    print(f"training step      {cost.train_flops / 1e15:.1f} PFLOP ({len(cost.ops):,} operator calls traced)")
    print(f"training peak      {cost.memory.train_peak_bytes / 2**30:,.0f} GiB (what a GPU would need)")
    print(
        f"time               {elapsed:.1f} s (import {imported - start:.1f} s)   bar: < 60 s   "
        f"{'PASS' if elapsed < 60 else 'FAIL'}"
    )
    print(
        f"peak resident      {peak_rss / 1e9:.2f} GB                        bar: < 2 GB   "
        f"{'PASS' if peak_rss < 2e9 else 'FAIL'}"
    )
    raise SystemExit(0 if elapsed < 60 and peak_rss < 2e9 else 1)


if __name__ == "__main__":
    main()
