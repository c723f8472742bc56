"""Replays a model's training step and inference on fake tensors, recording every ATen call and allocation.

A fake tensor (``torch._subclasses.FakeTensorMode``) has a shape, a dtype and a device but no data, so
a 70-billion-parameter model runs its forward and backward passes here without memory. A
``TorchDispatchMode`` sees every ATen operator call: PyTorch's FLOP counter formulas
(``torch.utils.flop_counter``) give the FLOPs where they cover the operator, ``analyze/opclass.py``
the conventions for the rest; bytes are the sizes of the tensors read and written. A simulated
allocator (``analyze/allocator.py``) follows every storage from its first appearance to its release,
rounding sizes as the device's allocator does, which yields the peak memory.

The trade-off: the fake step runs CPU kernel selection (autocast, attention backend) and knows
nothing of library workspaces; ``analyze/memory.py`` adds the optimizer, ``predict/`` the devices.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import (
    conv_flop_count,
    flop_registry,
    sdpa_backward_flop_count,
    sdpa_flop_count,
    shape_wrapper,
)
from torch.utils.module_tracker import ModuleTracker

from devicefit.analyze.allocator import Allocator, Snapshot, nbytes, replay_timeline, storage_key
from devicefit.analyze.opclass import VIEWS, classify, convention_flops
from devicefit.analyze.shapes import conv_channel_blocking, conv_gemm_shape, lstm_layer_flops
from devicefit.records import OpCost
from devicefit.workloads import build_model
from devicefit.workloads.base import ModelInstance

#: Precisions ``profile`` accepts: fp32, or autocast mixed precision with bf16 or fp16 compute.
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: The batch the real-CPU fallback traces when a model cannot run on fake tensors.
FALLBACK_BATCH = 2

_DTYPE_NAMES = {
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.float64: "fp64",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}

#: Operators asked about tensor metadata, not run: skipped like PyTorch's FLOP counter skips them.
_METADATA = {
    torch.ops.aten.is_contiguous.default,
    torch.ops.aten.is_contiguous.memory_format,
    torch.ops.aten.size.default,
    torch.ops.aten.sym_size.default,
    torch.ops.aten.stride.default,
    torch.ops.aten.sym_stride.default,
    torch.ops.aten.storage_offset.default,
    torch.ops.aten.sym_storage_offset.default,
    torch.ops.aten.numel.default,
    torch.ops.aten.sym_numel.default,
    torch.ops.aten.dim.default,
    torch.ops.prim.layout.default,
    torch.ops.prim.device.default,
}


def _cpu_flash_forward(
    query: Any, key: Any, value: Any, *args: Any, out_val: Any = None, **kwargs: Any
) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward(
    grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_val: Any = None, **kwargs: Any
) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def _conv_backward(
    grad_out: Any,
    x: Any,
    w: Any,
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    _groups: int,
    output_mask: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    # PyTorch's formula counts the weight gradient of a grouped convolution as if it were dense
    # (groups times too many: 32x for a depthwise layer of 32 channels). Each gradient of a
    # convolution costs what the forward convolution costs, so count that, once per gradient asked for.
    forward = conv_flop_count(x, w, grad_out, transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def _lstm_layer(x: Any, w_ih: Any, w_hh: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
    gates, inputs = w_ih
    return lstm_layer_flops(x[0], x[1], inputs, gates, w_hh[1])


def _lstm_layer_backward(x: Any, w_ih: Any, w_hh: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
    # Gradients of input, hidden state and both weights: two of each forward product.
    return 2 * _lstm_layer(x, w_ih, w_hh)


#: PyTorch's formulas, plus: the CPU flash-attention kernels fake CPU tensors select (same counts
#: as the CUDA flash kernels PyTorch covers), oneDNN's LSTM layer, and a grouped-convolution fix.
FLOP_FORMULAS = {
    **flop_registry,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: shape_wrapper(_cpu_flash_forward),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: shape_wrapper(_cpu_flash_backward),
    torch.ops.aten.convolution_backward: shape_wrapper(_conv_backward),
    torch.ops.aten.mkldnn_rnn_layer: shape_wrapper(_lstm_layer),
    torch.ops.aten.mkldnn_rnn_layer_backward: shape_wrapper(_lstm_layer_backward),
}


@dataclass
class Trace:
    """What one traced pass recorded: every op, the tensors saved for backward, the peak.

    ``snapshots`` holds what was live after each allocation of the pass, ``end`` what was live
    once it finished (weights, inputs and, after a backward pass, the gradients).
    """

    ops: list[OpCost] = field(default_factory=list)
    activation_bytes: float = 0.0
    activations_by_module: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    peak_bytes: float = 0.0
    num_module_calls: int = 0
    snapshots: list[Snapshot] = field(default_factory=list)
    end: Snapshot = Snapshot("end", 0, 0, 0, 0)


class _Recorder(TorchDispatchMode):
    """Records every ATen call: class, module, phase, FLOPs and bytes; feeds the allocator."""

    def __init__(self, tracker: ModuleTracker, allocator: Allocator, trace: Trace, root: str) -> None:
        super().__init__()
        self.tracker, self.allocator, self.trace, self.root = tracker, allocator, trace, root
        self.phase = "forward"
        #: The module whose forward created each autograd node, for attributing backward ops.
        self.node_modules: dict[Any, str] = {}

    def module(self) -> str:
        """The module an op belongs to: in backward, the one whose forward made the running node."""
        if self.phase == "backward":
            node = torch._C._current_autograd_node()
            if node is not None and node in self.node_modules:
                return self.node_modules[node]
        names = [n for n in self.tracker.parents if n != "Global"]
        if not names:
            return ""
        innermost = max(names, key=lambda n: n.count("."))
        return innermost.removeprefix(self.root).removeprefix(".")

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _METADATA:
            return func(*args, **kwargs)
        packet = func._overloadpacket
        if packet not in FLOP_FORMULAS:
            # As PyTorch's FLOP counter does: count the parts of a composite operator.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        self._record(func, packet, args, kwargs, out)
        self.allocator.track(out)
        return out

    def _record(self, func: Any, packet: Any, args: Any, kwargs: Any, out: Any) -> None:
        name = packet.__name__
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        inputs = list({id(t): t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}.values())
        op_class = classify(
            name, pointwise=torch.Tag.pointwise in func.tags, reduction=torch.Tag.reduction in func.tags
        )
        if packet in FLOP_FORMULAS:
            flops: float | None = float(FLOP_FORMULAS[packet](*args, **kwargs, out_val=out))
        else:
            flops = convention_flops(
                name,
                op_class,
                input_elements=sum(t.numel() for t in inputs),
                output_elements=sum(t.numel() for t in outputs),
            )
        is_view = name in VIEWS
        self.trace.ops.append(
            OpCost(
                name=name,
                op_class=op_class,
                module=self.module(),
                phase=self.phase,
                flops=flops,
                bytes_read=0.0 if is_view else float(sum(nbytes(t) for t in inputs)),
                bytes_written=0.0 if is_view else float(sum(nbytes(t) for t in outputs)),
                dtype=_DTYPE_NAMES.get(outputs[0].dtype, str(outputs[0].dtype)) if outputs else "",
                detail=_detail(name, args, kwargs),
                shape=_matmul_shape(name, args, outputs),
                channel_blocking=_channel_blocking(name, args, outputs),
            )
        )


def _matmul_shape(name: str, args: Any, outputs: list[torch.Tensor]) -> tuple[int, ...]:
    """(M, K, N) of a matrix product or a convolution's implicit one; (T, B, I, 4H) of a recurrent layer."""
    if name in ("convolution", "convolution_backward"):
        # Forward: (input, weight, bias, stride, padding, dilation, transposed, ...) -> output;
        # backward: (grad_output, input, weight, ...): the output's shape is grad_output's.
        weight, transposed = (args[1], args[6]) if name == "convolution" else (args[2], args[7])
        out = outputs[0] if name == "convolution" else args[0]
        if transposed or out.dim() < 3:
            return ()
        return conv_gemm_shape(
            int(out.shape[0]),
            [int(d) for d in out.shape[2:]],
            int(weight.shape[1]),
            [int(d) for d in weight.shape[2:]],
            int(weight.shape[0]),
        )
    if name in ("mm", "bmm", "_int_mm"):
        a, b = args[0], args[1]
    elif name in ("addmm", "baddbmm"):
        a, b = args[1], args[2]
    elif name in ("mkldnn_rnn_layer", "mkldnn_rnn_layer_backward"):
        # (T, B, I, 4H): input (T, B, I) (time-major here, whatever the module's batch_first) and
        # input weights (4H, I); the input product spans all steps, the recurrent one runs per step.
        x, w_ih = args[0], args[1]
        return (int(x.shape[0]), int(x.shape[1]), int(w_ih.shape[1]), int(w_ih.shape[0]))
    else:
        return ()
    return (int(a.shape[-2]), int(a.shape[-1]), int(b.shape[-1]))


