"""Performance models for every device a user can name: local, calibrated or not, and catalog devices.

Three sources, best first:

1. a local device calibrated with ``devicefit calibrate``: its own fitted curves;
2. a catalog device of the same architecture as a calibrated local GPU (an H200 from an H100):
   the local curves, which are fractions of peak and bandwidth, with the target's datasheet peaks,
   bandwidth, memory and multiprocessors;
3. anything else: the parametric defaults of ``defaults.toml`` for its kind and architecture,
   scaled by its datasheet figures.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any

from devicefit.catalog.cores import core_for_architecture
from devicefit.data import load_packaged_toml
from devicefit.errors import UsageError
from devicefit.predict.curves import curve_key
from devicefit.predict.gpu_kernels import kernel_family, sustained_fp32_flops_per_s
from devicefit.records import DeviceClass, DeviceDescription, DeviceModel, DeviceSpec, EfficiencyCurve
from devicefit.records.vocabulary import LAYER_KERNELS, Curve

#: Arithmetic intensities (FLOP per byte) at which default compute curves are tabulated.
_INTENSITIES = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0)
#: Bytes per call at which default memory curves are tabulated.
_SIZES = tuple(float(4**k) for k in range(5, 18))
#: Memory-kernel families every model has a curve for.
_FAMILIES = (Curve.STREAM, Curve.COPY, *LAYER_KERNELS, Curve.CONV_DEPTHWISE)
#: fp32 SIMD lanes of a CPU core by the widest vector extension in its ISA string.
_CPU_LANES = (("avx512", 16), ("avx2", 8), ("avx", 8), ("sve", 4), ("neon", 4))


@functools.cache
def _defaults() -> dict[str, Any]:
    return load_packaged_toml("devicefit.predict", "defaults.toml")


def default_parameters(kind: str, architecture: str | None) -> dict[str, Any]:
    """The default curve parameters of a device kind, with its architecture's overrides on top."""
    data = _defaults()
    merged = dict(data["kinds"]["gpu" if kind in ("cuda", "mps", "fake") else kind])
    override = data.get("architectures", {}).get(architecture or "", {})
    if override:
        merged.update({**override, "source": f"{merged['source']}; {override['source']}"})
    return merged


def _compute_curve(fraction: float, half: float) -> EfficiencyCurve:
    return EfficiencyCurve(points=tuple((i, fraction * i / (i + half)) for i in _INTENSITIES))


def _memory_curve(fraction: float, half_bytes: float) -> EfficiencyCurve:
    return EfficiencyCurve(points=tuple((b, fraction * b / (b + half_bytes)) for b in _SIZES))


def _cpu_lanes(spec: DeviceSpec) -> int | None:
    """fp32 SIMD lanes per core of a catalog CPU, from its ISA string (``None``: not a CPU, or unknown)."""
    isa = (spec.isa or "").lower()
    return next((n for name, n in _CPU_LANES if re.search(rf"\b{name}", isa)), None)


def conv_channel_block(device: DeviceDescription) -> int:
    """Output channels a device's convolutions compute together: a CPU's vector register of floats, else 1.

    oneDNN lays out a CPU convolution's channels in blocks of one register of its widest ISA
    (``nChw16c`` with AVX-512, ``nChw8c`` with AVX2), also on cores that execute AVX-512 on 256-bit
    units: on a Zen 4, 3x3 and 5x5 layers with 8 or 16 output channels take the same time, and
    with 24 or 32.
    """
    if device.kind != "cpu" or device.cpu is None:
        return 1
    features = set(device.cpu.isa_features)
    return 16 if "avx512f" in features else 8 if "avx2" in features else device.cpu.simd_fp32_lanes


def _cpu_fp32_peak(spec: DeviceSpec) -> tuple[float, str] | None:
    """Cores x fp32 lanes per FMA unit x FMA units x 2 FLOP x boost clock, where the catalog has none.

    The FMA units are those ``cpu_cores.toml`` gives the core's architecture: Zen 4 executes
    AVX-512 on two 256-bit units, so 8 lanes, not the ISA's 16. Without an entry, two units as
    wide as the widest vector extension in the catalog's ISA string, said to be an assumption.
    Returns the peak and how it was derived.
    """
    if not (spec.num_multiprocessors and spec.boost_clock_hz):
        return None
    core = core_for_architecture(spec.architecture)
    isa_lanes = _cpu_lanes(spec)
    if core is not None:
        lanes, units, how = core.fma_width_bits // 32, core.fma_units, f"{core.name}, cpu_cores.toml"
    elif isa_lanes is not None:
        lanes, units, how = isa_lanes, 2, "assumed from the ISA"
    else:
        return None
    peak = spec.num_multiprocessors * lanes * units * 2 * spec.boost_clock_hz
    return peak, f"fp32 peak derived from cores x {lanes} lanes x {units} FMA units ({how}) x 2 x boost clock"


