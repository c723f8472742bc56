"""Fits the GPU kernel model on NeuSight's published kernel latencies; judges it on GPUs it never saw.

Data: ``../shared/published/neusight-kernels/`` (README beside it): fp32 ``bmm``, ``linear``,
``conv``, elementwise, layer norm and softmax latencies on P4, P100, V100, T4, A100 (and memory-bound
kernels on MI100, MI210), read by ``published_kernel_data.py``. Each GPU's figures (peak, bandwidth,
multiprocessors, TDP) come from devicefit's catalog, by the driver name the files use.

The published latencies are per call of an eager PyTorch loop: a call costs the larger of its
kernel and the host's own per-call work (Python, dispatch, launch), 25-60 us on these hosts. That
host floor is not the GPU's (devicefit models it apart, from the host CPU), so each (GPU, op)'s floor
is measured as the median latency of its 50 smallest calls, and the kernel model is judged through
``max(host floor, kernel)``. The floor is an input like ``--host``, never a GPU parameter, and
nothing is tuned per held-out GPU. The ``blind`` figures take the floor from the other GPUs instead.

The power cap (fp32 FLOP per joule at 16FF+, ``gpu_kernels.NODE_ENERGY`` for the other nodes) is
one figure fitted with the products on the training GPUs; convolutions hold the products' figure
(fitted without the held-out GPU) and fit their own Winograd efficiency.

Leave one GPU out: fit on all the other GPUs of the set (one parameter set, scaled by each GPU's
catalog figures), predict the held-out GPU's kernels, report median and 90th-percentile |error|.
``--write`` fits the power cap on every GPU's products, then each architecture family on its own
GPUs, and rewrites ``src/devicefit/predict/gpu_kernels.toml``. ``--diagnose`` prints the held-out
residuals by regime (host-bound, memory-bound, compute-bound by K). The fits take every third
product (bmm and linear) of each GPU (about 8,000 of 24,000); judging uses every row. The judgement
takes about 2 minutes, ``--write`` a minute more.

Usage: python benchmarks/published_kernels.py [--json] [--write] [--diagnose] [--every N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from devicefit.catalog import load_catalog
from devicefit.predict.gpu_kernels import product_s, sustained_fp32_flops_per_s, winograd_s
from devicefit.records import ProductKernelFit
from published_kernel_data import DATA, PROCESS, Calls, load_convs, load_memory, load_products

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "devicefit" / "predict" / "gpu_kernels.toml"
SOURCE = (
    "NeuSight kernel latencies (sitar-lab/NeuSight, MIT, commit 6945927; fp32, PyTorch 2.1 / ROCm), "
    "refitted by benchmarks/published_kernels.py"
)
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
#: Then fp32 GFLOP per joule at TSMC 16FF+ (the power limit's cap, one for all GPUs) and, for
#: convolutions, Winograd's efficiency relative to the direct product's.
LOWER = np.array([0.05, 0.5, 0.0, 0.05, 1e-7, 5.0, 0.2])
UPPER = np.array([1.0, 200.0, 2000.0, 1.0, 5e-6, 500.0, 3.0])
START = np.array([0.8, 16.0, 32.0, 0.6, 3e-6, 40.0, 1.0])
CAP, WINOGRAD = 5, 6


def _figures(p: np.ndarray, calls: Calls) -> dict[str, Any]:
    fit = ProductKernelFit(
        fraction=p[0],
        tile_reuse_half=p[1],
        k_prologue=p[2],
        bandwidth_fraction=p[3],
        floor_s=p[4],
        winograd_fraction=p[6] if len(p) > WINOGRAD else 0.0,
    )
    return {
        "peak_flops_per_s": calls.peak,
        "bandwidth_bytes_per_s": calls.bandwidth,
        "num_multiprocessors": calls.multiprocessors,
        "fit": fit,
        "sustained_flops_per_s": sustained_fp32_flops_per_s(p[CAP] * 1e9, calls.watts_16ff),
    }


def product_kernel(p: np.ndarray, calls: Calls) -> np.ndarray:
    """Kernel seconds of products (or convolutions as implicit products) under parameters ``p``."""
    c = calls.columns
    return product_s(c["batch"], c["m"], c["k"], c["n"], c["bytes"], **_figures(p, calls))


def conv_kernel(p: np.ndarray, calls: Calls) -> np.ndarray:
    """Kernel seconds of 3x3 stride-1 convolutions: the faster of the implicit product and Winograd."""
    c, figures = calls.columns, _figures(p, calls)
    winograd = winograd_s(c["images"], c["tiles"], c["cin"], c["n"], 4.0, **figures) + p[4]
    return np.minimum(product_kernel(p, calls), winograd)


def memory_kernel(p: np.ndarray, calls: Calls) -> np.ndarray:
    """Kernel seconds of memory-bound calls: a floor plus bytes over the bandwidth x fraction x factor."""
    factor = np.choose(calls.columns["kind"].astype(int), [1.0, p[1], p[2]])
    return p[3] + calls.columns["bytes"] / (calls.bandwidth * p[0] * factor)


@dataclass(frozen=True)
class Family:
    """How one op family is fitted: its kernel function and parameter bounds."""

    kernel: Callable[[np.ndarray, Calls], np.ndarray]
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


FAMILY_FORMS = {
    "matmul": Family(product_kernel, START[:WINOGRAD], LOWER[:WINOGRAD], UPPER[:WINOGRAD]),
    "conv": Family(conv_kernel, START, LOWER, UPPER),
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
    ).x


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


def pinned(form: Family, value: float) -> Family:
    """The form with its power cap held at ``value``."""
    start, lower, upper = form.start.copy(), form.lower.copy(), form.upper.copy()
    start[CAP], lower[CAP], upper[CAP] = value, value, value * (1 + 1e-9)
    return dataclasses.replace(form, start=start, lower=lower, upper=upper)


@dataclass(frozen=True)
class HeldOut:
    """A held-out GPU's errors (host floor measured, and blind) and the parameters it was judged with."""

    measured_floor: dict[str, float]
    blind: dict[str, float]
    params: np.ndarray


