"""How well the local link fitted from one run of collectives predicts a second run's all-reduce times.

The first run is what ``calibrate --nproc N`` measures for the link: ``bench --suite comm``'s sweep
(1 KiB to 64 MiB, x4 steps) between N local processes, gloo on CPUs or NCCL on GPUs. A
``CollectiveLink`` per collective is fitted from it (``predict.links.fit_links``, the function
``calibrate`` stores with the device model); a second, independent run measures the same sweep again,
and each all-reduce time is compared with the link's prediction (``predict.links.collective_s``).
Printed: measured and predicted time and bus bandwidth per size, the error, and the median |error|
(the issue's bar: within 25%). Both runs go into a temporary store unless ``--db`` names one.

Usage: ``python benchmarks/comm_prediction.py [--nproc 2] [--device cpu] [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from devicefit.app.bench import bench
from devicefit.devices import select_devices
from devicefit.predict.collectives import bus_bandwidth
from devicefit.predict.links import collective_s, fit_links
from devicefit.records import Result
from devicefit.store.sqlite import open_store


def _times(results: tuple[Result, ...], collective: str) -> dict[int, float]:
    return {
        r.size: r.median_s
        for r in results
        if r.benchmark == collective and r.status == "ok" and r.size and r.median_s
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL)")
    parser.add_argument("--collective", default="all_reduce")
    parser.add_argument("--quick", action="store_true", help="three sizes and short budgets")
    parser.add_argument("--db", help="keep both runs in this store (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    devices = select_devices(args.device)[:1]
    with tempfile.TemporaryDirectory() as folder, open_store(args.db or Path(folder) / "comm.db") as store:
        runs = [
            bench(
                devices,
                store,
                suite="comm",
                quick=args.quick,
                only=args.collective,
                num_processes=args.nproc,
                label=f"comm_prediction {step}",
            )
            for step in ("fit", "check")
        ]
    first, second = runs
    device = devices[0].id
    link = fit_links(first.results, device)[args.collective]
    rows = []
    for size, measured_s in sorted(_times(second.results, args.collective).items()):
        predicted_s = collective_s(link, args.collective, size, args.nproc)  # type: ignore[arg-type]
        rows.append(
            {
                "size": size,
                "measured_s": measured_s,
                "predicted_s": predicted_s,
                "measured_busbw": bus_bandwidth(args.collective, size, args.nproc, measured_s),  # type: ignore[arg-type]
                "predicted_busbw": bus_bandwidth(args.collective, size, args.nproc, predicted_s),  # type: ignore[arg-type]
                "error": predicted_s / measured_s - 1,
            }
        )
    median = statistics.median(abs(r["error"]) for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "device": device,
                    "nproc": args.nproc,
                    "collective": args.collective,
                    "runs": [first.run_id, second.run_id],
                    "link": {"bus_bytes_per_s": link.bus_bytes_per_s, "latency_s": link.latency_s},
                    "rows": rows,
                    "median_abs_error": median,
                },
                indent=2,
            )
        )
        return
    print(
        f"{args.collective} x{args.nproc} on {device} ({link.backend}): link fitted from run {first.run_id}"
        f" = {link.bus_bytes_per_s / 1e9:.3f} GB/s bus, {link.latency_s * 1e6:.1f} us per ring step;"
        f" checked on run {second.run_id}"
    )
    print(
        f"{'size':>10} {'measured':>12} {'predicted':>12} {'busbw meas.':>12} {'busbw pred.':>12}"
        f" {'error':>8}"
    )
    for r in rows:
        print(
            f"{r['size']:>10} {r['measured_s'] * 1e6:>10.1f}us {r['predicted_s'] * 1e6:>10.1f}us"
            f" {r['measured_busbw'] / 1e9:>8.3f}GB/s {r['predicted_busbw'] / 1e9:>8.3f}GB/s"
            f" {r['error']:>+8.1%}"
        )
    print(f"median |error| {median:.1%} over {len(rows)} sizes (bar: 25%)")


if __name__ == "__main__":
    main()
