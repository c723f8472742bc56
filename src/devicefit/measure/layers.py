"""Micro-benchmarks of the memory-bound layers models are made of: norms, softmax, pooling, optimizers.

Each layer kind reaches its own share of the memory bandwidth (a batch normalization reads its input
twice; pooling keeps indices), so a prediction needs each one measured, not STREAM alone. Bytes are
counted as the model analysis counts them: every tensor read plus every tensor written.
"""

from __future__ import annotations

from collections.abc import Callable

from devicefit.analyze.shapes import lstm_layer_flops
from devicefit.measure.case import DTYPE_BYTES, Case, random_tensor
from devicefit.records.vocabulary import MAX_POOL_BENCHMARKS, Benchmark

#: Channels of the normalization and pooling benchmarks (a ResNet stage-1 width).
CHANNELS = 64


def _memory_case(
    benchmark: str,
    case_id: str,
    *,
    device: str,
    build: Callable[[], Callable[[], object]],
    elements: int,
    moved: int,
    memory_bytes: int | None = None,
) -> Case:
    """An fp32 layer kernel measured in bytes moved per second, in the sweep of its benchmark."""
    return Case(
        id=case_id,
        benchmark=benchmark,
        device=device,
        unit="B/s",
        build=build,
        dtype="fp32",
        size=elements,
        bytes_per_iteration=float(moved),
        memory_bytes=moved if memory_bytes is None else memory_bytes,
        sweep=benchmark,
    )


def batch_norm(*, device: str, n: int, side: int, backward: bool = False, training: bool = True) -> Case:
    """Batch normalization of (n, 64, side, side) fp32: training's forward or backward, or inference's.

    Inference (``training=False``) normalizes with the running statistics, a different kernel
    (``_native_batch_norm_legit_no_training``) from training's, which computes the batch's.
    """
    elements = n * CHANNELS * side * side

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((n, CHANNELS, side, side), "fp32", device)
        weight, bias = random_tensor((CHANNELS,), "fp32", device), random_tensor((CHANNELS,), "fp32", device)
        mean, var = torch.zeros(CHANNELS, device=device), torch.ones(CHANNELS, device=device)
        if not training:
            return lambda: torch.ops.aten._native_batch_norm_legit_no_training(
                x, weight, bias, mean, var, 0.1, 1e-5
            )
        if not backward:
            return lambda: torch.ops.aten.native_batch_norm(x, weight, bias, mean, var, True, 0.1, 1e-5)
        _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            x, weight, bias, mean, var, True, 0.1, 1e-5
        )
        grad = random_tensor(x.shape, "fp32", device)
        return lambda: torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, mean, var, save_mean, save_invstd, True, 1e-5, [True, True, True]
        )

    # Forward reads x, writes y; backward reads the gradient and x, writes the input's gradient.
    moved = (3 if backward else 2) * elements * DTYPE_BYTES["fp32"]
    name = (
        Benchmark.BATCH_NORM_BACKWARD
        if backward
        else (Benchmark.BATCH_NORM if training else Benchmark.BATCH_NORM_INFER)
    )
    return _memory_case(
        name,
        f"{name}.{n}x{CHANNELS}x{side}x{side}",
        device=device,
        build=build,
        elements=elements,
        moved=moved,
        memory_bytes=moved * 2,
    )


def layer_norm(*, device: str, rows: int, width: int = 768) -> Case:
    """Layer normalization over the last dimension of (rows, width) fp32, forward."""

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((rows, width), "fp32", device)
        weight, bias = random_tensor((width,), "fp32", device), random_tensor((width,), "fp32", device)
        return lambda: torch.nn.functional.layer_norm(x, (width,), weight, bias)

    moved = 2 * rows * width * DTYPE_BYTES["fp32"]
    return _memory_case(
        Benchmark.LAYER_NORM,
        f"{Benchmark.LAYER_NORM}.{rows}x{width}",
        device=device,
        build=build,
        elements=rows * width,
        moved=moved,
    )


def softmax(*, device: str, rows: int, width: int = 1024) -> Case:
    """Softmax over the last dimension of (rows, width) fp32: a row-wise reduction and a pointwise pass."""

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((rows, width), "fp32", device)
        return lambda: torch.softmax(x, dim=-1)

    moved = 2 * rows * width * DTYPE_BYTES["fp32"]
    return _memory_case(
        Benchmark.SOFTMAX,
        f"{Benchmark.SOFTMAX}.{rows}x{width}",
        device=device,
        build=build,
        elements=rows * width,
        moved=moved,
    )


def max_pool(*, device: str, n: int, side: int, kernel: int = 3, backward: bool = False) -> Case:
    """Max pooling of (n, 64, side, side) fp32 with indices, as training keeps them, forward or backward.

    ``kernel=3`` is ResNet's stem (3x3, stride 2, padding 1); ``kernel=2`` the 2x2, stride-2 pooling
    of small CNNs, which compares fewer inputs per output. The backward scatters the output's
    gradient into a zeroed gradient of the input: far cheaper than the forward, its own benchmark.
    """
    padding = 1 if kernel == 3 else 0

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((n, CHANNELS, side, side), "fp32", device)
        if not backward:
            return lambda: torch.ops.aten.max_pool2d_with_indices(x, [kernel], [2], [padding])
        out, indices = torch.ops.aten.max_pool2d_with_indices(x, [kernel], [2], [padding])
        grad = random_tensor(out.shape, "fp32", device)
        return lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, [kernel], [2], [padding], [1], False, indices
        )

    out_side = (side + 2 * padding - kernel) // 2 + 1
    in_elements, out_elements = n * CHANNELS * side * side, n * CHANNELS * out_side * out_side
    # As the analysis counts them: forward reads the input, writes the output and its int64
    # indices; backward reads the output's gradient, the input and the indices, writes the
    # input's gradient.
    if backward:
        moved = out_elements * (4 + 8) + in_elements * (4 + 4)
    else:
        moved = in_elements * 4 + out_elements * (4 + 8)
    benchmark = MAX_POOL_BENCHMARKS[kernel, backward]
    return _memory_case(
        benchmark,
        f"{benchmark}.{n}x{CHANNELS}x{side}x{side}",
        device=device,
        build=build,
        elements=in_elements,
        moved=moved,
    )


