"""Model benchmark cases: a training step (forward, backward, optimizer) and inference, per batch size.

Each case builds the workload on the device with random weights and inputs, then times the
step the way a training loop runs it: ``zero_grad(set_to_none=True)``, forward under autocast for
mixed precision, loss, backward, ``optimizer.step()`` (PyTorch's default implementation for the
device). fp16 (``amp``) training scales the loss with a ``GradScaler``; ``tf32`` turns on PyTorch's
TF32 switches for matrix products and cuDNN while a step runs, and restores them. Inference is a
no-grad forward in eval mode. A variant copies each batch from pinned host memory first, as a
``DataLoader(pin_memory=True)`` feeds a GPU. After timing, one more step runs under the device's
allocator statistics to measure its peak memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from devicefit.measure.case import Case, tf32_enabled
from devicefit.records.vocabulary import SCALED_PRECISIONS, Benchmark, DeviceKind

if TYPE_CHECKING:
    import torch

    from devicefit.devices.base import Device
    from devicefit.workloads.base import ModelInfo, ModelInstance

#: Autocast dtypes of the precisions model benchmarks run (``vocabulary.PRECISIONS``).
PRECISION_DTYPES = {"fp32": None, "tf32": None, "bf16": "bfloat16", "fp16": "float16", "amp": "float16"}


def make_optimizer(name: str, parameters: Iterator[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer a workload names, with PyTorch's default implementation for the device."""
    import torch

    params = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=0.01)
    if name == "rmsprop-momentum":
        return torch.optim.RMSprop(params, lr=0.01, momentum=0.9)
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)


def _tensor_bytes(tensors: Any) -> int:
    import torch
    from torch.utils._pytree import tree_leaves

    seen: dict[int, int] = {}
    for tensor in tree_leaves(tensors):
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            seen[int(tensor.untyped_storage()._cdata)] = int(tensor.untyped_storage().nbytes())
    return sum(seen.values())


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