def _channel_blocking(name: str, args: Any, outputs: list[torch.Tensor]) -> str:
    """When a CPU runs a convolution channel-blocked (``conv_channel_blocking``); ``""`` for other ops."""
    if name not in ("convolution", "convolution_backward"):
        return ""
    # Forward: (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups);
    # backward: (grad_output, input, weight, bias_sizes, stride, padding, dilation, ...).
    x, weight, stride, dilation, transposed, groups = (
        (args[0], args[1], args[3], args[5], args[6], args[8])
        if name == "convolution"
        else (args[1], args[2], args[4], args[6], args[7], args[9])
    )
    if transposed or x.dim() < 3:
        return ""
    dtype = outputs[0].dtype if name == "convolution" else x.dtype
    return conv_channel_blocking(
        batch=int(x.shape[0]),
        input_elements=int(x.numel()),
        kernel=[int(size) for size in weight.shape[2:]],
        strided=any(int(v) != 1 for v in (*stride, *dilation)),
        groups=int(groups),
        dtype=_DTYPE_NAMES.get(dtype, str(dtype)),
    )


def _detail(name: str, args: Any, kwargs: dict[str, Any]) -> str:
    """Marks what changes an operator's efficiency beyond its size.

    Depthwise convolutions, and backward passes of the weight's gradient alone; tanh-approximate
    GELU (GPT-2's): on CPUs, tanh costs several times erf, so the two GELUs run at different
    speeds; 2x2 max pooling, which compares fewer inputs per output than ResNet's 3x3.
    """
    if name in ("gelu", "gelu_backward") and kwargs.get("approximate") == "tanh":
        return "tanh"
    if name == "max_pool2d_with_indices" and list(args[1]) in ([2], [2, 2]):
        return "2x2"
    if name in ("convolution", "convolution_backward"):
        weight = args[1] if name == "convolution" else args[2]
        groups = args[8] if name == "convolution" else args[9]
        if groups > 1 and weight.shape[1] == 1:
            return "depthwise"
        # A first layer's backward: its input needs no gradient (output_mask[0] is False).
        if name == "convolution_backward" and not args[10][0]:
            return "weight_only"
    return ""