def leave_one_out(
    form: Family, data: dict[str, Calls], every: int, cap: Callable[[str], float] | None = None
) -> dict[str, HeldOut]:
    """Per held-out GPU: its errors under the fit on all the other GPUs (host floor measured, and blind).

    ``cap``: the power cap to hold for a held-out GPU (convolutions take the products' cap,
    fitted without that GPU's architecture), else fitted with the rest.
    """
    out: dict[str, HeldOut] = {}
    for gpu, calls in data.items():
        others = [_thin(c, every) for g, c in data.items() if g != gpu]
        p = fit(pinned(form, cap(gpu)) if cap else form, others)
        blind = np.full(len(calls.seconds), float(np.median([c.floor[0] for c in others])))
        out[gpu] = HeldOut(errors(form, p, calls), errors(form, p, calls, blind), p)
    return out


def product_cap(data: dict[str, Calls], every: int) -> float:
    """The power cap (GFLOP/J at 16FF+) of one product fit on all the GPUs."""
    return float(fit(FAMILY_FORMS["matmul"], [_thin(c, every) for c in data.values()])[CAP])


def held_out_cap(products: dict[str, HeldOut]) -> Callable[[str], float]:
    """A held-out GPU's power cap: from the products' fit without it (or a GPU of its architecture)."""

    def cap(gpu: str) -> float:
        arch = load_catalog().find(gpu).architecture
        same = (
            gpu
            if gpu in products
            else next(g for g in products if load_catalog().find(g).architecture == arch)
        )
        return float(products[same].params[CAP])

    return cap


def diagnose(form: Family, data: dict[str, Calls], logo: dict[str, HeldOut]) -> None:
    """Residuals of the held-out predictions by regime: host-bound, memory-bound, compute-bound by K."""
    print(f"{'GPU':26} {'regime':16} {'calls':>6} {'signed':>7} {'|error|':>8}")
    for gpu, calls in data.items():
        p = logo[gpu].params
        kernel = form.kernel(p, calls)
        r = np.log(np.maximum(calls.floor, kernel) / calls.seconds)
        host = calls.floor >= kernel
        regimes = {"host-bound": host}
        if "k" in calls.columns:
            memory = ~host & (calls.columns["bytes"] / (calls.bandwidth * p[3]) >= kernel - p[4] - 1e-12)
            regimes["memory-bound"] = memory
            k = calls.columns["k"]
            for lo, hi in ((0, 32), (32, 128), (128, 512), (512, np.inf)):
                regimes[f"compute K {lo}-{hi:g}"] = ~host & ~memory & (k >= lo) & (k < hi)
        else:
            regimes["kernel-bound"] = ~host
        for name, s in regimes.items():
            if s.any():
                signed, e = np.median(np.exp(r[s]) - 1), np.median(np.abs(np.exp(r[s]) - 1))
                print(f"{gpu:26} {name:16} {int(s.sum()):6d} {signed:+7.1%} {e:8.1%}")


def _family_of(gpu: str) -> str:
    return FAMILIES[load_catalog().find(gpu).architecture]


def family_fits(
    data: dict[str, dict[str, Calls]], every: int, cap: float
) -> dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]]:
    """Each architecture family's fit on its own GPUs (the power cap pooled), with its in-sample error."""
    out: dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]] = {}
    for op, by_gpu in data.items():
        form = FAMILY_FORMS[op] if op == "memory" else pinned(FAMILY_FORMS[op], cap)
        for family in sorted({_family_of(g) for g in by_gpu}):
            mine = [c for g, c in by_gpu.items() if _family_of(g) == family]
            p = fit(form, [_thin(c, every) for c in mine])
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
        *([f"winograd_fraction = {p[WINOGRAD]:.4g}"] if len(p) > WINOGRAD else []),
        f"# the fit's own |error| on {', '.join(gpus)}, over {err['n']} calls",
        f"fit_median_abs_error = {err['median_abs_error']:.3f}",
        f"fit_p90_abs_error = {err['p90_abs_error']:.3f}",
    ]


