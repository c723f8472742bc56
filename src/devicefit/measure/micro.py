"""Micro-benchmark cases: matmul, STREAM kernels, transfers, launch latency, elementwise, conv2d.

Each factory returns a ``Case`` (``measure/case.py``) whose build allocates random inputs, never
zeros. Work counts follow one convention: a multiply-add is 2 FLOPs; memory kernels count bytes
read plus bytes written, without write-allocate traffic, as STREAM does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from devicefit.measure.case import DTYPE_BYTES, Case, random_tensor, tf32_enabled
from devicefit.records.vocabulary import CONV2D_BENCHMARKS, Benchmark, DeviceKind

#: The STREAM scalar; any value not 0 or 1 keeps the multiply from being optimized away.
STREAM_SCALAR = 3.0

#: The conv2d layer measured: a ResNet stage-1 3x3 convolution (He et al. 2016, table 1).
CONV_CHANNELS = 64
CONV_SIDE = 56
CONV_KERNEL = 3


def _precision_context(
    device_kind: DeviceKind, dtype: str
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    # TF32 is switched explicitly on GPUs so fp32 means IEEE fp32 and tf32 means tensor cores.
    if device_kind == "cpu":
        return contextlib.nullcontext
    return lambda: tf32_enabled(dtype == "tf32")


def matmul(
    *,
    device: str,
    device_kind: DeviceKind,
    dtype: str,
    n: int,
    peak: float | None,
    m: int | None = None,
    k: int | None = None,
) -> Case:
    """An (m x k) by (k x n) matrix product, ``torch.matmul(a, b)``: ``2 m n k`` FLOPs; square by default.

    Rectangular products (a few rows against a wide layer) are what small batches make of linear
    layers: they use a device less well than square ones of the same work.
    """
    m, k = m or n, k or n

    def build() -> Callable[[], object]:
        import torch

        a, b = random_tensor((m, k), dtype, device), random_tensor((k, n), dtype, device)
        # A fresh output per call, as in user code; the allocator's cost is part of what users get.
        if dtype == "int8":
            return lambda: torch._int_mm(a, b)
        return lambda: torch.matmul(a, b)

    out_bytes = 4 if dtype == "int8" else DTYPE_BYTES[dtype]
    square = m == n == k
    moved = (m * k + k * n) * DTYPE_BYTES[dtype] + m * n * out_bytes
    return Case(
        id=f"{Benchmark.MATMUL}.{dtype}.{n}" if square else f"{Benchmark.MATMUL}.{dtype}.{m}x{k}x{n}",
        benchmark=Benchmark.MATMUL,
        device=device,
        unit="FLOP/s",
        build=build,
        dtype=dtype,
        size=n,
        shape=(m, k, n),
        flops_per_iteration=2.0 * m * n * k,
        bytes_per_iteration=float(moved),
        memory_bytes=moved,
        peak=peak,
        flags=("tf32",) if dtype == "tf32" else (),
        sweep=f"{Benchmark.MATMUL}.{dtype}" if square else f"{Benchmark.MATMUL}.{dtype}.{k}x{n}",
        context=_precision_context(device_kind, dtype),
    )


#: STREAM kernels: arrays touched per element (read plus written) and the PyTorch call.
STREAM_ARRAYS = {Benchmark.COPY: 2, Benchmark.SCALE: 2, Benchmark.ADD: 3, Benchmark.TRIAD: 3}


def stream(*, device: str, kernel: str, n: int, peak: float | None, dtype: str = "fp32") -> Case:
    """One STREAM kernel over arrays of ``n`` elements (McCalpin's copy, scale, add, triad)."""

    def build() -> Callable[[], object]:
        import torch

        a, b, c = (random_tensor((n,), dtype, device) for _ in range(3))
        calls: dict[str, Callable[[], object]] = {
            Benchmark.COPY: lambda: c.copy_(a),
            Benchmark.SCALE: lambda: torch.mul(c, STREAM_SCALAR, out=b),
            Benchmark.ADD: lambda: torch.add(a, b, out=c),
            Benchmark.TRIAD: lambda: torch.add(b, c, alpha=STREAM_SCALAR, out=a),
        }
        return calls[kernel]

    element_bytes = DTYPE_BYTES[dtype]
    return Case(
        id=f"{kernel}.{dtype}.{n}",
        benchmark=kernel,
        device=device,
        unit="B/s",
        build=build,
        dtype=dtype,
        size=n,
        bytes_per_iteration=float(STREAM_ARRAYS[kernel] * n * element_bytes),
        memory_bytes=3 * n * element_bytes,
        peak=peak,
        sweep=f"stream.{kernel}",
    )


def transfer(*, device: str, direction: str, num_bytes: int, pinned: bool, peak: float | None) -> Case:
    """A host-to-device (``h2d``) or device-to-host (``d2h``) copy of ``num_bytes``."""

    def build() -> Callable[[], object]:
        import torch

        host = (
            torch.randint(0, 256, (num_bytes,), dtype=torch.uint8).pin_memory()
            if pinned
            else torch.randint(0, 256, (num_bytes,), dtype=torch.uint8)
        )
        on_device = torch.empty((num_bytes,), dtype=torch.uint8, device=device)
        if direction == Benchmark.H2D:
            return lambda: on_device.copy_(host, non_blocking=pinned)
        on_device.random_(0, 256)
        return lambda: host.copy_(on_device, non_blocking=pinned)

    kind = "pinned" if pinned else "pageable"
    return Case(
        id=f"{direction}.{kind}.{num_bytes}",
        benchmark=direction,
        device=device,
        unit="B/s",
        build=build,
        size=num_bytes,
        pinned=pinned,
        bytes_per_iteration=float(num_bytes),
        memory_bytes=num_bytes,
        peak=peak,
        sweep=f"{direction}.{kind}",
    )


def launch(*, device: str, recorded: bool = False) -> Case:
    """The cost of one tiny op in a stream of them: dispatch on CPUs, kernel launch on GPUs.

    ``recorded``: its input requires a gradient, as in a training forward, so autograd also makes a
    node for the backward, saves what it needs and links it to the graph (benchmark ``recorded_op``).
    """

    def build() -> Callable[[], object]:
        import torch

        x, y = random_tensor((1,), "fp32", device), random_tensor((1,), "fp32", device)
        x.requires_grad_(recorded)
        # A fresh output, as every operator in a model allocates one.
        return lambda: torch.add(x, y)

    name = Benchmark.RECORDED_OP if recorded else Benchmark.LAUNCH
    return Case(
        id=name,
        benchmark=name,
        device=device,
        unit="s",
        build=build,
        dtype="fp32",
        size=1,
        memory_bytes=8,
    )


def elementwise(*, device: str, n: int, bandwidth_peak: float | None) -> Case:
    """``x * y`` over ``n`` fp32 elements into a fresh output: throughput against problem size."""

    def build() -> Callable[[], object]:
        import torch

        x, y = random_tensor((n,), "fp32", device), random_tensor((n,), "fp32", device)
        # A fresh output, as a model's pointwise operators allocate one.
        return lambda: torch.mul(x, y)

    bytes_per_element = 3 * DTYPE_BYTES["fp32"]
    return Case(
        id=f"{Benchmark.ELEMENTWISE}.fp32.{n}",
        benchmark=Benchmark.ELEMENTWISE,
        device=device,
        unit="elements/s",
        build=build,
        dtype="fp32",
        size=n,
        bytes_per_iteration=float(n * bytes_per_element),
        memory_bytes=n * bytes_per_element,
        sweep=Benchmark.ELEMENTWISE,
        peak=bandwidth_peak / bytes_per_element if bandwidth_peak else None,
    )


#: Elements of the first-touch benchmark: 64 MiB of fp32, above glibc's largest mmap threshold
#: (32 MiB), as a model's largest allocations are.
FIRST_TOUCH_ELEMENTS = 16 * 2**20


def first_touch(*, device: str, fresh: bool, n: int = FIRST_TOUCH_ELEMENTS) -> Case:
    """Fills ``n`` fp32 elements: a fresh mapping from the kernel each call, or the same buffer again.

    Their difference is what the first write to new memory costs (a page fault per 4 KiB page),
    which a step pays for every allocation its allocator cannot serve from memory it already holds.
    The fresh memory is mapped directly (``mmap``, as glibc maps a large allocation): an allocation
    through the allocator can be served from a free chunk that earlier work left in its heap, and in
    a process that had run the zoo it measured 0.002 us a page against 1.2 us in a fresh one.
    """
    num_bytes = n * DTYPE_BYTES["fp32"]

    def build() -> Callable[[], object]:
        import mmap

        import torch

        if fresh and not hasattr(mmap, "MAP_PRIVATE"):  # Windows: through the allocator
            return lambda: torch.empty(n, device=device).fill_(1.0)
        if fresh:

            def fill_fresh() -> None:
                private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # as malloc maps (not shared memory)
                with mmap.mmap(-1, num_bytes, flags=private) as region:
                    view = torch.frombuffer(region, dtype=torch.float32, count=n)
                    view.fill_(1.0)
                    del view  # the mapping closes only once no tensor views it

            return fill_fresh
        buffer = torch.empty(n, device=device)
        return lambda: buffer.fill_(1.0)

    return Case(
        id=f"{Benchmark.FIRST_TOUCH}.{'fresh' if fresh else 'reused'}.{n}",
        benchmark=Benchmark.FIRST_TOUCH,
        device=device,
        unit="B/s",
        build=build,
        dtype="fp32",
        size=n,
        flags=("fresh",) if fresh else (),
        bytes_per_iteration=float(num_bytes),
        memory_bytes=num_bytes,
    )


def conv2d(
    *,
    device: str,
    device_kind: DeviceKind,
    dtype: str,
    batch_size: int,
    peak: float | None,
    channels: int = CONV_CHANNELS,
    side: int = CONV_SIDE,
    kernel: int = CONV_KERNEL,
    depthwise: bool = False,
    in_channels: int | None = None,
    backward: bool = False,
    weight_only: bool = False,
) -> Case:
    """A stride-1 convolution, inference: ``2 N K (C / groups) H W R S`` FLOPs.

    The default is a ResNet stage-1 3x3 layer, 64 to 64 channels at 56x56; ``depthwise`` makes each
    channel its own group, as MobileNet's separable convolutions do; ``in_channels`` of 3 makes a
    network's first layer. ``backward`` times the layer's backward instead (``convolution_backward``
    for the input and weight gradients: twice the forward's FLOPs); with ``weight_only``, the weight's
    gradient alone (the forward's FLOPs), which is all a network's first layer computes: its input
    needs no gradient, and a reduction over every output position into a small weight runs at
    its own efficiency.
    """
    c, k = channels, kernel
    c_in = in_channels or c
    groups = c if depthwise else 1

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((batch_size, c_in, side, side), dtype, device)
        weight = random_tensor((c, c_in // groups, k, k), dtype, device)
        if backward:
            grad = random_tensor((batch_size, c, side, side), dtype, device)
            return lambda: torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                [1, 1],
                [k // 2] * 2,
                [1, 1],
                False,
                [0, 0],
                groups,
                [not weight_only, True, False],
            )

        def call() -> object:
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, weight, padding=k // 2, groups=groups)

        return call

    in_bytes = batch_size * c_in * side * side * DTYPE_BYTES[dtype]
    out_bytes = batch_size * c * side * side * DTYPE_BYTES[dtype]
    weight_bytes = c * (c_in // groups) * k * k * DTYPE_BYTES[dtype]
    default = (c, c_in, side, k, depthwise) == (CONV_CHANNELS, CONV_CHANNELS, CONV_SIDE, CONV_KERNEL, False)
    stem = f"i{c_in}." if c_in != c else ""
    layer = "" if default else f"{stem}c{c}.s{side}.k{k}{'.dw' if depthwise else ''}."
    benchmark = CONV2D_BENCHMARKS[depthwise, backward, backward and weight_only]
    # Forward reads the input and weight and writes the output; backward reads the output's
    # gradient, the input and the weight, and writes both gradients (or the weight's alone).
    moved = in_bytes + out_bytes + weight_bytes
    if backward:
        moved = moved + weight_bytes if weight_only else 2 * moved
    passes = 1 if weight_only else 2
    return Case(
        id=f"{benchmark}.{dtype}.{layer}{batch_size}",
        benchmark=benchmark,
        device=device,
        unit="FLOP/s",
        build=build,
        dtype=dtype,
        size=batch_size,
        shape=(batch_size, c_in, side, side, c, k, k),
        flops_per_iteration=2.0
        * (passes if backward else 1)
        * batch_size
        * c
        * side
        * side
        * (c_in // groups)
        * k
        * k,
        bytes_per_iteration=float(moved),
        memory_bytes=int(moved),
        peak=peak,
        flags=("tf32",) if dtype == "tf32" else (),
        sweep=f"{benchmark}.{dtype}.{layer}",
        context=_precision_context(device_kind, dtype),
    )


def conv_call(*, device: str) -> Case:
    """A 1x1 convolution of one 8x8 channel: the fixed cost of a convolution call (primitive setup)."""

    def build() -> Callable[[], object]:
        import torch

        x, weight = random_tensor((1, 1, 8, 8), "fp32", device), random_tensor((1, 1, 1, 1), "fp32", device)

        def call() -> object:
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, weight)

        return call

    return Case(
        id=Benchmark.CONV_CALL,
        benchmark=Benchmark.CONV_CALL,
        device=device,
        unit="s",
        build=build,
        dtype="fp32",
        size=1,
    )


def view(*, device: str) -> Case:
    """A metadata-only operator (``Tensor.view``): dispatch without a kernel."""

    def build() -> Callable[[], object]:
        x = random_tensor((4,), "fp32", device)
        return lambda: x.view(2, 2)

    return Case(
        id=Benchmark.VIEW,
        benchmark=Benchmark.VIEW,
        device=device,
        unit="s",
        build=build,
        dtype="fp32",
        size=1,
    )


def module_call(*, device: str) -> Case:
    """Calling an ``nn.Module`` whose forward does nothing: the Python cost every layer adds."""

    def build() -> Callable[[], object]:
        import torch

        class Passthrough(torch.nn.Module):
            def forward(self, x: Any) -> Any:
                return x

        module, x = Passthrough(), random_tensor((1,), "fp32", device)
        return lambda: module(x)

    return Case(
        id=Benchmark.MODULE_CALL,
        benchmark=Benchmark.MODULE_CALL,
        device=device,
        unit="s",
        build=build,
        size=1,
    )


#: Autograd nodes in the chain whose backward pass ``backward_op`` times.
BACKWARD_CHAIN = 64


def backward_op(*, device: str) -> Case:
    """One operator call made by the autograd engine (no Python): a chain's backward over its length."""

    def build() -> Callable[[], object]:
        x = random_tensor((1,), "fp32", device).requires_grad_()
        w = random_tensor((1,), "fp32", device)
        y = x
        for _ in range(BACKWARD_CHAIN):
            y = y * w  # each node's backward is one multiplication (w needs no gradient)
        total = y.sum()
        return lambda: total.backward(retain_graph=True)

    return Case(
        id=Benchmark.BACKWARD_OP,
        benchmark=Benchmark.BACKWARD_OP,
        device=device,
        unit="s",
        build=build,
        size=BACKWARD_CHAIN,
        calls_per_iteration=BACKWARD_CHAIN,
    )
