"""Fits the GPU kernel model on NeuSight's published kernel latencies; judges it on GPUs it never saw.

Data: ``../shared/published/neusight-kernels/`` (README beside it): fp32 ``bmm``, ``linear``,
``conv``, elementwise, layer norm and softmax latencies on P4, P100, V100, T4, A100 (and memory-bound
kernels on MI100, MI210). Each GPU's figures (peak, bandwidth, multiprocessors) come from devicefit's
catalog, by the driver name the files use.

The published latencies are per call of an eager PyTorch loop: a call costs the larger of its
kernel and the host's own per-call work (Python, dispatch, launch), 25-60 us on these hosts. That
host floor is not the GPU's (devicefit models it apart, from the host CPU), so each (GPU, op)'s floor
is measured as the median latency of its 50 smallest calls, and the kernel model is judged through
``max(host floor, kernel)``. The ``blind`` figures take the floor from the other GPUs instead.

Leave one GPU out: fit on all the other GPUs of the set (one parameter set, scaled by each GPU's
catalog figures), predict the held-out GPU's kernels, report median and 90th-percentile |error|.
``--write`` refits each architecture family on its own GPUs and rewrites
``src/devicefit/predict/gpu_kernels.toml``. The fits take every third product (bmm and linear) of
each GPU (about 8,000 of 24,000) to stay within a minute; judging uses every row.

Usage: python benchmarks/published_kernels.py [--json] [--write] [--every N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from devicefit.catalog import load_catalog
from devicefit.predict.gpu_kernels import product_s
from devicefit.records import ProductKernelFit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "published" / "neusight-kernels"
SHIPPED = ROOT / "src" / "devicefit" / "predict" / "gpu_kernels.toml"
SOURCE = (
    "NeuSight kernel latencies (sitar-lab/NeuSight, MIT, commit 6945927; fp32, PyTorch 2.1 / ROCm), "
    "refitted by benchmarks/published_kernels.py"
)
#: Calls whose median latency is taken as the host's per-call floor of an op on a GPU.
FLOOR_CALLS = 50
#: Elementwise ops and the tensors of B x H elements each call reads and writes.
MEMORY_OPS = {
    "add": 3,
    "mul": 3,
    "div": 3,
    "pow": 3,
    "addu": 2,
    "mulu": 2,
    "divu": 2,
    "powu": 2,
    "relu": 2,
    "gelu": 2,
    "tanh": 2,
    "ln": 2,
    "softmax": 2,
}
#: Architecture families fitted, by the catalog architecture of their GPUs.
FAMILIES = {
    "pascal": "pascal",
    "volta": "volta",
    "turing": "turing",
    "ampere": "ampere",
    "cdna1": "cdna",
    "cdna2": "cdna",
}
#: Catalog architectures without published kernels: the family they borrow, and why.
BORROWED = {
    "ada": ("ampere", "Ada has no published kernels: Ampere's fit (the nearest, the same fp32 SM design)"),
    "ampere-ga10x": ("ampere", "GA10x has no published kernels: GA100's fit"),
    "hopper": ("ampere", "Hopper has no published kernels: Ampere's fit, with Hopper's measured fractions"),
    "blackwell": (
        "ampere",
        "Blackwell has no published kernels: Ampere's fit, with Hopper's measured fractions",
    ),
    "cdna3": ("cdna", "CDNA3 has no published kernels: CDNA1-2's fit"),
    "gcn5": ("cdna", "GCN5 has no published kernels: CDNA1-2's fit (the same compute units)"),
    "default": ("ampere", "architecture unknown to the fit: Ampere's fit"),
}
#: What was measured on Hopper itself (defaults.toml ``[architectures.hopper]``, KINDS.md 2026-11-13):
#: 0.81 of the dense peak at 8192^3 and 0.90 of the bandwidth, overriding the borrowed fractions.
HOPPER_MEASURED = {"matmul_fraction": 0.81, "bandwidth_fraction": 0.90}
#: Parameter bounds: fractions of a peak, reuse and prologue within what tiles allow, floors of
#: 0.1-5 us (a kernel launch and tail on the device; the host floor of these runs, 25-60 us,
#: hides the kernel floor, so a larger one would only absorb host time).
LOWER = np.array([0.05, 0.5, 0.0, 0.05, 1e-7])
UPPER = np.array([1.0, 200.0, 2000.0, 1.0, 5e-6])
START = np.array([0.8, 16.0, 32.0, 0.6, 3e-6])


@dataclass
class Calls:
    """One GPU's calls of one op family: shapes, bytes, measured seconds and host floor."""

    gpu: str
    columns: dict[str, np.ndarray]
    seconds: np.ndarray
    floor: np.ndarray
    peak: float
    bandwidth: float
    multiprocessors: int

    def every(self, step: int) -> Calls:
        """Every ``step``-th call (for a faster fit)."""
        return Calls(
            self.gpu,
            {k: v[::step] for k, v in self.columns.items()},
            self.seconds[::step],
            self.floor[::step],
            self.peak,
            self.bandwidth,
            self.multiprocessors,
        )