def _autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    dtype = PRECISIONS[precision]
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()


class _NodeOwners(TorchFunctionMode):
    """Notes, above autograd, which module's forward created each autograd node."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if self.recorder.phase == "forward":
            for tensor in tree_leaves(out):
                node = getattr(tensor, "grad_fn", None) if isinstance(tensor, torch.Tensor) else None
                if node is not None and node not in self.recorder.node_modules:
                    self.recorder.node_modules[node] = self.recorder.module()
        return out


@contextlib.contextmanager
def _recording(instance: ModelInstance, granule: int) -> Iterator[tuple[_Recorder, Trace, Allocator]]:
    trace, allocator = Trace(), Allocator(granule)
    allocator.track([*instance.module.parameters(), *instance.module.buffers()])
    allocator.num_weights = len(allocator.sizes)
    allocator.track(tree_leaves((instance.inputs, instance.keyword_inputs)))
    root = type(instance.module).__name__

    def count_call(*_: Any) -> None:
        trace.num_module_calls += 1

    counting = torch.nn.modules.module.register_module_forward_pre_hook(count_call)
    try:
        with ModuleTracker() as tracker:
            recorder = _Recorder(tracker, allocator, trace, root)
            with recorder, _NodeOwners(recorder):
                yield recorder, trace, allocator
            recorder.node_modules.clear()
    finally:
        counting.remove()
    trace.peak_bytes = allocator.peak
    trace.snapshots, trace.end = replay_timeline(allocator)


def _trace_train(instance: ModelInstance, precision: str, granule: int) -> Trace:
    module = instance.module.train()
    weights = {storage_key(t) for t in (*module.parameters(), *module.buffers())}
    with _recording(instance, granule) as (recorder, trace, allocator):
        saved: set[int] = set()

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            key = storage_key(tensor)
            if key not in weights and key not in saved:
                saved.add(key)
                size = int(tensor.untyped_storage().nbytes())
                trace.activation_bytes += size
                trace.activations_by_module[recorder.module()] += size
            serial = allocator.serial(tensor)
            if serial is not None and serial >= allocator.num_weights:
                allocator.activations.add(serial)
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            with _autocast(precision):
                loss = instance.loss(module(*instance.inputs, **instance.keyword_inputs))
            recorder.phase = "backward"
            allocator.backward_start = len(allocator.timeline)
            loss.backward()
        del loss
        for parameter in module.parameters():
            serial = None if parameter.grad is None else allocator.serial(parameter.grad)
            if serial is not None:
                allocator.gradients.add(serial)
    module.zero_grad(set_to_none=True)
    return trace


def _trace_infer(instance: ModelInstance, precision: str, granule: int) -> Trace:
    module = instance.module.eval()
    with _recording(instance, granule) as (_, trace, _), torch.no_grad(), _autocast(precision):
        module(*instance.inputs, **instance.keyword_inputs)
    module.train()
    return trace


@dataclass(frozen=True, slots=True)
class Traced:
    """A model traced at one batch size: its (fake) instance, training step and inference pass."""

    batch_size: int
    instance: ModelInstance
    train: Trace
    infer: Trace


def trace_model(
    name: str, batch_size: int, sequence_length: int | None, precision: str, granule: int, fake: bool
) -> Traced:
    """Builds a model (on fake CPU tensors, or real ones) and traces a training step and inference.

    Args:
        name: The model, as ``build_model`` takes it.
        batch_size: Samples per step.
        sequence_length: Tokens per sample for sequence models.
        precision: A key of ``PRECISIONS``.
        granule: Allocation rounding of the simulated allocator, in bytes.
        fake: Trace on fake tensors (no memory); ``False`` runs real CPU tensors.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() if fake else contextlib.nullcontext():
        instance = build_model(name, batch_size, device="cpu", sequence_length=sequence_length)
        train = _trace_train(instance, precision, granule)
        infer = _trace_infer(instance, precision, granule)
    return Traced(batch_size=batch_size, instance=instance, train=train, infer=infer)
