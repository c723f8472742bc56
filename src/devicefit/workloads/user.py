"""Builds the models users write: factories named ``file.py:function`` or ``package.module:function``."""

from __future__ import annotations

import dataclasses
import functools
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
from torch import nn
from torch._subclasses.fake_tensor import DataDependentOutputException, DynamicOutputShapeException

from devicefit.errors import UsageError
from devicefit.workloads.base import Factory, ModelInfo
from devicefit.workloads.zoo import DECODER_PREFIX, MLP_PREFIX

Inputs = tuple[Any, ...] | dict[str, Any]
Built = tuple[nn.Module, Inputs, Callable[[Any], torch.Tensor]]

PROTOCOL = (
    "A factory takes batch_size and returns (module, inputs) or (module, inputs, loss_fn): an nn.Module, "
    "a tensor, a tuple of tensors or a dict of keyword inputs, and a callable turning the output into a "
    "scalar"
)

#: What a factory cannot do on fake tensors (read a value, size an output by its values): the
#: analysis then builds the model on real CPU tensors rather than failing.
DATA_DEPENDENT = (DataDependentOutputException, DynamicOutputShapeException)

#: Batch size of a factory whose ``batch_size`` parameter has no integer default.
DEFAULT_BATCH_SIZE = 16

#: Longest quoted exception message, in characters, so that an error stays one readable line.
MAX_MESSAGE_CHARS = 160


def is_user_model(name: str) -> bool:
    """Whether ``name`` refers to a user factory or a library model rather than to the zoo."""
    zoo_spec = name.strip().lower().startswith((DECODER_PREFIX, MLP_PREFIX))
    return (":" in name and not zoo_spec) or name.endswith(".py")


def find_user_model(name: str) -> tuple[ModelInfo, Factory]:
    """Resolves a user model name to its description and a zoo-style factory.

    Args:
        name: ``path/to/file.py:factory`` or ``package.module:factory``.

    Returns:
        The description (family ``user``) and a ``factory(batch_size, sequence_length, device)``.

    Raises:
        UsageError: The file, module or attribute is missing, or the factory takes no batch size.
    """
    target, _, attribute = name.strip().rpartition(":")
    attribute, _, options = attribute.partition(",")
    if not target or not attribute:
        raise UsageError(f"model {name!r} names no factory", fix=f"Write {name.rstrip(':')}:FUNCTION")
    user_factory = getattr(_load_module(target), attribute, None)
    if user_factory is None:
        raise UsageError(
            f"{target} has no attribute {attribute!r}", fix=f"Define {attribute}(batch_size) in it"
        )
    if not callable(user_factory):
        raise UsageError(f"{name} is not callable", fix=PROTOCOL)
    introspected = _parameters(user_factory)
    parameters = introspected if introspected is not None else {}
    batch_by_name = _passes_batch_by_name(parameters) if introspected is not None else False
    if batch_by_name is None:
        raise UsageError(
            f"model factory {name} takes no batch_size parameter",
            fix=f"Define it as {attribute}(batch_size) and make inputs of batch_size samples",
        )
    sizes = _size_arguments(name, options, parameters if introspected is not None else None)
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
    return info, _wrap(
        name,
        functools.partial(user_factory, **sizes) if sizes else user_factory,
        takes_length="sequence_length" in parameters,
        batch_by_name=bool(batch_by_name),
    )


def _size_arguments(
    name: str, options: str, parameters: Mapping[str, inspect.Parameter] | None
) -> dict[str, int]:
    """The integer keyword arguments after the factory's name: ``file.py:make,width=512`` -> ``width=512``.

    They size the model (``crossover --sweep width`` names one model per width this way); each must be
    a parameter of the factory.

    Raises:
        UsageError: An option is not ``name=integer``, or the factory takes no such parameter.
    """
    sizes: dict[str, int] = {}
    for pair in filter(None, (part.strip() for part in options.split(","))):
        key, _, text = (part.strip() for part in pair.partition("="))
        if not key.isidentifier() or not text.lstrip("-").isdecimal():
            raise UsageError(
                f"model option {pair!r} of {name} is not name=integer",
                fix="Write e.g. file.py:make,width=512",
            )
        takes = (
            parameters is None
            or key in parameters
            or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        )
        if not takes or key in ("batch_size", "sequence_length"):
            raise UsageError(
                f"model factory {name.partition(',')[0]} takes no {key} parameter",
                fix=f"Add a {key} parameter to it, or drop {key}= from the name",
            )
        sizes[key] = int(text)
    return sizes


def _parameters(function: Callable[..., Any]) -> Mapping[str, inspect.Parameter] | None:
    """The named parameters of ``function``, ``None`` when Python cannot introspect it."""
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None