#: Time steps of the LSTM benchmark: a language model's usual truncated-backpropagation window.
LSTM_STEPS = 32


def lstm(*, device: str, batch_size: int, hidden: int, backward: bool = False) -> Case:
    """One fp32 LSTM layer of ``hidden`` units over ``LSTM_STEPS`` steps of (batch, hidden) inputs.

    A recurrent layer runs one small product per time step through the library's fused cell
    (oneDNN on CPUs, cuDNN on GPUs), at an efficiency no standalone product shows: at batch 1 a
    650-unit layer ran at half the rate of the same matrix-vector product on its own (Xeon,
    2026-12-04). Forward under ``no_grad``; ``backward`` times the gradients of the input and of both
    weights from a retained graph (twice the forward's products). The shape is the analysis's
    ``(T, B, I, 4H)``.
    """

    def build() -> Callable[[], object]:
        import torch

        layer = torch.nn.LSTM(hidden, hidden).to(device)
        x = random_tensor((LSTM_STEPS, batch_size, hidden), "fp32", device)
        if not backward:

            def forward() -> object:
                with torch.no_grad():
                    return layer(x)

            return forward
        x.requires_grad_(True)
        out, _ = layer(x)
        grad = random_tensor(tuple(out.shape), "fp32", device)
        inputs = (x, *layer.parameters())
        return lambda: torch.autograd.grad(out, inputs, grad, retain_graph=True)

    flops = lstm_layer_flops(LSTM_STEPS, batch_size, hidden, 4 * hidden, hidden)
    # Inputs and outputs of every step, and the weights once.
    moved = (2 * LSTM_STEPS * batch_size * hidden + 8 * hidden * hidden) * DTYPE_BYTES["fp32"]
    benchmark = Benchmark.LSTM_BACKWARD if backward else Benchmark.LSTM
    return Case(
        id=f"{benchmark}.fp32.h{hidden}.{batch_size}",
        benchmark=benchmark,
        device=device,
        unit="FLOP/s",
        build=build,
        dtype="fp32",
        size=batch_size,
        shape=(LSTM_STEPS, batch_size, hidden, 4 * hidden),
        flops_per_iteration=float(flops * (2 if backward else 1)),
        bytes_per_iteration=float(moved * (2 if backward else 1)),
        memory_bytes=moved * 4,
        sweep=f"{benchmark}.h{hidden}",
    )


#: Parameter tensors in the optimizer benchmark; small, so the step's cost is its per-tensor work.
OPTIMIZER_TENSORS = 64
_OPTIMIZER_ELEMENTS = 256


def optimizer_step(*, device: str, optimizer: str, num_tensors: int = OPTIMIZER_TENSORS) -> Case:
    """One ``optimizer.step()`` over small parameters: its host cost per step and per parameter tensor.

    Measured at one tensor and at many, the difference gives the cost per tensor and the rest the
    step's own (hooks, grouping, the state check) that no tensor count amortizes.
    """

    def build() -> Callable[[], object]:
        import torch

        from devicefit.measure.steps import make_optimizer

        params = [
            torch.nn.Parameter(random_tensor((_OPTIMIZER_ELEMENTS,), "fp32", device))
            for _ in range(num_tensors)
        ]
        for param in params:
            param.grad = random_tensor(param.shape, "fp32", device)
        step = make_optimizer(optimizer, iter(params))
        return step.step

    return Case(
        id=f"{Benchmark.OPTIMIZER_STEP}.{optimizer}.{num_tensors}",
        benchmark=Benchmark.OPTIMIZER_STEP,
        device=device,
        unit="s",
        build=build,
        dtype=optimizer,
        size=num_tensors,
    )


def activation(*, device: str, n: int, approximate: str = "none") -> Case:
    """GELU over n fp32 elements into a fresh output: a transcendental pointwise function.

    ``approximate="none"`` evaluates erf (as SiLU, sigmoid and exp cost about the same on CPUs);
    ``"tanh"`` evaluates tanh (GPT-2's GELU, ``torch.tanh``), several times dearer on CPUs: its own
    benchmark, ``activation_tanh``.
    """

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((n,), "fp32", device)
        return lambda: torch.nn.functional.gelu(x, approximate=approximate)

    moved = 2 * n * DTYPE_BYTES["fp32"]
    benchmark, function = (
        (Benchmark.ACTIVATION_TANH, "gelu_tanh") if approximate == "tanh" else (Benchmark.ACTIVATION, "gelu")
    )
    return _memory_case(
        benchmark, f"{benchmark}.{function}.{n}", device=device, build=build, elements=n, moved=moved
    )


def random_fill(*, device: str, n: int) -> Case:
    """``bernoulli_`` over n fp32 elements: the random numbers a dropout layer draws."""

    def build() -> Callable[[], object]:
        x = random_tensor((n,), "fp32", device)
        return lambda: x.bernoulli_(0.9)

    moved = 2 * n * DTYPE_BYTES["fp32"]
    return _memory_case(
        Benchmark.RANDOM,
        f"{Benchmark.RANDOM}.bernoulli.{n}",
        device=device,
        build=build,
        elements=n,
        moved=moved,
    )
