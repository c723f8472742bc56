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

A 3x3 stride-1 convolution in fp32 may run as Winograd's F(4x4, 3x3) instead (Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", CVPR 2016; cuDNN's ``winograd_nonfused``):
each 4x4 output tile is 36 products of a 6x6 input tile, 4x fewer multiplies than the direct
product, paid for in transforms of the input, filter and output through memory. The faster of the
two is what the library runs (the published convolutions ran Winograd in 70-80% of the calls).

A board whose power limit is low for its peak (T4 at 70 W, P4 at 75 W) cannot hold its boost clock
under a long product: its fp32 fraction is at most ``sustained / peak``, with the sustained rate its
TDP times the FLOP per joule of its process node: one figure fitted at TSMC 16FF+ over all the
fitted GPUs, scaled to the other nodes by the foundries' power figures (``NODE_ENERGY``).

The functions take floats or numpy arrays alike (the refit in ``benchmarks/published_kernels.py``
passes arrays), so the package and the fit share one formula without importing numpy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from devicefit.data import load_packaged_toml
from devicefit.records import DeviceModel, OpCost, ProductKernelFit

#: Output tiles (rows, columns) of cuBLAS's and cuDNN's fp32 kernels, largest first: the names
#: of the kernels in the NeuSight measurements (``volta_sgemm_128x64_nn``, ``..._32x32_sliced1x4``).
TILES = ((128, 128), (128, 64), (64, 64), (64, 32), (32, 32))

#: FLOP per joule of a process node relative to TSMC 16FF+ at the same speed: 1 / (the node's power
#: at the same speed). Foundry announcements, recalled (not re-read in this pass): TSMC 12FFC "up to
#: 25% lower power than 16FFC" (Volta and Turing's 12FFN is NVIDIA's variant of it); TSMC N7 "~60%
#: lower power than 16FF+"; Samsung 8LPP "up to 10% lower power than 10LPP", 10LPE "40% lower power
#: than 14LPE" (~16FF+); TSMC N5 "30% lower power than N7" (Hopper, Ada and Blackwell's 4N/4NP are
#: NVIDIA's N5 variants; N6 counted as N7). The architecture of each node: ``gpu_kernels.toml``.
NODE_ENERGY = {
    "TSMC 16FF+": 1.0,
    "TSMC 12FFN": 1 / 0.75,
    "TSMC N7": 1 / 0.40,
    "TSMC N6": 1 / 0.40,
    "Samsung 8N": 1 / (0.60 * 0.90),
    "TSMC 4N": 1 / (0.40 * 0.70),
}

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
    sustained_flops_per_s: float | None = None,
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
        sustained_flops_per_s: What the board's power sustains (``None``: no power limit).

    Returns:
        Seconds (arrays in, arrays out).
    """
    per_multiprocessor = peak_flops_per_s / num_multiprocessors
    fraction = fit.fraction
    if sustained_flops_per_s:
        fraction = min(fraction, sustained_flops_per_s / peak_flops_per_s)
    best: Any = None
    for rows, columns in TILES:
        tiles = batch * _ceil(m / rows) * _ceil(n / columns)  # type: ignore[operator]
        waves = _ceil(tiles / num_multiprocessors)
        reuse = rows * columns / (rows + columns)
        efficiency = fraction * reuse / (reuse + fit.tile_reuse_half)
        tile_s = 2.0 * rows * columns * (k + fit.k_prologue) / (per_multiprocessor * efficiency)  # type: ignore[operator]
        time = waves * tile_s
        best = time if best is None else _least(best, time)
    memory = bytes_moved / (bandwidth_bytes_per_s * fit.bandwidth_fraction)  # type: ignore[operator]
    return fit.floor_s - _least(-best, -memory)


#: Winograd's F(m x m, 3 x 3): output tile side and the points of each transformed tile.
WINOGRAD_TILE = 4
WINOGRAD_POINTS = (WINOGRAD_TILE + 2) ** 2


def winograd_s(
    images: _Number,
    tiles: _Number,
    in_channels: _Number,
    out_channels: _Number,
    element_bytes: float,
    *,
    peak_flops_per_s: float,
    bandwidth_bytes_per_s: float,
    num_multiprocessors: int,
    fit: ProductKernelFit,
    sustained_flops_per_s: float | None = None,
) -> _Number:
    """Seconds of a 3x3 stride-1 convolution as Winograd F(4x4, 3x3) (without the kernel floor).

    Args:
        images: Images in the batch.
        tiles: 4x4 output tiles of all the images (``images x ceil(H / 4) x ceil(W / 4)``).
        in_channels: Input channels.
        out_channels: Output channels.
        element_bytes: Bytes per element.
        peak_flops_per_s: The device's peak for the dtype.
        bandwidth_bytes_per_s: The device's memory bandwidth.
        num_multiprocessors: Multiprocessors.
        fit: The convolution family's fit (``winograd_fraction`` scales its fraction).
        sustained_flops_per_s: What the board's power sustains (``None``: no power limit).

    Returns:
        Seconds (arrays in, arrays out).
    """
    pixels = tiles * WINOGRAD_TILE**2  # type: ignore[operator]
    data_in = element_bytes * WINOGRAD_POINTS * tiles * in_channels  # type: ignore[operator]
    data_out = element_bytes * WINOGRAD_POINTS * tiles * out_channels  # type: ignore[operator]
    filters = element_bytes * WINOGRAD_POINTS * in_channels * out_channels  # type: ignore[operator]
    products = product_s(
        WINOGRAD_POINTS,
        tiles,
        in_channels,
        out_channels,
        data_in + data_out + filters,
        peak_flops_per_s=peak_flops_per_s,
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        num_multiprocessors=num_multiprocessors,
        fit=dataclasses.replace(fit, fraction=fit.fraction * fit.winograd_fraction, floor_s=0.0),
        sustained_flops_per_s=(sustained_flops_per_s or 0.0) * fit.winograd_fraction or None,
    )
    # Input read and transformed, written and read back; output the same the other way round.
    moved = element_bytes * pixels * (in_channels + out_channels) + 2 * (data_in + data_out)  # type: ignore[operator]
    return products + moved / (bandwidth_bytes_per_s * fit.bandwidth_fraction)


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
    flop_per_joule: float | None = None


@functools.cache
def _shipped() -> dict[str, Any]:
    return load_packaged_toml("devicefit.predict", "gpu_kernels.toml")


def sustained_fp32_flops_per_s(flop_per_joule: float | None, tdp_w: float | None) -> float | None:
    """The fp32 FLOP/s a board's power limit sustains (``None`` where its node or TDP is unknown)."""
    return flop_per_joule * tdp_w if flop_per_joule and tdp_w else None