def _passes_batch_by_name(parameters: Mapping[str, inspect.Parameter]) -> bool | None:
    """How a factory takes the batch size: by position (``False``), as ``batch_size=`` (``True``), or not.

    The first parameter takes it by position (``make(batch_size)``, ``make(n)``, ``make(*args)``);
    a keyword-only ``batch_size`` or a ``**kwargs`` takes it by name; ``None`` when neither can.
    """
    first = next(iter(parameters.values()), None)
    if first is not None and first.kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    ):
        return first.name != "batch_size" and "batch_size" in parameters
    by_name = "batch_size" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    return True if by_name else None


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
            raise UsageError(
                f"importing {target} raised {describe_error(error)}", fix="Fix the file"
            ) from error
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name is None or not target.startswith(error.name):
            # The module exists but one of its own imports is missing.
            raise UsageError(
                f"importing {target} raised {describe_error(error)}", fix="Install what it imports"
            ) from error
        raise UsageError(
            f"cannot import module {target!r}",
            fix="Install it or add it to PYTHONPATH; for a file write file.py:name",
        ) from error
    except Exception as error:
        raise UsageError(
            f"importing {target} raised {describe_error(error)}", fix="Fix the module"
        ) from error


def describe_error(error: BaseException) -> str:
    """``ValueError: first line of the message``, for one-line errors."""
    message = str(error).strip().splitlines()
    if not message:
        return type(error).__name__
    # Some libraries list every valid name in the message; the start says what went wrong.
    first = message[0] if len(message[0]) <= MAX_MESSAGE_CHARS else message[0][:MAX_MESSAGE_CHARS] + "..."
    return f"{type(error).__name__}: {first}"


def _wrap(name: str, user_factory: Callable[..., Any], *, takes_length: bool, batch_by_name: bool) -> Factory:
    """Turns ``user_factory(batch_size)`` into a zoo factory that checks the protocol and places tensors."""

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        if sequence_length is not None and not takes_length:
            raise UsageError(
                f"model factory {name} takes no sequence_length", fix="Add a sequence_length parameter to it"
            )
        kwargs: dict[str, Any] = {"sequence_length": sequence_length} if sequence_length is not None else {}
        if batch_by_name:
            kwargs["batch_size"] = batch_size
        try:
            with torch.device(device):
                returned = user_factory(**kwargs) if batch_by_name else user_factory(batch_size, **kwargs)
        except (UsageError, *DATA_DEPENDENT):
            raise
        except Exception as error:
            raise UsageError(
                f"model factory {name} raised {describe_error(error)}",
                fix="Rerun with --debug for the traceback",
            ) from error
        module, inputs, loss = _check_protocol(name, returned)
        target = torch.device(device)

        def place(value: Any) -> Any:
            on = not isinstance(value, torch.Tensor) or _is_on(value, target)
            return value if on else value.to(target)

        try:
            # Only a module that is elsewhere moves: .to() swaps parameters, which fake tensors refuse.
            if not all(_is_on(tensor, target) for tensor in (*module.parameters(), *module.buffers())):
                module = module.to(target)
            if isinstance(inputs, dict):
                inputs = {key: place(value) for key, value in inputs.items()}
            else:
                inputs = tuple(place(tensor) for tensor in inputs)
        except (NotImplementedError, RuntimeError) as error:
            raise UsageError(
                f"model factory {name} built tensors that cannot move to {device}: {describe_error(error)}",
                fix="Create them on the current device (the factory runs under torch.device(device))",
            ) from error
        return module, inputs, loss or mean_square_loss

    return factory


def _is_on(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether ``tensor`` lives on ``device`` (``cuda`` matches any ``cuda:N``)."""
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


def _check_protocol(name: str, returned: Any) -> tuple[nn.Module, Inputs, Any]:
    """Splits a factory's return value, raising ``UsageError`` with the protocol when it does not fit.

    Inputs are a tensor, a tuple of tensors (``module(*inputs)``) or a dict of keyword inputs
    (``module(**inputs)``), whose values may also be flags such as ``use_cache=False``.
    """
    if not isinstance(returned, (tuple, list)) or len(returned) not in (2, 3):
        raise UsageError(f"model factory {name} returned {type(returned).__name__}", fix=PROTOCOL)
    module, inputs, *rest = returned
    loss = rest[0] if rest else None
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    if not isinstance(module, nn.Module):
        raise UsageError(
            f"model factory {name} returned a {type(module).__name__} as its module", fix=PROTOCOL
        )
    if isinstance(inputs, Mapping):
        if not inputs or not all(isinstance(key, str) for key in inputs):
            raise UsageError(f"model factory {name} returned a dict of inputs without names", fix=PROTOCOL)
        if not any(isinstance(value, torch.Tensor) for value in inputs.values()):
            raise UsageError(f"model factory {name} returned keyword inputs without a tensor", fix=PROTOCOL)
    elif not isinstance(inputs, (tuple, list)) or not all(isinstance(item, torch.Tensor) for item in inputs):
        raise UsageError(f"model factory {name} returned inputs that are not tensors", fix=PROTOCOL)
    if loss is not None and not callable(loss):
        raise UsageError(f"model factory {name} returned a loss_fn that is not callable", fix=PROTOCOL)
    return module, dict(inputs) if isinstance(inputs, Mapping) else tuple(inputs), loss


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