def _peaks(spec: DeviceSpec, parameters: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    notes: list[str] = []
    peaks = {k: v for k, v in spec.peak_flops_per_s.items() if k in ("fp32", "tf32", "bf16", "fp16", "int8")}
    if "fp32" not in peaks and spec.kind == "cpu":
        derived = _cpu_fp32_peak(spec)
        if derived:
            peaks["fp32"], how = derived
            notes.append(how)
    if "fp32" not in peaks and "bf16" in peaks and spec.kind == "tpu":
        peaks["fp32"] = peaks["bf16"] / parameters.get("fp32_matmul_passes", 3)
        notes.append("fp32 products taken as three bf16 passes")
    return peaks, notes


def default_model(
    *,
    device: str,
    name: str,
    kind: str,
    architecture: str | None,
    peak_flops_per_s: dict[str, float],
    bandwidth_bytes_per_s: float,
    memory_bytes: float | None,
    num_multiprocessors: int | None = None,
    host_link_bytes_per_s: float | None = None,
    num_threads: int | None = None,
    conv_channel_block: int = 1,
    note: str = "",
    tdp_w: float | None = None,
) -> DeviceModel:
    """A device's model from the shipped defaults of its kind and architecture and its own figures."""
    p = default_parameters(kind, architecture)
    model_kind: DeviceClass = "cpu" if kind == "cpu" else ("tpu" if kind == "tpu" else "gpu")
    factors = dict(p.get("family_factor", {}))
    fraction, floor_s, source = p["bandwidth_fraction"], p["kernel_floor_s"], p["source"]
    products = {}
    if model_kind == "gpu":
        # GPUs: the kernel model fitted on published kernels (predict/gpu_kernels.py).
        fitted = kernel_family(architecture)
        fraction, floor_s = fitted.bandwidth_fraction, fitted.kernel_floor_s
        factors.update(fitted.family_factor)
        # A board's power limit caps its sustained fp32 rate (gpu_kernels.py, NODE_ENERGY).
        sustained = sustained_fp32_flops_per_s(fitted.flop_per_joule, tdp_w)
        products = {
            name: dataclasses.replace(fit, sustained_fp32_flops_per_s=sustained)
            for name, fit in (("matmul", fitted.matmul), ("conv", fitted.conv))
        }
        source = f"{fitted.source}; host costs: {p['source']}"
    half_bytes = bandwidth_bytes_per_s * floor_s
    ramp = _memory_curve(fraction, half_bytes)
    memory = {family: _memory_curve(fraction * factors.get(family, 1.0), half_bytes) for family in _FAMILIES}
    memory[Curve.STREAM] = ramp
    compute = {}
    for dtype in peak_flops_per_s:
        compute[curve_key(Curve.MATMUL, dtype)] = _compute_curve(
            p["matmul_fraction"], p["matmul_half_intensity"]
        )
        compute[curve_key(Curve.CONV, dtype)] = _compute_curve(p["conv_fraction"], p["matmul_half_intensity"])
    tile = p.get("matmul_tile")
    return DeviceModel(
        device=device,
        name=name,
        kind=model_kind,
        asynchronous=model_kind != "cpu",
        num_threads=num_threads,
        peak_flops_per_s=dict(peak_flops_per_s),
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        compute=compute,
        memory=memory,
        op_overhead_s=p["op_overhead_s"],
        backward_op_overhead_s=p["backward_op_overhead_s"],
        view_overhead_s=p["view_overhead_s"],
        module_overhead_s=p["module_overhead_s"],
        conv_overhead_s=p["conv_overhead_s"],
        host_link_bytes_per_s=host_link_bytes_per_s,
        memory_bytes=memory_bytes,
        conv_channel_block=conv_channel_block,
        num_multiprocessors=num_multiprocessors if tile else None,
        matmul_tile=(int(tile[0]), int(tile[1])) if tile else None,
        product_kernels=products,
        fp32_conv_dtype=p.get("fp32_conv_dtype", "fp32") if "tf32" in peak_flops_per_s else "fp32",
        source="uncalibrated: " + source + (f"; {note}" if note else ""),
        origin="defaults",
        error_band=p["error_band"],
    )


def catalog_default_model(spec: DeviceSpec) -> DeviceModel:
    """A catalog device's model from the defaults and its datasheet.

    Raises:
        UsageError: If the catalog lacks the figures a prediction needs (a peak, a bandwidth).
    """
    p = default_parameters(spec.kind, spec.architecture)
    peaks, notes = _peaks(spec, p)
    missing = [
        what
        for what, present in (("fp32 peak", "fp32" in peaks), ("bandwidth", spec.bandwidth_bytes_per_s))
        if not present
    ]
    if missing:
        raise UsageError(
            f"the catalog entry {spec.id} has no {' or '.join(missing)} to predict from",
            fix="Add the figure in a user catalog (--catalog FILE); see 'devicefit catalog show'",
        )
    assert spec.bandwidth_bytes_per_s is not None
    return default_model(
        device=spec.id,
        name=spec.name,
        kind=spec.kind,
        architecture=spec.architecture,
        peak_flops_per_s=peaks,
        bandwidth_bytes_per_s=spec.bandwidth_bytes_per_s,
        memory_bytes=spec.memory_bytes,
        num_multiprocessors=spec.num_multiprocessors,
        host_link_bytes_per_s=spec.host_link_bytes_per_s,
        num_threads=spec.num_multiprocessors if spec.kind == "cpu" else None,
        conv_channel_block=(_cpu_lanes(spec) or 1) if spec.kind == "cpu" else 1,
        note="; ".join(notes),
        tdp_w=spec.tdp_w,
    )


def local_default_model(device: DeviceDescription, architecture: str | None) -> DeviceModel:
    """An uncalibrated local device's model: the defaults scaled by its own peaks."""
    peaks = {
        dtype: value
        for dtype in ("fp32", "tf32", "bf16", "fp16", "int8")
        if (value := device.peak_flops_per_s(dtype))
    }
    if "fp32" not in peaks:
        peaks["fp32"] = 1e11 if device.kind == "cpu" else 1e13
    bandwidth = device.peak_bandwidth_bytes_per_s or (5e10 if device.kind == "cpu" else 1e12)
    gpu = device.gpu
    return default_model(
        device=device.id,
        name=device.name,
        kind=device.kind,
        architecture=architecture,
        peak_flops_per_s=peaks,
        bandwidth_bytes_per_s=bandwidth,
        memory_bytes=device.memory_bytes,
        num_multiprocessors=gpu.num_multiprocessors if gpu else None,
        host_link_bytes_per_s=device.host_link_bytes_per_s,
        num_threads=device.cpu.num_threads if device.cpu else None,
        conv_channel_block=conv_channel_block(device),
        note="run 'devicefit calibrate' to measure this device",
    )


def transferred_model(reference: DeviceModel, target: DeviceSpec) -> DeviceModel:
    """A catalog device's model from a calibrated device of the same architecture.

    The reference's curves are fractions of its peaks and bandwidth; the target keeps those
    fractions at its own datasheet peaks, bandwidth, memory, multiprocessors and host link, and
    the reference's host costs (the same framework on a comparable host).
    """
    peaks = dict(reference.peak_flops_per_s)
    for dtype in peaks:
        if dtype in target.peak_flops_per_s and reference.peak_flops_per_s.get(dtype):
            peaks[dtype] = target.peak_flops_per_s[dtype]
    return dataclasses.replace(
        reference,
        device=target.id,
        name=target.name,
        peak_flops_per_s=peaks,
        bandwidth_bytes_per_s=target.bandwidth_bytes_per_s or reference.bandwidth_bytes_per_s,
        memory_bytes=target.memory_bytes or reference.memory_bytes,
        num_multiprocessors=target.num_multiprocessors or reference.num_multiprocessors,
        host_link_bytes_per_s=target.host_link_bytes_per_s or reference.host_link_bytes_per_s,
        origin="transferred",
        source=f"transferred from the calibration of {reference.name} ({reference.source}) "
        f"with the datasheet figures of {target.name}",
        error_band=max(reference.error_band, 0.25),
    )
