"""Micro-benchmarks of the memory-bound layers models are made of: norms, softmax, pooling, optimizers.

Each layer kind reaches its own share of the memory bandwidth (a batch normalization reads its input
twice; pooling keeps indices), so a prediction needs each one measured, not STREAM alone. Bytes are
counted as the model analysis counts them: every tensor read plus every tensor written.
"""

from __future__ import annotations

from collections.abc import Callable

from devicefit.measure.micro import DTYPE_BYTES, Case, random_tensor

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


def batch_norm(*, device: str, n: int, side: int, backward: bool = False) -> Case:
    """Training-mode batch normalization of (n, 64, side, side) fp32, forward or backward."""
    elements = n * CHANNELS * side * side

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((n, CHANNELS, side, side), "fp32", device)
        weight, bias = random_tensor((CHANNELS,), "fp32", device), random_tensor((CHANNELS,), "fp32", device)
        mean, var = torch.zeros(CHANNELS, device=device), torch.ones(CHANNELS, device=device)
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
    name = "batch_norm_backward" if backward else "batch_norm"
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
        "layer_norm",
        f"layer_norm.{rows}x{width}",
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
        "softmax", f"softmax.{rows}x{width}", device=device, build=build, elements=rows * width, moved=moved
    )


def max_pool(*, device: str, n: int, side: int) -> Case:
    """3x3, stride-2 max pooling of (n, 64, side, side) fp32 with indices, as training keeps them."""

    def build() -> Callable[[], object]:
        import torch

        x = random_tensor((n, CHANNELS, side, side), "fp32", device)
        return lambda: torch.nn.functional.max_pool2d(x, 3, 2, 1, return_indices=True)

    out_side = (side + 1) // 2
    out_elements = n * CHANNELS * out_side * out_side
    # Reads the input, writes the output and its int64 indices.
    moved = n * CHANNELS * side * side * 4 + out_elements * (4 + 8)
    return _memory_case(
        "max_pool",
        f"max_pool.{n}x{CHANNELS}x{side}x{side}",
        device=device,
        build=build,
        elements=n * CHANNELS * side * side,
        moved=moved,
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
        id=f"optimizer_step.{optimizer}.{num_tensors}",
        benchmark="optimizer_step",
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
        ("activation_tanh", "gelu_tanh") if approximate == "tanh" else ("activation", "gelu")
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
        "random", f"random.bernoulli.{n}", device=device, build=build, elements=n, moved=moved
    )