def render_toml(
    fits: dict[str, dict[str, tuple[np.ndarray, dict[str, float]]]], gpus: dict[str, list[str]], cap: float
) -> str:
    """The shipped parameter file: per family, per op family, with the source and the fit's error."""
    lines = [
        "# GPU kernel model parameters (predict/gpu_kernels.py), fitted per architecture family on",
        "# published kernel latencies. Generated by `python benchmarks/published_kernels.py --write`;",
        "# do not edit by hand. Raw measurements stay in ../shared/published (never in the package).",
        f'source = "{SOURCE}"',
        "",
        "[power]",
        "# fp32 FLOP per joule at TSMC 16FF+, one fit of the products on every NVIDIA GPU above;",
        "# other nodes scale by gpu_kernels.NODE_ENERGY, times a board's TDP: its sustained rate",
        f"flop_per_joule_16ff = {cap * 1e9:.4g}",
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

    def process(arch: str) -> str:
        return f', process = "{PROCESS[arch]}"' if arch in PROCESS else ""

    for arch, family in sorted(FAMILIES.items()):
        lines.append(f'{arch} = {{ family = "{family}"{process(arch)} }}')
    for arch, (family, note) in sorted(BORROWED.items()):
        extra = (
            "".join(f", {k} = {v}" for k, v in HOPPER_MEASURED.items())
            if arch in ("hopper", "blackwell")
            else ""
        )
        lines.append(f'{arch} = {{ family = "{family}", note = "{note}"{extra}{process(arch)} }}')
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the leave-one-GPU-out judgement, prints it, and optionally rewrites the shipped fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--write", action="store_true", help="refit per family and rewrite gpu_kernels.toml")
    parser.add_argument("--diagnose", action="store_true", help="print held-out residuals by regime")
    parser.add_argument("--every", type=int, default=3, help="fit on every N-th product call (default 3)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no published kernels at {DATA}: check out ../shared beside the repository", file=sys.stderr)
        return 1
    data = {"matmul": load_products(), "conv": load_convs(), "memory": load_memory()}
    products = leave_one_out(FAMILY_FORMS["matmul"], data["matmul"], args.every)
    logo = {
        "matmul": products,
        "conv": leave_one_out(FAMILY_FORMS["conv"], data["conv"], args.every, held_out_cap(products)),
        "memory": leave_one_out(FAMILY_FORMS["memory"], data["memory"], args.every),
    }
    result: dict[str, object] = {
        "families": {op: {g: r.measured_floor for g, r in held.items()} for op, held in logo.items()},
        "blind": {op: {g: r.blind for g, r in held.items()} for op, held in logo.items()},
        "bar": {"matmul": 0.10, "memory": 0.10, "conv": 0.15},
    }
    if args.write:
        cap = product_cap(data["matmul"], args.every)
        fits = family_fits(data, args.every, cap)
        gpus: dict[str, list[str]] = {}
        for by_gpu in data.values():
            for g in by_gpu:
                gpus.setdefault(_family_of(g), [])
                if g not in gpus[_family_of(g)]:
                    gpus[_family_of(g)].append(g)
        SHIPPED.write_text(render_toml(fits, gpus, cap), encoding="utf-8")
        result["fit"] = {f: {op: e for op, (_, e) in ops.items()} for f, ops in fits.items()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if args.diagnose:
        for op in ("matmul", "conv"):
            print(f"{op}: held-out residuals by regime (signed: median predicted / measured - 1)")
            diagnose(FAMILY_FORMS[op], data[op], logo[op])
    print("Leave one GPU out: fit on the other GPUs, predict this one's kernels (|error|: median / p90)")
    print("host floor measured on the GPU's smallest calls; 'blind': floor from the other GPUs")
    print(f"{'family':8} {'GPU':26} {'calls':>6} {'median':>7} {'p90':>7}   {'blind median':>12} {'p90':>7}")
    for op, held in logo.items():
        for gpu, r in held.items():
            m, b = r.measured_floor, r.blind
            print(
                f"{op:8} {gpu:26} {m['n']:6d} {m['median_abs_error']:7.1%} {m['p90_abs_error']:7.1%}"
                f"   {b['median_abs_error']:12.1%} {b['p90_abs_error']:7.1%}"
            )
    bar = result["bar"]
    assert isinstance(bar, dict)
    nvidia = {
        op: {g: r.measured_floor["median_abs_error"] for g, r in held.items() if not g.startswith("AMD")}
        for op, held in logo.items()
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
