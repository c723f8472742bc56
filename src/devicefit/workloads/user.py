"""Builds the models users name: their own factories and torchvision, timm or transformers models."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from devicefit.errors import UsageError
from devicefit.workloads.base import Factory, ModelInfo

Built = tuple[nn.Module, tuple[Any, ...], Callable[[Any], torch.Tensor]]

#: Libraries reachable as ``library:NAME``; each is imported only when such a name is built.
LIBRARIES = ("torchvision", "timm", "transformers")

PROTOCOL = (
    "A factory takes batch_size and returns (module, inputs) or (module, inputs, loss_fn): an nn.Module, "
    "a tensor or tuple of tensors, and a callable turning the output into a scalar"
)

#: Batch size of a factory whose ``batch_size`` parameter has no integer default.
DEFAULT_BATCH_SIZE = 16

#: Longest quoted exception message, in characters, so that an error stays one readable line.
MAX_MESSAGE_CHARS = 160

#: Tokens per sample fed to ``transformers`` models unless told otherwise (BERT's pre-training length).
DEFAULT_SEQUENCE_LENGTH = 128


def is_user_model(name: str) -> bool:
    """Whether ``name`` refers to a user factory or a library model rather than to the zoo."""
    return (":" in name and not name.strip().lower().startswith("decoder:")) or name.endswith(".py")


def find_user_model(name: str) -> tuple[ModelInfo, Factory]:
    """Resolves a user model name to its description and a zoo-style factory.

    Args:
        name: ``path/to/file.py:factory``, ``package.module:factory`` or ``library:NAME``.

    Returns:
        The description (family ``user``) and a ``factory(batch_size, sequence_length, device)``.

    Raises:
        UsageError: The file, module, attribute or library is missing.
    """
    target, _, attribute = name.strip().rpartition(":")
    if not target or not attribute:
        raise UsageError(f"model {name!r} names no factory", fix=f"Write {name.rstrip(':')}:FUNCTION")
    if target in LIBRARIES:
        return _library_model(target, attribute, name)
    user_factory = getattr(_load_module(target), attribute, None)
    if user_factory is None:
        raise UsageError(
            f"{target} has no attribute {attribute!r}", fix=f"Define {attribute}(batch_size) in it"
        )
    if not callable(user_factory):
        raise UsageError(f"{name} is not callable", fix=PROTOCOL)
    parameters = _parameters(user_factory)
    default = parameters["batch_size"].default if "batch_size" in parameters else None
    batch_size = default if isinstance(default, int) and default >= 1 else DEFAULT_BATCH_SIZE
    length_default = parameters["sequence_length"].default if "sequence_length" in parameters else None
    doc = inspect.getdoc(user_factory)
    info = ModelInfo(
        name=name,
        family="user",
        description=doc.splitlines()[0] if doc else f"user model from {name}",
        default_batch_size=batch_size,
        benchmark_batch_sizes=tuple(sorted({1, max(1, batch_size // 4), batch_size})),
        optimizer="adamw",
        sequence_length=length_default if isinstance(length_default, int) else None,
        source=target,
    )
    return info, _wrap(name, user_factory, takes_length="sequence_length" in parameters)


def _parameters(function: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    """The named parameters of ``function``, empty when Python cannot introspect it."""
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def _load_module(target: str) -> ModuleType:
    """Imports a ``.py`` file (through ``spec_from_file_location``) or an importable module."""
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise UsageError(
                f"model file {target} not found", fix="Check the path (relative to this directory)"
            )
        # A name unique per path, registered so that dataclasses and pickling inside the file work.
        module_name = f"devicefit_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {target}", fix="Name a Python source file ending in .py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise UsageError(f"importing {target} raised {_describe(error)}", fix="Fix the file") from error
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name is None or not target.startswith(error.name):
            # The module exists but one of its own imports is missing.
            raise UsageError(
                f"importing {target} raised {_describe(error)}", fix="Install what it imports"
            ) from error
        raise UsageError(
            f"cannot import module {target!r}",
            fix="Install it or add it to PYTHONPATH; for a file write file.py:name",
        ) from error
    except Exception as error:
        raise UsageError(f"importing {target} raised {_describe(error)}", fix="Fix the module") from error


def _describe(error: BaseException) -> str:
    """``ValueError: first line of the message``, for one-line errors."""
    message = str(error).strip().splitlines()
    if not message:
        return type(error).__name__
    # Some libraries list every valid name in the message; the start says what went wrong.
    first = message[0] if len(message[0]) <= MAX_MESSAGE_CHARS else message[0][:MAX_MESSAGE_CHARS] + "..."
    return f"{type(error).__name__}: {first}"


def _wrap(name: str, user_factory: Callable[..., Any], *, takes_length: bool) -> Factory:
    """Turns ``user_factory(batch_size)`` into a zoo factory that checks the protocol and places tensors."""

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        if sequence_length is not None and not takes_length:
            raise UsageError(
                f"model factory {name} takes no sequence_length", fix="Add a sequence_length parameter to it"
            )
        kwargs = {"sequence_length": sequence_length} if sequence_length is not None else {}
        try:
            with torch.device(device):
                returned = user_factory(batch_size, **kwargs)
        except UsageError:
            raise
        except Exception as error:
            raise UsageError(
                f"model factory {name} raised {_describe(error)}", fix="Rerun with --debug for the traceback"
            ) from error
        module, inputs, loss = _check_protocol(name, returned)
        target = torch.device(device)
        try:
            # Only a module that is elsewhere moves: .to() swaps parameters, which fake tensors refuse.
            if not all(_is_on(tensor, target) for tensor in (*module.parameters(), *module.buffers())):
                module = module.to(target)
            inputs = tuple(tensor if _is_on(tensor, target) else tensor.to(target) for tensor in inputs)
        except (NotImplementedError, RuntimeError) as error:
            raise UsageError(
                f"model factory {name} built tensors that cannot move to {device}: {_describe(error)}",
                fix="Create them on the current device (the factory runs under torch.device(device))",
            ) from error
        return module, inputs, loss or mean_square_loss

    return factory


def _is_on(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether ``tensor`` lives on ``device`` (``cuda`` matches any ``cuda:N``)."""
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


