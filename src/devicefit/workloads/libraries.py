"""Builds library models by name (``torchvision:NAME``, ``timm:NAME``, ``transformers:MODEL_TYPE``).

Weights are random and nothing is downloaded. Inputs are made up from the model's own configuration:
images of its size for image classifiers; for a transformers model, what its ``forward`` takes first
(token ids, images, or Whisper's log-mel features), plus decoder token ids for an encoder-decoder.
A library that does not import beside the installed torch is named with the build that would.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module, metadata
from importlib.util import find_spec
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

from devicefit.errors import UsageError
from devicefit.workloads.base import Factory, ModelInfo
from devicefit.workloads.user import DATA_DEPENDENT, Built, describe_error, mean_square_loss

#: Libraries reachable as ``library:NAME``; each is imported only when such a name is built.
LIBRARIES = ("torchvision", "timm", "transformers")

#: Tokens per sample fed to ``transformers`` models unless told otherwise (BERT's pre-training length).
DEFAULT_SEQUENCE_LENGTH = 128

#: Where the README says how to add these libraries without replacing the installed torch.
INSTALL_HELP = "see 'Library models' in devicefit's README"

#: Where a user factory states inputs a library model needs that devicefit does not make up.
OWN_FACTORY = "Profile it through a factory returning (model, {name: tensor}) (see examples/my_model.py)"


def is_library_model(name: str) -> bool:
    """Whether ``name`` is ``library:NAME`` for one of ``LIBRARIES``."""
    return name.strip().partition(":")[0] in LIBRARIES


def find_library_model(name: str) -> tuple[ModelInfo, Factory]:
    """Resolves ``library:NAME`` to its description and a zoo-style factory, importing the library.

    Raises:
        UsageError: The library is missing or does not import beside this torch, or has no such model.
    """
    library, _, model = name.strip().partition(":")
    _import(library)
    if library == "transformers":
        return _transformers_model(model, name)
    if library == "torchvision":
        import torchvision

        if model not in torchvision.models.list_models(module=torchvision.models):
            raise UsageError(
                f"torchvision has no classification model {model!r}", fix="See torchvision.models"
            )
    else:
        import timm

        if not timm.is_model(model):
            raise UsageError(f"timm has no model {model!r}", fix="See timm.list_models()")
    info = ModelInfo(
        name=name,
        family="user",
        description=f"{library} {model}, random weights, random 3x224x224 images or its own size",
        default_batch_size=32,
        benchmark_batch_sizes=(1, 4, 16),
        optimizer="sgd-momentum",
        source=library,
    )

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        if sequence_length is not None:
            raise UsageError(f"{name} takes no sequence length", fix="Leave the sequence length out")
        with _building(library, model), torch.device(device):
            return _vision_model(library, model, batch_size, device)

    return info, factory


@contextlib.contextmanager
def _building(library: str, model: str) -> Iterator[None]:
    """Turns what a library raises while building a model into one line; data-dependent ops pass."""
    try:
        yield
    except (UsageError, *DATA_DEPENDENT):
        raise
    except Exception as error:
        raise UsageError(
            f"{library} raised {describe_error(error)} while building {model!r}",
            fix="Rerun with --debug for the traceback",
        ) from error


def _import(library: str) -> ModuleType:
    """Imports ``library``, naming the fix when it is missing or built for another torch."""
    if find_spec(library) is None:
        raise UsageError(
            f"{library} is not installed, so {library}:NAME models cannot be built",
            fix=f"{install_line(library)} ({INSTALL_HELP})",
        )
    try:
        return import_module(library)
    except Exception as error:
        # timm imports torchvision, whose compiled operators fail to register beside another torch.
        if "torchvision" in f"{error}" or library == "torchvision":
            raise UsageError(
                f"{torchvision_mismatch()}: {describe_error(error)}",
                fix=f"Install the matching build: {install_line(library)} ({INSTALL_HELP})",
            ) from error
        raise UsageError(
            f"importing {library} raised {describe_error(error)}",
            fix=f"Reinstall it for this torch: {install_line(library)} ({INSTALL_HELP})",
        ) from error


def torchvision_release(torch_version: str) -> str | None:
    """The torchvision release built with a torch release: 0.(N+15) for torch 2.N (torchvision's table)."""
    match = re.match(r"2\.(\d+)", torch_version)
    return f"0.{int(match.group(1)) + 15}" if match else None


def install_line(library: str) -> str:
    """The pip command that adds ``library`` and keeps the installed torch (its release and its build).

    pip must satisfy every requirement on one line, so naming the installed torch release keeps it;
    torchvision must also be the release built with that torch and, for a labelled build (``+cpu``,
    ``+cu126``, ``+rocm6.4``), come from the PyTorch index of that label, as torch did.
    """
    release, _, variant = torch.__version__.partition("+")
    keep_torch = f"torch=={release}"
    if library == "transformers":
        return f"pip install transformers {keep_torch}"
    vision_release = torchvision_release(release)
    torchvision = f"torchvision~={vision_release}.0" if vision_release else "torchvision"
    index = f" --index-url https://download.pytorch.org/whl/{variant}" if variant else ""
    vision = f"pip install {torchvision} {keep_torch}{index}"
    if library == "torchvision":
        return vision
    return f"{vision}, then pip install timm {keep_torch} {torchvision}" if index else f"{vision} timm"


def torchvision_mismatch() -> str:
    """Why the installed torchvision does not fit the installed torch, as far as package metadata tells."""
    try:
        version = metadata.version("torchvision")
        requires = metadata.requires("torchvision") or []
    except metadata.PackageNotFoundError:
        return "torchvision is not installed"
    wanted = next((m.group(1) for r in requires if (m := re.match(r"torch\s*\(?==\s*([\w.]+)", r))), None)
    installed, _, variant = torch.__version__.partition("+")
    if wanted is not None and wanted != installed:
        return f"torchvision {version} is built for torch {wanted}, not the installed {torch.__version__}"
    if variant != version.partition("+")[2]:
        # PyTorch's own indexes label builds (+cpu, +cu126); PyPI's unlabelled Linux wheels are CUDA builds.
        if "+" not in version:
            return f"torchvision {version} is PyPI's CUDA build but torch is {torch.__version__}"
        return f"torchvision {version} and torch {torch.__version__} are different builds"
    return f"torchvision {version} does not import beside torch {torch.__version__}"


def _vision_model(library: str, model: str, batch_size: int, device: str) -> Built:
    """A torchvision or timm image classifier, with cross-entropy against random classes."""
    if library == "torchvision":
        import torchvision

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


@dataclass(frozen=True, slots=True)
class _Feed:
    """One keyword input of a transformers model: its shape after the batch, and token ids' bound."""

    name: str
    shape: tuple[int, ...]
    #: Token ids are drawn below this (the vocabulary size); ``None`` for float values.
    vocab_size: int | None = None
    #: The most tokens the model's positions allow, for token inputs; ``None`` when unbounded.
    max_tokens: int | None = None


def _setting(config: Any, name: str, part: str) -> Any:
    """``config.name``, else the same setting of the text or vision part (CLIP's ``text_config``)."""
    value = getattr(config, name, None)
    return value if value is not None else getattr(getattr(config, part, None), name, None)


def _feeds(config: Any, parameters: list[str], length: int) -> list[_Feed]:
    """The inputs devicefit makes for a model whose ``forward`` takes ``parameters``, ``length`` tokens."""
    feeds = []
    vocab_size = _setting(config, "vocab_size", "text_config")
    if "input_ids" in parameters and vocab_size:
        limit = _setting(config, "max_position_embeddings", "text_config")
        feeds.append(_Feed("input_ids", (length,), vocab_size, limit))
    if "pixel_values" in parameters:
        side = _setting(config, "image_size", "vision_config") or 224
        height, width = (side, side) if isinstance(side, int) else tuple(side)[:2]
        feeds.append(
            _Feed("pixel_values", (_setting(config, "num_channels", "vision_config") or 3, height, width))
        )
    mel_bins, source_positions = (
        getattr(config, "num_mel_bins", None),
        getattr(config, "max_source_positions", None),
    )
    if "input_features" in parameters and mel_bins and source_positions:
        # Whisper's encoder halves its frames with a stride-2 convolution and insists on exactly
        # 2 x max_source_positions of them (3,000 frames of 10 ms: 30 s of audio).
        feeds.append(_Feed("input_features", (mel_bins, 2 * source_positions)))
    if "decoder_input_ids" in parameters and getattr(config, "is_encoder_decoder", False) and vocab_size:
        limit = getattr(config, "max_target_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        feeds.append(_Feed("decoder_input_ids", (length,), vocab_size, limit))
    return feeds


def _transformers_model(model_type: str, name: str) -> tuple[ModelInfo, Factory]:
    """A HuggingFace base model of ``model_type`` from its default config, fed inputs made from it."""
    from transformers import MODEL_MAPPING, AutoConfig, AutoModel

    try:
        config = AutoConfig.for_model(model_type)
    except ValueError as error:
        raise UsageError(
            f"transformers has no model type {model_type!r}",
            fix="Name a model_type such as bert, gpt2, t5, vit",
        ) from error
    try:
        model_class: Any = MODEL_MAPPING[type(config)]
    except KeyError as error:
        raise UsageError(f"transformers has no base model for {model_type!r}", fix=OWN_FACTORY) from error
    # The mapping may give several classes for one config; the first is the base model.
    if isinstance(model_class, tuple):
        model_class = next(cls for cls in model_class if cls is not None)
    parameters = list(inspect.signature(model_class.forward).parameters)[1:]
    planned = _feeds(config, parameters, DEFAULT_SEQUENCE_LENGTH)
    if not parameters or parameters[0] not in {feed.name for feed in planned}:
        wanted = parameters[0] if parameters else "no named input"
        raise UsageError(
            f"devicefit cannot make inputs for {name}: its forward takes {wanted}", fix=OWN_FACTORY
        )
    limits = [feed.max_tokens for feed in planned if feed.vocab_size and feed.max_tokens]
    tokens = any(feed.vocab_size for feed in planned)
    length = min([DEFAULT_SEQUENCE_LENGTH, *limits]) if tokens else None
    shapes = ", ".join(
        f"{feed.name} ({feed.shape[0]} tokens)"
        if feed.vocab_size
        else f"{feed.name} ({'x'.join(map(str, feed.shape))})"
        for feed in _feeds(config, parameters, length or 1)
    )
    info = ModelInfo(
        name=name,
        family="transformer" if tokens else "user",
        description=f"transformers {model_type}, random weights, random {shapes}",
        default_batch_size=8 if tokens else 32,
        benchmark_batch_sizes=(1, 2, 4) if tokens else (1, 4, 16),
        optimizer="adamw",
        sequence_length=length,
        source="transformers",
        synthesized_inputs=tuple(feed.name for feed in planned),
    )

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        if sequence_length is not None and not tokens:
            raise UsageError(f"{name} takes no sequence length", fix="Leave the sequence length out")
        feeds = _feeds(config, parameters, sequence_length or length or 1)
        for feed in feeds:
            if feed.max_tokens is not None and feed.shape[0] > feed.max_tokens:
                raise UsageError(
                    f"{name} takes at most {feed.max_tokens} tokens in {feed.name}",
                    fix="Pass a shorter sequence",
                )
        with _building("transformers", model_type), torch.device(device):
            module = AutoModel.from_config(config)
            inputs = {
                feed.name: torch.randint(0, feed.vocab_size, (batch_size, *feed.shape))
                if feed.vocab_size
                else torch.randn(batch_size, *feed.shape)
                for feed in feeds
            }
        return module, inputs, mean_square_loss

    return info, factory