def _read(op: str) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted((DATA / "kernels" / op).glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="") as file:
            rows = list(csv.DictReader(file))
        columns = {
            k: np.array([float(r[k]) for r in rows])
            for k in rows[0]
            if k[:1].isupper()
            and k
            not in (
                "Device",
                "Torch Version",
                "Kernel Name",
                "Kernels",
                "CUDA Version",
                "OPName",
                "CUDNN Version",
            )
        }
        out[rows[0]["Device"]] = columns
    return out


def _floor(seconds: np.ndarray, work: np.ndarray) -> np.ndarray:
    smallest = np.argsort(work, kind="stable")[:FLOOR_CALLS]
    return np.full(len(seconds), float(np.median(seconds[smallest])))


def _calls(gpu: str, parts: Sequence[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]) -> Calls:
    spec = load_catalog().find(gpu)
    assert spec.bandwidth_bytes_per_s and spec.num_multiprocessors
    names = parts[0][0].keys()
    return Calls(
        gpu,
        {k: np.concatenate([p[0][k] for p in parts]) for k in names},
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        spec.peak_flops_per_s["fp32"],  # the published runs are IEEE fp32 (no TF32 kernel names)
        spec.bandwidth_bytes_per_s,
        spec.num_multiprocessors,
    )


def load_products() -> dict[str, Calls]:
    """Bmm and linear calls by GPU, as ``batch`` products of M x K by K x N."""
    parts: dict[str, list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]] = {}
    for op in ("bmm", "linear"):
        for gpu, c in _read(op).items():
            b, m, n, k = c["B"], c["M"], c["N"], c["K"]
            if op == "linear":  # one product of B*M rows by a shared K x N weight
                b, m, weights = np.ones_like(b), b * m, n * k
            else:
                weights = b * n * k
            cols = {"batch": b, "m": m, "k": k, "n": n, "bytes": 4.0 * (b * m * k + weights + b * m * n)}
            seconds = c["Latency"] * 1e-3
            parts.setdefault(gpu, []).append((cols, seconds, _floor(seconds, b * m * n * k)))
    return {gpu: _calls(gpu, p) for gpu, p in parts.items()}


def load_convs() -> dict[str, Calls]:
    """Convolutions by GPU, as the implicit products they lower to."""
    out = {}
    for gpu, c in _read("conv").items():
        b, cin, cout, r, size = (
            c["B"],
            c["Input_Channel"],
            c["Output_Channel"],
            c["Kernel_Szie"],
            c["Input_Size"],
        )
        side = np.floor((size + 2 * c["Padding"] - r) / c["Stride"]) + 1
        cols = {
            "batch": np.ones_like(b),
            "m": b * side**2,
            "k": cin * r * r,
            "n": cout,
            "bytes": 4.0 * (b * cin * size**2 + cout * cin * r * r + b * cout * side**2),
        }
        seconds = c["Latency"] * 1e-3
        out[gpu] = _calls(gpu, [(cols, seconds, _floor(seconds, cols["m"] * cols["k"] * cols["n"]))])
    return out


def load_memory() -> dict[str, Calls]:
    """Elementwise, layer-norm and softmax calls by GPU: bytes moved and kind (0, 1: ln, 2: softmax)."""
    parts: dict[str, list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]] = {}
    for op, tensors in MEMORY_OPS.items():
        for gpu, c in _read(op).items():
            elements = c["B"] * c["H"]
            kind = {"ln": 1.0, "softmax": 2.0}.get(op, 0.0)
            cols = {"bytes": 4.0 * tensors * elements, "kind": np.full(len(elements), kind)}
            seconds = c["Latency"] * 1e-3
            parts.setdefault(gpu, []).append((cols, seconds, _floor(seconds, elements)))
    return {gpu: _calls(gpu, p) for gpu, p in parts.items()}


def product_kernel(p: np.ndarray, calls: Calls) -> np.ndarray:
    """Kernel seconds of products or convolutions under parameters ``p``."""
    fit = ProductKernelFit(
        fraction=p[0], tile_reuse_half=p[1], k_prologue=p[2], bandwidth_fraction=p[3], floor_s=p[4]
    )
    c = calls.columns
    return product_s(
        c["batch"],
        c["m"],
        c["k"],
        c["n"],
        c["bytes"],
        peak_flops_per_s=calls.peak,
        bandwidth_bytes_per_s=calls.bandwidth,
        num_multiprocessors=calls.multiprocessors,
        fit=fit,
    )