def _check_protocol(name: str, returned: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...], Any]:
    """Splits a factory's return value, raising ``UsageError`` with the protocol when it does not fit."""
    if not isinstance(returned, (tuple, list)) or len(returned) not in (2, 3):
        raise UsageError(f"model factory {name} returned {type(returned).__name__}", fix=PROTOCOL)
    module, inputs, *rest = returned
    loss = rest[0] if rest else None
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    if not isinstance(module, nn.Module):
        raise UsageError(
            f"model factory {name} returned a {type(module).__name__} as its module", fix=PROTOCOL
        )
    if not isinstance(inputs, (tuple, list)) or not all(isinstance(item, torch.Tensor) for item in inputs):
        raise UsageError(f"model factory {name} returned inputs that are not tensors", fix=PROTOCOL)
    if loss is not None and not callable(loss):
        raise UsageError(f"model factory {name} returned a loss_fn that is not callable", fix=PROTOCOL)
    return module, tuple(inputs), loss


def mean_square_loss(output: Any) -> torch.Tensor:
    """The default loss: the mean of the squares of every floating-point element in the output.

    Args:
        output: A tensor, or tuples, lists, dicts and dataclasses (HF ``ModelOutput`` too) holding tensors.

    Returns:
        A scalar tensor.

    Raises:
        UsageError: The output holds no floating-point tensor.
    """
    tensors = list(_floating_tensors(output))
    if not tensors:
        raise UsageError(
            "the model output holds no floating-point tensor", fix="Return a loss_fn from the factory"
        )
    total = torch.stack([tensor.float().square().sum() for tensor in tensors]).sum()
    return total / sum(tensor.numel() for tensor in tensors)


def _floating_tensors(value: Any) -> Iterator[torch.Tensor]:
    """Walks nested containers, yielding floating-point tensors."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _floating_tensors(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _floating_tensors(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _floating_tensors(getattr(value, field.name))


def _library_model(library: str, model: str, name: str) -> tuple[ModelInfo, Factory]:
    """A torchvision, timm or transformers model with random weights; nothing is downloaded."""
    if importlib.util.find_spec(library) is None:
        raise UsageError(
            f"{library} is not installed, so {name!r} cannot be built", fix=f"pip install {library}"
        )
    is_text = library == "transformers"
    info = ModelInfo(
        name=name,
        family="transformer" if is_text else "user",
        description=f"{library} {model}, random weights, "
        + (
            f"{DEFAULT_SEQUENCE_LENGTH} random token ids"
            if is_text
            else "random 3x224x224 images or its own size"
        ),
        default_batch_size=8 if is_text else 32,
        benchmark_batch_sizes=(1, 2, 4) if is_text else (1, 4, 16),
        optimizer="adamw" if is_text else "sgd-momentum",
        sequence_length=DEFAULT_SEQUENCE_LENGTH if is_text else None,
        source=library,
    )

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        if sequence_length is not None and not is_text:
            raise UsageError(f"{name} takes no sequence length", fix="Leave the sequence length out")
        try:
            with torch.device(device):
                if is_text:
                    return _transformers_model(
                        model, batch_size, sequence_length or DEFAULT_SEQUENCE_LENGTH, device
                    )
                return _vision_model(library, model, batch_size, device)
        except UsageError:
            raise
        except Exception as error:
            raise UsageError(
                f"{library} could not build {model!r}: {_describe(error)}", fix="Check the name"
            ) from error

    return info, factory


def _vision_model(library: str, model: str, batch_size: int, device: str) -> Built:
    """A torchvision or timm image classifier, with cross-entropy against random classes."""
    if library == "torchvision":
        import torchvision

        if model not in torchvision.models.list_models(module=torchvision.models):
            raise UsageError(
                f"torchvision has no classification model {model!r}", fix="See torchvision.models"
            )
        # Inception v3's auxiliary head needs its native 299x299 input in training mode.
        side = 299 if model.startswith("inception") else 224
        module, num_classes, shape = torchvision.models.get_model(model, weights=None), 1000, (3, side, side)
    else:
        import timm

        module = timm.create_model(model, pretrained=False)
        num_classes, shape = module.num_classes, (3, 224, 224)
        # Some timm models are fixed to their own image size (vit_*_384).
        shape = tuple(getattr(module, "pretrained_cfg", {}).get("input_size", shape))
    images = torch.randn(batch_size, *shape, device=device)
    targets = torch.randint(0, num_classes, (batch_size,), device=device)

    def loss(output: Any) -> torch.Tensor:
        # Inception and GoogLeNet return (logits, aux_logits) in training mode.
        logits = output[0] if isinstance(output, tuple) else output
        return F.cross_entropy(logits, targets)

    return module, (images,), loss


def _transformers_model(model_type: str, batch_size: int, sequence_length: int, device: str) -> Built:
    """A HuggingFace base model of ``model_type`` from its default config, fed random token ids."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(model_type)
    module = AutoModel.from_config(config)
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and sequence_length > limit:
        raise UsageError(
            f"transformers:{model_type} takes at most {limit} tokens", fix="Pass a shorter sequence"
        )
    tokens = torch.randint(0, config.vocab_size, (batch_size, sequence_length), device=device)
    return module, (tokens,), mean_square_loss
