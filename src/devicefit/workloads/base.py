"""The workload interface: a model, example inputs for a batch size, a loss, and a default optimizer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Optimizers a workload may name as its default (``analyze/memory.py`` knows their state sizes).
#: ``rmsprop`` is ``torch.optim.RMSprop``'s default (no momentum); ``rmsprop-momentum`` adds momentum,
#: as NVIDIA's EfficientNet recipes train.
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "rmsprop", "rmsprop-momentum")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What ``devicefit models`` lists about a workload.

    Attributes:
        name: Lowercase id: ``resnet50``, ``gpt2``, ``decoder-70b``, or ``file.py:factory`` for user models.
        family: ``mlp``, ``cnn``, ``rnn``, ``transformer`` or ``user``.
        description: One line: the architecture, its input, its source.
        default_batch_size: The batch ``profile`` and ``bench --model`` use unless told otherwise.
        benchmark_batch_sizes: Batch sizes ``bench --suite models`` sweeps (``--quick`` takes the first two);
            empty for presets meant for analysis only (``bench --model NAME`` still runs them).
        optimizer: Default optimizer, one of ``OPTIMIZERS``.
        sequence_length: Default tokens per sample for sequence models, else ``None``.
        source: The paper or reference implementation the architecture follows.
        synthesized_inputs: The keyword inputs devicefit makes up for a library model (``input_ids``,
            ``pixel_values``...), named when the model rejects them; empty where a factory made them.
    """

    name: str
    family: str
    description: str
    default_batch_size: int
    benchmark_batch_sizes: tuple[int, ...]
    optimizer: str
    sequence_length: int | None = None
    source: str = ""
    synthesized_inputs: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class ModelInstance:
    """A built model: not a record, since it holds live modules and tensors.

    Attributes:
        info: The workload's description.
        module: The model, on the device it was built on (``meta`` for analysis).
        inputs: Positional arguments of one forward call, batch dimension first.
        keyword_inputs: Keyword arguments of the same call (an encoder-decoder's ``decoder_input_ids``).
        loss: Turns the forward output into a scalar loss (targets are closed over).
        batch_size: Samples in ``inputs``.
        sequence_length: Tokens per sample, for sequence models.
    """

    info: ModelInfo
    module: torch.nn.Module
    inputs: tuple[Any, ...]
    loss: Callable[[Any], torch.Tensor]
    batch_size: int
    sequence_length: int | None = None
    keyword_inputs: dict[str, Any] = field(default_factory=dict)


#: Builds a workload: ``factory(batch_size, sequence_length, device)`` returns the module, the
#: inputs (a tuple of positional arguments or a dict of keyword arguments) and the loss, all created
#: on ``device`` (the module under ``torch.device(device)``).
Factory = Callable[
    [int, "int | None", str],
    "tuple[torch.nn.Module, tuple[Any, ...] | dict[str, Any], Callable[[Any], torch.Tensor]]",
]


def to_channels_last(instance: ModelInstance) -> ModelInstance:
    """Converts a built model and its 4-D inputs to channels-last memory format, in place; returns it.

    What ``model.to(memory_format=torch.channels_last)`` and ``x.contiguous(memory_format=...)`` do in
    a training script: 4-D weights (convolutions') and inputs are stored NHWC; other tensors keep
    their layout.
    """
    import torch

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() == 4:
            return value.contiguous(memory_format=torch.channels_last)
        return value

    # ``module.to(memory_format=...)`` swaps fake parameters for new ones, which fake tensors refuse
    # ("Couldn't swap Conv2d.weight"); assigning ``.data`` is what it does for plain tensors.
    with torch.no_grad():
        for tensor in (*instance.module.parameters(), *instance.module.buffers()):
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    instance.inputs = tuple(convert(t) for t in instance.inputs)
    instance.keyword_inputs = {k: convert(t) for k, t in instance.keyword_inputs.items()}
    return instance