def memory_kernel(p: np.ndarray, calls: Calls) -> np.ndarray:
    """Kernel seconds of memory-bound calls: a floor plus bytes over the bandwidth x fraction x factor."""
    factor = np.choose(calls.columns["kind"].astype(int), [1.0, p[1], p[2]])
    return p[3] + calls.columns["bytes"] / (calls.bandwidth * p[0] * factor)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Family:
    """How one op family is fitted: its kernel function and parameter bounds."""

    kernel: Callable[[np.ndarray, Calls], np.ndarray]
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


FAMILY_FORMS = {
    "matmul": Family(product_kernel, START, LOWER, UPPER),
    "conv": Family(product_kernel, START, LOWER, UPPER),
    "memory": Family(
        memory_kernel,
        np.array([0.8, 0.7, 0.7, 3e-6]),
        np.array([0.05, 0.05, 0.05, 1e-7]),
        np.array([1.0, 2.0, 2.0, 5e-6]),
    ),
}


def predicted(form: Family, p: np.ndarray, calls: Calls, floor: np.ndarray | None = None) -> np.ndarray:
    """Seconds per call: the larger of the host floor and the kernel."""
    return np.maximum(calls.floor if floor is None else floor, form.kernel(p, calls))


def fit(form: Family, calls: Sequence[Calls]) -> np.ndarray:
    """Least squares in log time (soft L1: a few odd calls do not pull the whole fit)."""

    def residuals(p: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(predicted(form, p, c) / c.seconds) for c in calls])

    return least_squares(
        residuals, form.start, bounds=(form.lower, form.upper), loss="soft_l1", f_scale=0.1, x_scale="jac"
    ).x  # type: ignore[no-any-return]


def errors(form: Family, p: np.ndarray, calls: Calls, floor: np.ndarray | None = None) -> dict[str, float]:
    """Count, median and 90th percentile of |predicted / measured - 1|."""
    e = np.abs(predicted(form, p, calls, floor) / calls.seconds - 1)
    return {
        "n": int(len(e)),
        "median_abs_error": float(np.median(e)),
        "p90_abs_error": float(np.percentile(e, 90)),
    }


def _thin(calls: Calls, every: int) -> Calls:
    return calls.every(every) if len(calls.seconds) > 10_000 else calls


def leave_one_out(form: Family, data: dict[str, Calls], every: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per held-out GPU: its errors under the fit on all the other GPUs (host floor measured, and blind)."""
    out = {}
    for gpu, calls in data.items():
        others = [_thin(c, every) for g, c in data.items() if g != gpu]
        p = fit(form, others)
        blind = np.full(len(calls.seconds), float(np.median([c.floor[0] for c in others])))
        out[gpu] = {"measured_floor": errors(form, p, calls), "blind": errors(form, p, calls, blind)}
    return out


def _family_of(gpu: str) -> str:
    return FAMILIES[load_catalog().find(gpu).architecture]


def family_fits(
    data: dict[str, dict[str, Calls]], every: int
) -> dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]]:
    """Each architecture family's fit on its own GPUs, with its in-sample error, by op family."""
    out: dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]] = {}
    for op, by_gpu in data.items():
        for family in sorted({_family_of(g) for g in by_gpu}):
            mine = [c for g, c in by_gpu.items() if _family_of(g) == family]
            p = fit(FAMILY_FORMS[op], [_thin(c, every) for c in mine])
            e = np.concatenate([np.abs(predicted(FAMILY_FORMS[op], p, c) / c.seconds - 1) for c in mine])
            out.setdefault(family, {})[op] = (
                p,
                {
                    "n": int(len(e)),
                    "median_abs_error": float(np.median(e)),
                    "p90_abs_error": float(np.percentile(e, 90)),
                },
            )
    return out


def _product_toml(p: np.ndarray, err: dict[str, float], gpus: list[str]) -> list[str]:
    return [
        f"fraction = {p[0]:.4g}",
        f"tile_reuse_half = {p[1]:.4g}",
        f"k_prologue = {p[2]:.4g}",
        f"bandwidth_fraction = {p[3]:.4g}",
        f"floor_s = {p[4]:.4g}",
        f"# the fit's own |error| on {', '.join(gpus)}, over {err['n']} calls",
        f"fit_median_abs_error = {err['median_abs_error']:.3f}",
        f"fit_p90_abs_error = {err['p90_abs_error']:.3f}",
    ]