class ModelStep:
    """One training step or inference pass of a built model; callable, and able to measure its memory.

    Args:
        instance: The model, inputs and loss, on the device.
        train: A training step (else a no-grad forward in eval mode).
        precision: A name of ``vocabulary.PRECISIONS``.
        device_kind: The local backend (``cpu``, ``cuda`` or ``mps``), for autocast and transfers.
        transfer: Copy the inputs from pinned host memory in every call.
        channels_last: Convert the model and 4-D inputs to channels-last memory format.
        compile: Run the forward pass through ``torch.compile``.
    """

    def __init__(
        self,
        instance: ModelInstance,
        *,
        train: bool,
        precision: str,
        device_kind: DeviceKind,
        transfer: bool = False,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        import torch

        if channels_last:
            from devicefit.workloads.base import to_channels_last

            to_channels_last(instance)
        self.instance = instance
        self.train = train
        self.module = instance.module.train(train)
        self._forward = torch.compile(self.module) if compile else self.module
        self.optimizer = make_optimizer(instance.info.optimizer, self.module.parameters()) if train else None
        dtype = PRECISION_DTYPES[precision]
        self._autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        if dtype:
            self._autocast = lambda: torch.autocast(device_kind, dtype=getattr(torch, dtype))
        self._scaler = torch.amp.GradScaler(device_kind) if train and precision in SCALED_PRECISIONS else None
        # TF32 on for tf32 alone; fp32 keeps PyTorch's defaults (IEEE products, TF32 convolutions).
        self._switches: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        if precision == "tf32" and device_kind == "cuda":
            self._switches = lambda: tf32_enabled(True)
        tensors = [t for t in (*instance.inputs, *instance.keyword_inputs.values()) if _is_tensor(t)]
        self._device = tensors[0].device if tensors else torch.device("cpu")

        def host(value: Any) -> Any:
            if not _is_tensor(value):
                return value
            return value.cpu().pin_memory() if device_kind == "cuda" else value.cpu()

        self._host_inputs = (
            (tuple(map(host, instance.inputs)), {k: host(v) for k, v in instance.keyword_inputs.items()})
            if transfer
            else None
        )

    def _inputs(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword inputs of one call, copied from pinned host memory if transferring."""
        if self._host_inputs is None:
            return self.instance.inputs, self.instance.keyword_inputs

        def device(value: Any) -> Any:
            return value.to(self._device, non_blocking=True) if _is_tensor(value) else value

        args, kwargs = self._host_inputs
        return tuple(map(device, args)), {k: device(v) for k, v in kwargs.items()}

    def __call__(self) -> None:
        """Runs one step (or forward pass)."""
        with self._switches():
            self._run()

    def _run(self) -> None:
        import torch

        if not self.train:
            args, kwargs = self._inputs()
            with torch.no_grad(), self._autocast():
                self._forward(*args, **kwargs)
            return
        assert self.optimizer is not None
        self.optimizer.zero_grad(set_to_none=True)
        args, kwargs = self._inputs()
        with self._autocast():
            loss = self.instance.loss(self._forward(*args, **kwargs))
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    def peak_memory_bytes(self, device: Device) -> int | None:
        """Peak memory of one more steady-state call: tensors alive before it plus the allocator's growth.

        Gradients are released first, as the step's own ``zero_grad`` would, so the allocator
        reports every release it makes during the step.
        """
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        alive = [
            *self.module.parameters(),
            *self.module.buffers(),
            *self.instance.inputs,
            *self.instance.keyword_inputs.values(),
        ]
        if self.optimizer is not None:
            alive.extend(self.optimizer.state.values())
        growth = device.step_peak_bytes(self)
        return None if growth is None else _tensor_bytes(alive) + growth


def model_case(
    *,
    device: str,
    device_kind: DeviceKind,
    info: ModelInfo,
    batch_size: int,
    train: bool,
    precision: str = "fp32",
    transfer: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    num_parameters: int = 0,
    memory_bytes: int | None = None,
    sequence_length: int | None = None,
) -> Case:
    """A timed training step or inference pass of one workload at one batch size.

    Args:
        device: Device id (``cpu``, ``cuda:0``).
        device_kind: Its backend (the torch device type), for autocast.
        info: The workload.
        batch_size: Samples per step.
        train: A training step; else inference.
        precision: A name of ``vocabulary.PRECISIONS``.
        transfer: Include the host-to-device copy of each batch.
        channels_last: Channels-last memory format.
        compile: ``torch.compile`` the model.
        num_parameters: Parameter count, for the memory the case needs at least.
        memory_bytes: The memory the case needs, when known better than from the parameter count.
        sequence_length: Tokens per sample for sequence models (the workload's default if ``None``).
    """
    from devicefit.workloads import build_model

    benchmark = Benchmark.TRAIN_STEP if train else Benchmark.INFERENCE
    flags = tuple(
        flag for flag, on in (("h2d", transfer), ("channels-last", channels_last), ("compile", compile)) if on
    )
    suffix = "".join(f".{flag}" for flag in flags)

    def build() -> Callable[[], object]:
        instance = build_model(info.name, batch_size, device=device, sequence_length=sequence_length)
        return ModelStep(
            instance,
            train=train,
            precision=precision,
            device_kind=device_kind,
            transfer=transfer,
            channels_last=channels_last,
            compile=compile,
        )

    # At least the fp32 weights, and for training their gradients and two optimizer buffers.
    weights_bytes = 4 * num_parameters
    needs = memory_bytes or (4 * weights_bytes if train else weights_bytes)
    return Case(
        id=f"{benchmark}.{info.name}.{precision}.b{batch_size}{suffix}",
        benchmark=benchmark,
        device=device,
        unit="samples/s",
        build=build,
        dtype=precision,
        size=batch_size,
        flags=flags,
        memory_bytes=needs,
        model=info.name,
        sweep=f"{benchmark}.{info.name}.{precision}{suffix}",
    )


#: The batch search stops here: past it a step is no longer what the workload's batch means.
MAX_SEARCHED_BATCH = 2**16


def largest_fitting_batch(fits: Callable[[int], bool], limit: int = MAX_SEARCHED_BATCH) -> int:
    """Doubles the batch until ``fits`` fails, then bisects; 0 if batch 1 does not fit."""
    low, high = 0, 1
    while high <= limit and fits(high):
        low, high = high, 2 * high
    high = min(high, limit + 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def max_batch_case(
    *,
    device: str,
    device_kind: DeviceKind,
    info: ModelInfo,
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
    num_parameters: int = 0,
    memory_bytes: int | None = None,
    sequence_length: int | None = None,
) -> Case:
    """The largest training batch that fits on a GPU, found by running steps until out of memory."""
    from devicefit.workloads import build_model

    def evaluate(target: Device) -> float:
        import torch

        def fits(batch: int) -> bool:
            try:
                instance = build_model(info.name, batch, device=device, sequence_length=sequence_length)
                step = ModelStep(
                    instance,
                    train=True,
                    precision=precision,
                    device_kind=device_kind,
                    channels_last=channels_last,
                    compile=compile,
                )
                step()
                step()  # the second step holds the optimizer state too
                target.synchronize()
                return True
            except torch.OutOfMemoryError:
                return False
            finally:
                instance = step = None  # type: ignore[assignment]
                target.release_memory()

        return float(largest_fitting_batch(fits))

    return Case(
        id=f"{Benchmark.MAX_BATCH}.{info.name}.{precision}",
        benchmark=Benchmark.MAX_BATCH,
        device=device,
        unit="samples",
        build=lambda: lambda: None,
        dtype=precision,
        model=info.name,
        evaluate=evaluate,
        memory_bytes=16 * num_parameters,
    )