def _product_fit(values: dict[str, Any]) -> ProductKernelFit:
    return ProductKernelFit(
        fraction=values["fraction"],
        tile_reuse_half=values["tile_reuse_half"],
        k_prologue=values["k_prologue"],
        bandwidth_fraction=values["bandwidth_fraction"],
        floor_s=values["floor_s"],
        winograd_fraction=values.get("winograd_fraction", 0.0),
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
    process = link.get("process")
    power = data.get("power", {})
    joules = power["flop_per_joule_16ff"] * NODE_ENERGY[process] if process and power else None
    return KernelFamily(
        family=name,
        matmul=matmul,
        conv=_product_fit(products["conv"]),
        bandwidth_fraction=link.get("bandwidth_fraction", family["memory"]["bandwidth_fraction"]),
        kernel_floor_s=family["memory"]["floor_s"],
        family_factor=dict(family["memory"].get("family_factor", {})),
        source=how,
        flop_per_joule=joules,
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
    sustained = fit.sustained_fp32_flops_per_s if dtype == "fp32" else None
    figures: dict[str, Any] = {
        "peak_flops_per_s": device.peak(dtype),
        "bandwidth_bytes_per_s": device.bandwidth_bytes_per_s,
        "num_multiprocessors": device.num_multiprocessors,
        "fit": fit,
        "sustained_flops_per_s": sustained,
    }
    seconds = product_s(products, m, k, n, op.bytes_read + op.bytes_written, **figures)
    if _winograd_applies(op, fit, dtype):
        images = m // math.prod(op.output_size)
        tiles = images * math.prod(-(-side // WINOGRAD_TILE) for side in op.output_size)
        element_bytes = 2.0 if dtype in ("fp16", "bf16") else 4.0
        winograd = products * winograd_s(images, tiles, k // 9, n, element_bytes, **figures) + fit.floor_s
        seconds = min(seconds, winograd)
    return seconds


def _winograd_applies(op: OpCost, fit: ProductKernelFit, dtype: str) -> bool:
    # Fitted on fp32 only (tensor-core dtypes run implicit products); 2-D 3x3 stride 1.
    return (
        fit.winograd_fraction > 0
        and dtype == "fp32"
        and op.window == (3, 3)
        and op.stride == (1, 1)
        and len(op.output_size) == 2
        and all(op.output_size)
    )
