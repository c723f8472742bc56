"""Workloads by name: list and describe the zoo, and build zoo, custom-decoder and user models."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

import torch

from devicefit.errors import UsageError
from devicefit.workloads.base import OPTIMIZERS, Factory, ModelInfo, ModelInstance
from devicefit.workloads.decoder import DecoderConfig
from devicefit.workloads.initialization import skipping_initialization
from devicefit.workloads.libraries import find_library_model, is_library_model
from devicefit.workloads.user import find_user_model, is_user_model, mean_square_loss
from devicefit.workloads.zoo import ZOO, decoder_factory, find

__all__ = [
    "OPTIMIZERS",
    "DecoderConfig",
    "ModelInfo",
    "ModelInstance",
    "build_decoder",
    "build_model",
    "list_models",
    "mean_square_loss",
    "model_info",
]


def list_models(pattern: str = "*") -> list[ModelInfo]:
    """Lists the zoo, grouped by family and smallest first, like ``timm.list_models``.

    Args:
        pattern: Shell-style filter on the name (``resnet*``, ``*gpt*``), case-insensitive.
    """
    return [info for name, (info, _) in ZOO.items() if fnmatch.fnmatchcase(name, pattern.lower())]


def model_info(name: str) -> ModelInfo:
    """Describes any model ``build_model`` accepts, without building it.

    Raises:
        UsageError: The name is unknown or its file, module or library is missing.
    """
    return _find(name)[0]


def build_model(
    name: str, batch_size: int | None = None, *, device: str = "meta", sequence_length: int | None = None
) -> ModelInstance:
    """Builds a model with random weights and a random batch of inputs.

    Names:

    - a zoo name (``list_models()``): ``mlp``, ``resnet50``, ``gpt2``, ``decoder-70b``...;
    - a custom decoder, ``decoder:key=value,...`` (``decoder:width=2048,depth=24,heads=16,seq=512``); keys
      are the ``DecoderConfig`` fields, plus ``like=PRESET`` to start from a preset and ``seq=TOKENS``;
    - a user factory, ``path/to/file.py:function`` or ``package.module:function`` (examples/my_model.py);
    - a library model, ``torchvision:resnet18``, ``timm:NAME``, ``transformers:MODEL_TYPE``, if installed.

    Args:
        name: A name as above.
        batch_size: Samples per step; the model's ``default_batch_size`` if ``None``.
        device: Where to create weights and inputs: ``meta`` (no memory, for analysis), ``cpu``, ``cuda``...
        sequence_length: Tokens per sample for sequence models; the model's default if ``None``.

    Returns:
        The module (in training mode), its inputs and its loss.

    Raises:
        UsageError: The name, batch size, sequence length or device is invalid, or a user factory failed.
    """
    info, factory = _find(name)
    return _build(info, factory, batch_size, device, sequence_length)


def build_decoder(
    config: DecoderConfig, batch_size: int = 8, *, device: str = "meta", sequence_length: int | None = None
) -> ModelInstance:
    """Builds a decoder of any shape from a ``DecoderConfig``; what ``decoder:...`` names do from Python.

    Args:
        config: The decoder's shape.
        batch_size: Samples per step.
        device: Where to create weights and inputs.
        sequence_length: Tokens per sample; ``config.max_positions`` if ``None``.
    """
    info = ModelInfo(
        name="decoder",
        family="transformer",
        description=f"custom decoder ({config})",
        default_batch_size=batch_size,
        benchmark_batch_sizes=(1, 2, 4),
        optimizer="adamw",
        sequence_length=config.max_positions,
        source="devicefit Decoder (GPT-2/Llama-2 layout)",
    )
    return _build(info, decoder_factory("decoder", config), batch_size, device, sequence_length)


def _find(name: str) -> tuple[ModelInfo, Factory]:
    """Dispatches a name to the library loader, the user loader or the zoo."""
    if is_library_model(name):
        return find_library_model(name)
    return find_user_model(name) if is_user_model(name) else find(name)


def _build(
    info: ModelInfo, factory: Factory, batch_size: int | None, device: str, sequence_length: int | None
) -> ModelInstance:
    """Checks the arguments, runs the factory and wraps its result."""
    batch = info.default_batch_size if batch_size is None else batch_size
    if batch < 1:
        raise UsageError(f"batch size must be at least 1, got {batch}", fix="Pass a positive --batch")
    if sequence_length is not None and sequence_length < 1:
        raise UsageError(
            f"sequence length must be at least 1, got {sequence_length}", fix="Pass a positive length"
        )
    if sequence_length is not None and info.sequence_length is None and info.family != "user":
        raise UsageError(f"{info.name} takes no sequence length", fix="Leave the sequence length out")
    try:
        torch.device(device)
    except RuntimeError as error:
        raise UsageError(f"unknown device {device!r}", fix="Use meta, cpu, cuda, cuda:1 or mps") from error
    length = sequence_length or info.sequence_length
    # Parameters' values are irrelevant to an analysis: tensors without data skip their initializers.
    with skipping_initialization():
        module, inputs, loss = factory(batch, length, device)
    module.train()
    keyword_inputs = dict(inputs) if isinstance(inputs, Mapping) else {}
    return ModelInstance(
        info=info,
        module=module,
        inputs=() if keyword_inputs else tuple(inputs),
        keyword_inputs=keyword_inputs,
        loss=loss,
        batch_size=batch,
        sequence_length=length,
    )