def render_toml(
    fits: dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]], gpus: dict[str, list[str]]
) -> str:
    """The shipped parameter file: per family, per op family, with the source and the fit's error."""
    lines = [
        "# GPU kernel model parameters (predict/gpu_kernels.py), fitted per architecture family on",
        "# published kernel latencies. Generated by `python benchmarks/published_kernels.py --write`;",
        "# do not edit by hand. Raw measurements stay in ../shared/published (never in the package).",
        f'source = "{SOURCE}"',
        "",
    ]
    for family, ops in sorted(fits.items()):
        lines += [f"[families.{family}]", f"gpus = {json.dumps(gpus[family])}"]
        if "matmul" not in ops:
            lines.append('products_from = "ampere"  # no products or convolutions were published for it')
        for op in ("matmul", "conv"):
            if op in ops:
                lines += ["", f"[families.{family}.{op}]", *_product_toml(*ops[op], gpus[family])]
        p, err = ops["memory"]
        lines += [
            "",
            f"[families.{family}.memory]",
            f"bandwidth_fraction = {p[0]:.4g}",
            f"floor_s = {p[3]:.4g}",
            f"# the fit's own |error| over {err['n']} calls",
            f"fit_median_abs_error = {err['median_abs_error']:.3f}",
            f"fit_p90_abs_error = {err['p90_abs_error']:.3f}",
            f"family_factor = {{ layer_norm = {p[1]:.4g}, softmax = {p[2]:.4g} }}",
            "",
        ]
    lines.append("[architectures]")
    for arch, family in sorted(FAMILIES.items()):
        lines.append(f'{arch} = {{ family = "{family}" }}')
    for arch, (family, note) in sorted(BORROWED.items()):
        extra = (
            "".join(f", {k} = {v}" for k, v in HOPPER_MEASURED.items())
            if arch in ("hopper", "blackwell")
            else ""
        )
        lines.append(f'{arch} = {{ family = "{family}", note = "{note}"{extra} }}')
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the leave-one-GPU-out judgement, prints it, and optionally rewrites the shipped fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--write", action="store_true", help="refit per family and rewrite gpu_kernels.toml")
    parser.add_argument("--every", type=int, default=3, help="fit on every N-th product call (default 3)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no published kernels at {DATA}: check out ../shared beside the repository", file=sys.stderr)
        return 1
    data = {"matmul": load_products(), "conv": load_convs(), "memory": load_memory()}
    logo = {op: leave_one_out(FAMILY_FORMS[op], by_gpu, args.every) for op, by_gpu in data.items()}
    result: dict[str, object] = {
        "families": {op: {g: r["measured_floor"] for g, r in by_gpu.items()} for op, by_gpu in logo.items()},
        "blind": {op: {g: r["blind"] for g, r in by_gpu.items()} for op, by_gpu in logo.items()},
        "bar": {"matmul": 0.10, "memory": 0.10, "conv": 0.15},
    }
    if args.write:
        fits = family_fits(data, args.every)
        gpus: dict[str, list[str]] = {}
        for by_gpu in data.values():
            for g in by_gpu:
                gpus.setdefault(_family_of(g), [])
                if g not in gpus[_family_of(g)]:
                    gpus[_family_of(g)].append(g)
        SHIPPED.write_text(render_toml(fits, gpus), encoding="utf-8")
        result["fit"] = {f: {op: e for op, (_, e) in ops.items()} for f, ops in fits.items()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("Leave one GPU out: fit on the other GPUs, predict this one's kernels (|error|: median / p90)")
    print("host floor measured on the GPU's smallest calls; 'blind': floor from the other GPUs")
    print(f"{'family':8} {'GPU':26} {'calls':>6} {'median':>7} {'p90':>7}   {'blind median':>12} {'p90':>7}")
    for op, by_gpu in logo.items():
        for gpu, r in by_gpu.items():
            m, b = r["measured_floor"], r["blind"]
            print(
                f"{op:8} {gpu:26} {m['n']:6d} {m['median_abs_error']:7.1%} {m['p90_abs_error']:7.1%}"
                f"   {b['median_abs_error']:12.1%} {b['p90_abs_error']:7.1%}"
            )
    bar = result["bar"]
    assert isinstance(bar, dict)
    nvidia = {
        op: {g: r["measured_floor"]["median_abs_error"] for g, r in by_gpu.items() if not g.startswith("AMD")}
        for op, by_gpu in logo.items()
    }
    met = all(v <= bar[op] for op, by_gpu in nvidia.items() for v in by_gpu.values())
    worst = ", ".join(f"{op} {max(v.values()):.1%} (bar {bar[op]:.0%})" for op, v in nvidia.items())
    print(
        "bar (median |error| per NVIDIA GPU, leave one GPU out): "
        f"{'met' if met else 'NOT met'}: worst {worst}"
    )
    if args.write:
        print(f"wrote {SHIPPED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
