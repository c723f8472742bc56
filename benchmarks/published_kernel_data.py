"""NeuSight's published kernel latencies as arrays, by GPU (for ``published_kernels.py``).

Each GPU's figures (peak, bandwidth, multiprocessors, TDP) come from devicefit's catalog, by the
driver name the files use. Each (GPU, op)'s host floor is the median latency of its 50 smallest
calls (``published_kernels.py`` says why).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devicefit.catalog import load_catalog
from devicefit.predict.gpu_kernels import NODE_ENERGY, WINOGRAD_TILE

DATA = Path(__file__).resolve().parents[2] / "shared" / "published" / "neusight-kernels"
#: Calls whose median latency is taken as the host's per-call floor of an op on a GPU.
FLOOR_CALLS = 50
#: Elementwise ops and the tensors of B x H elements each call reads and writes.
MEMORY_OPS = {"add": 3, "mul": 3, "div": 3, "pow": 3} | dict.fromkeys(
    ("addu", "mulu", "divu", "powu", "relu", "gelu", "tanh", "ln", "softmax"), 2
)
TEXT_COLUMNS = (
    "Device",
    "Torch Version",
    "Kernel Name",
    "Kernels",
    "CUDA Version",
    "OPName",
    "CUDNN Version",
)
#: Process node of each catalog architecture, as its whitepaper names it (NVIDIA Pascal GP100, GP104,
#: Volta, Turing, A100, GA102, Hopper, Ada whitepapers; Blackwell's 4NP counted as 4N; AMD CDNA1 and
#: CDNA2 whitepapers). ``ampere`` is GA100 (A100, A30); the A10 (GA102, Samsung 8N) shares the id.
PROCESS = {
    "pascal": "TSMC 16FF+",
    "volta": "TSMC 12FFN",
    "turing": "TSMC 12FFN",
    "ampere": "TSMC N7",
    "ampere-ga10x": "Samsung 8N",
    "ada": "TSMC 4N",
    "hopper": "TSMC 4N",
    "blackwell": "TSMC 4N",
    "cdna1": "TSMC N7",
    "cdna2": "TSMC N6",
}


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
    watts_16ff: float  # TDP x the node's FLOP per joule relative to 16FF+ (gpu_kernels.NODE_ENERGY)

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
            self.watts_16ff,
        )


def _read(op: str) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted((DATA / "kernels" / op).glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="") as file:
            rows = list(csv.DictReader(file))
        columns = {
            k: np.array([float(r[k]) for r in rows])
            for k in rows[0]
            if k[:1].isupper() and k not in TEXT_COLUMNS
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
        (spec.tdp_w or 0.0) * NODE_ENERGY.get(PROCESS.get(spec.architecture or "", ""), 0.0),
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
            # Winograd's geometry (every published convolution is 3x3, stride 1, padding 1).
            "images": b,
            "tiles": b * np.ceil(side / WINOGRAD_TILE) ** 2,
            "cin": cin,
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
