"""GPU kernel times from shape and catalog figures, with parameters fitted on published kernels.

A matrix product (``batch`` products of M x K by K x N; a convolution as the implicit product it
lowers to: M output pixels, K = channels x window, N output channels) runs as output tiles, one
tile per multiprocessor at a time. The library picks among a few tile sizes the one that finishes
first: large tiles reuse each loaded value more (efficiency ``fraction * r / (r + reuse_half)``
with ``r = tm * tn / (tm + tn)``, the tile's FLOP per loaded element) but leave multiprocessors idle
in the last wave when there are few of them (wave quantization, ``ceil(tiles / SMs)`` waves). Each
tile also pays a prologue and epilogue worth ``k_prologue`` steps of its K loop, so short products
cannot amortize it. A kernel takes the longer of that and its bytes at ``bandwidth_fraction`` of
the bandwidth (Williams et al., "Roofline", CACM 2009), plus the kernel's floor (launch and tail).

The functions take floats or numpy arrays alike (the refit in ``benchmarks/published_kernels.py``
passes arrays), so the package and the fit share one formula without importing numpy.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from devicefit.data import load_packaged_toml
from devicefit.records import DeviceModel, OpCost, ProductKernelFit

#: Output tiles (rows, columns) of cuBLAS's and cuDNN's fp32 kernels, largest first: the names
#: of the kernels in the NeuSight measurements (``volta_sgemm_128x64_nn``, ``..._32x32_sliced1x4``).
TILES = ((128, 128), (128, 64), (64, 64), (64, 32), (32, 32))

_Number = TypeVar("_Number")


def _ceil(x: Any) -> Any:
    return -(-x // 1)


def _least(a: Any, b: Any) -> Any:
    # min() that also works element-wise on arrays (numpy's comparisons give boolean arrays).
    return (a <= b) * a + (a > b) * b


def product_s(
    batch: _Number,
    m: _Number,
    k: _Number,
    n: _Number,
    bytes_moved: _Number,
    *,
    peak_flops_per_s: float,
    bandwidth_bytes_per_s: float,
    num_multiprocessors: int,
    fit: ProductKernelFit,
) -> _Number:
    """Seconds of ``batch`` products of M x K by K x N on a device, from its figures and a fit.

    Args:
        batch: Independent products (a ``bmm``'s batch; 1 for a linear layer of M rows).
        m: Rows of each output.
        k: Reduction length.
        n: Columns of each output.
        bytes_moved: Bytes the call reads and writes.
        peak_flops_per_s: The device's peak for the product's dtype.
        bandwidth_bytes_per_s: The device's memory bandwidth.
        num_multiprocessors: Multiprocessors (SMs, compute units) the tiles spread over.
        fit: The kernel family's fitted parameters.

    Returns:
        Seconds (arrays in, arrays out).
    """
    per_multiprocessor = peak_flops_per_s / num_multiprocessors
    best: Any = None
    for rows, columns in TILES:
        tiles = batch * _ceil(m / rows) * _ceil(n / columns)  # type: ignore[operator]
        waves = _ceil(tiles / num_multiprocessors)
        reuse = rows * columns / (rows + columns)
        efficiency = fit.fraction * reuse / (reuse + fit.tile_reuse_half)
        tile_s = 2.0 * rows * columns * (k + fit.k_prologue) / (per_multiprocessor * efficiency)  # type: ignore[operator]
        time = waves * tile_s
        best = time if best is None else _least(best, time)
    memory = bytes_moved / (bandwidth_bytes_per_s * fit.bandwidth_fraction)  # type: ignore[operator]
    return fit.floor_s - _least(-best, -memory)


@dataclass(frozen=True, slots=True)
class KernelFamily:
    """One architecture family's fitted kernel parameters, as shipped in ``gpu_kernels.toml``."""

    family: str
    matmul: ProductKernelFit
    conv: ProductKernelFit
    bandwidth_fraction: float
    kernel_floor_s: float
    family_factor: dict[str, float]
    source: str


@functools.cache
def _shipped() -> dict[str, Any]:
    return load_packaged_toml("devicefit.predict", "gpu_kernels.toml")


def _product_fit(values: dict[str, Any]) -> ProductKernelFit:
    return ProductKernelFit(
        fraction=values["fraction"],
        tile_reuse_half=values["tile_reuse_half"],
        k_prologue=values["k_prologue"],
        bandwidth_fraction=values["bandwidth_fraction"],
        floor_s=values["floor_s"],
    )


def kernel_family(architecture: str | None) -> KernelFamily:
    """The fitted kernel parameters for a catalog architecture id (unknown ones: the ``default`` link).

    Architectures with measured kernels use their own family's fit; the others the nearest
    family's (``[architectures]`` in ``gpu_kernels.toml``), and the source says so. A family
    without measured products (CDNA: no AMD products were published) takes them from the family
    its ``products_from`` names.
    """
    data = _shipped()
    link = data["architectures"].get(architecture or "", data["architectures"]["default"])
    name = link["family"]
    family = data["families"][name]
    products = data["families"][family.get("products_from", name)]
    how = f"kernel model fitted on {', '.join(family['gpus'])} ({data['source']})"
    if family.get("products_from"):
        how += f"; products and convolutions from the {family['products_from']} fit (none published)"
    if link.get("note"):
        how += f"; {link['note']}"
    # Fractions measured on the architecture itself (Hopper) replace the borrowed ones.
    matmul = dataclasses.replace(
        _product_fit(products["matmul"]), fraction=link.get("matmul_fraction", products["matmul"]["fraction"])
    )
    return KernelFamily(
        family=name,
        matmul=matmul,
        conv=_product_fit(products["conv"]),
        bandwidth_fraction=link.get("bandwidth_fraction", family["memory"]["bandwidth_fraction"]),
        kernel_floor_s=family["memory"]["floor_s"],
        family_factor=dict(family["memory"].get("family_factor", {})),
        source=how,
    )


def op_product_s(op: OpCost, device: DeviceModel, dtype: str) -> float | None:
    """Seconds of a traced product or convolution under the fitted kernels (``None``: not one)."""
    fit = device.product_kernels.get("conv" if op.op_class == "conv" else "matmul")
    if fit is None or len(op.shape) != 3 or not (op.flops and device.num_multiprocessors):
        return None
    m, k, n = op.shape
    if not m * k * n:
        return None
    # Backward calls and batched products do several products of this shape.
    products = max(op.flops / (2.0 * m * k * n), 1.0)
    return product_s(
        products,
        m,
        k,
        n,
        op.bytes_read + op.bytes_written,
        peak_flops_per_s=device.peak(dtype),
        bandwidth_bytes_per_s=device.bandwidth_bytes_per_s,
        num_multiprocessors=device.num_multiprocessors,
        fit=fit,
    )
