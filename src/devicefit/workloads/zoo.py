"""The reference model zoo: each name's description and factory, random weights and synthetic inputs."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from devicefit.errors import UsageError
from devicefit.workloads.base import Factory, ModelInfo
from devicefit.workloads.convnets import efficientnet, resnext101_32x4d, se_resnext101_32x4d
from devicefit.workloads.decoder import PRESETS, Decoder, DecoderConfig, parse_decoder_spec
from devicefit.workloads.language import BertModel, LSTMLanguageModel
from devicefit.workloads.vision import MLP, CifarCNN, MobileNetV2, VisionTransformer, resnet18, resnet50

Built = tuple[nn.Module, tuple[Any, ...], Callable[[Any], torch.Tensor]]

#: The prefix of the custom-decoder name syntax, ``decoder:width=2048,depth=24,heads=16``.
DECODER_PREFIX = "decoder:"
#: The prefix of the zoo MLP at another size, ``mlp:width=512,depth=3`` (hidden width and layers).
MLP_PREFIX = "mlp:"
#: The zoo MLP's hidden layers and their width (784-1024-1024-10).
MLP_WIDTH, MLP_DEPTH = 1024, 2

#: Separates an ImageNet convnet's name from the image size it runs at: ``efficientnet-b4@320``.
RESOLUTION_SEPARATOR = "@"
#: Image sizes a resolution suffix may ask for, in pixels: five stride-2 stages need 32 to leave one
#: pixel, and 2048 (four times ImageNet's usual crops) bounds what anyone trains these models at.
RESOLUTION_RANGE = (32, 2048)


def _cross_entropy(targets: torch.Tensor, index: int | None = None) -> Callable[[Any], torch.Tensor]:
    """A loss over logits (..., classes) against integer ``targets`` (...), from output ``[index]`` if set."""

    def loss(output: Any) -> torch.Tensor:
        logits = output if index is None else output[index]
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten())

    return loss


def _image_classifier(make: Callable[[], nn.Module], shape: tuple[int, ...], num_classes: int) -> Factory:
    """A factory for an image model: random images of ``shape`` (C, H, W) and random class targets."""

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        with torch.device(device):
            module = make()
        images = torch.randn(batch_size, *shape, device=device)
        targets = torch.randint(0, num_classes, (batch_size,), device=device)
        return module, (images,), _cross_entropy(targets)

    return factory


def _lstm_lm(batch_size: int, sequence_length: int | None, device: str) -> Built:
    """Zaremba "medium": random word ids in, cross-entropy against random next words at every position."""
    length = sequence_length or 35
    with torch.device(device):
        module = LSTMLanguageModel()
    tokens = torch.randint(0, 10_000, (batch_size, length), device=device)
    targets = torch.randint(0, 10_000, (batch_size, length), device=device)
    return module, (tokens,), _cross_entropy(targets)


def _bert(batch_size: int, sequence_length: int | None, device: str) -> Built:
    """BERT-base: random tokens and segment ids, masked-LM cross-entropy at every position."""
    length = _check_length("bert-base", sequence_length or 128, 512)
    with torch.device(device):
        module = BertModel()
    tokens = torch.randint(0, 30_522, (batch_size, length), device=device)
    token_types = torch.randint(0, 2, (batch_size, length), device=device)
    targets = torch.randint(0, 30_522, (batch_size, length), device=device)
    return module, (tokens, token_types), _cross_entropy(targets, index=0)


def decoder_factory(name: str, config: DecoderConfig) -> Factory:
    """A factory for a decoder: random token ids in, next-token cross-entropy at every position.

    Args:
        name: The model name, for error messages.
        config: The decoder's shape.
    """

    def factory(batch_size: int, sequence_length: int | None, device: str) -> Built:
        length = _check_length(name, sequence_length or config.max_positions, config.max_positions)
        with torch.device(device):
            module = Decoder(config)
        tokens = torch.randint(0, config.vocab_size, (batch_size, length), device=device)
        targets = torch.randint(0, config.vocab_size, (batch_size, length), device=device)
        return module, (tokens,), _cross_entropy(targets)

    return factory


def _check_length(name: str, length: int, max_positions: int) -> int:
    """Returns ``length`` if the model's position table covers it, else raises ``UsageError``."""
    if not 1 <= length <= max_positions:
        raise UsageError(
            f"{name} takes sequences of 1 to {max_positions} tokens, not {length}",
            fix=f"Pass a sequence length of at most {max_positions}",
        )
    return length


_PAPERS = {
    "gpt2": "Radford et al. 2019, Language Models are Unsupervised Multitask Learners; HuggingFace gpt2",
    "llama": "Touvron et al. 2023, Llama 2: Open Foundation and Fine-Tuned Chat Models (shape only)",
}
_IMAGENET = "3x224x224 ImageNet images, 1000 classes"


def _decoder_info(
    name: str, sequence_length: int, description: str, source: str, *, benchmarked: bool = True
) -> ModelInfo:
    """The description of a decoder preset or custom decoder (``benchmarked=False``: analysis only)."""
    return ModelInfo(
        name=name,
        family="transformer",
        description=description,
        default_batch_size=8,
        benchmark_batch_sizes=(1, 2, 4) if benchmarked else (),
        optimizer="adamw",
        sequence_length=sequence_length,
        source=source,
    )


#: ImageNet convnets, which global average pooling makes indifferent to the image size: each also
#: answers to ``NAME@PIXELS``.
_RESIZABLE: dict[str, Callable[[], nn.Module]] = {
    "mobilenet-v2": MobileNetV2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnext101-32x4d": resnext101_32x4d,
    "se-resnext101-32x4d": se_resnext101_32x4d,
    "efficientnet-b0": lambda: efficientnet("b0"),
    "efficientnet-widese-b0": lambda: efficientnet("b0", wide_se=True),
    "efficientnet-b4": lambda: efficientnet("b4"),
    "efficientnet-widese-b4": lambda: efficientnet("b4", wide_se=True),
}

_DLE = "NVIDIA DeepLearningExamples PyTorch/Classification/ConvNets"
_WIDE_SE = "DLE's WideSE: SE bottleneck a quarter of the expanded width, not of the input width"


def _dle_convnets() -> list[tuple[ModelInfo, Factory]]:
    """The ImageNet convnets of NVIDIA's published PyTorch benchmarks, for analysis and GPU prediction.

    Analysis only (no ``bench`` sweep): a 2-core CPU takes seconds per step of any of them, and their
    published throughputs are on GPUs. ``bench --model NAME`` still runs them.
    """
    resnext = "cardinality 32, 4 channels per group, stride in the 3x3 (v1.5)"
    b4_size = "380x380 as in the paper; DLE trains at efficientnet-b4@320, infers at @384"
    rows = (
        (
            "resnext101-32x4d",
            224,
            f"ResNeXt-101 32x4d, {resnext}; {_IMAGENET}",
            f"Xie et al. 2017, Aggregated Residual Transformations; {_DLE} resnext101-32x4d",
        ),
        (
            "se-resnext101-32x4d",
            224,
            f"SE-ResNeXt-101 32x4d, SE reduction 16, {resnext}; {_IMAGENET}",
            f"Hu et al. 2018, Squeeze-and-Excitation Networks; {_DLE} se-resnext101-32x4d",
        ),
        (
            "efficientnet-b0",
            224,
            f"EfficientNet-B0, MBConv with SE and SiLU, stochastic depth; {_IMAGENET}",
            f"Tan and Le 2019, EfficientNet; {_DLE} efficientnet",
        ),
        (
            "efficientnet-widese-b0",
            224,
            f"EfficientNet-WideSE-B0 ({_WIDE_SE}); {_IMAGENET}",
            f"{_DLE} efficientnet (widese); Tan and Le 2019",
        ),
        (
            "efficientnet-b4",
            380,
            f"EfficientNet-B4 (width 1.4, depth 1.8), {b4_size}; 1000 classes",
            f"Tan and Le 2019, EfficientNet; {_DLE} efficientnet",
        ),
        (
            "efficientnet-widese-b4",
            380,
            f"EfficientNet-WideSE-B4 ({_WIDE_SE}), {b4_size}; 1000 classes",
            f"{_DLE} efficientnet (widese); Tan and Le 2019",
        ),
    )
    entries = []
    for name, pixels, description, source in rows:
        # DLE's EfficientNets train with RMSprop (configs.yml), its ResNeXts with SGD and momentum.
        optimizer = "rmsprop-momentum" if name.startswith("efficientnet") else "sgd-momentum"
        info = ModelInfo(
            name=name,
            family="cnn",
            description=description,
            default_batch_size=32,
            benchmark_batch_sizes=(),
            optimizer=optimizer,
            source=source,
        )
        entries.append((info, _image_classifier(_RESIZABLE[name], (3, pixels, pixels), 1000)))
    return entries


def _resized(name: str, pixels_text: str) -> tuple[ModelInfo, Factory]:
    """A resizable convnet at ``pixels_text`` x ``pixels_text`` images (``efficientnet-b4@320``)."""
    if name not in _RESIZABLE:
        raise UsageError(
            f"{name!r} takes no image size",
            fix=f"An image size ({RESOLUTION_SEPARATOR}PIXELS) follows one of: {', '.join(_RESIZABLE)}",
        )
    low, high = RESOLUTION_RANGE
    if not pixels_text.isdigit() or not low <= int(pixels_text) <= high:
        raise UsageError(
            f"image size {pixels_text!r} of {name} is not a whole number of pixels from {low} to {high}",
            fix=f"Write it like {name}{RESOLUTION_SEPARATOR}320",
        )
    pixels = int(pixels_text)
    info, _ = ZOO[name]
    resized = dataclasses.replace(
        info,
        name=f"{name}{RESOLUTION_SEPARATOR}{pixels}",
        description=f"{info.description}; here at {pixels}x{pixels}",
    )
    return resized, _image_classifier(_RESIZABLE[name], (3, pixels, pixels), 1000)


def _entries() -> dict[str, tuple[ModelInfo, Factory]]:
    """Every zoo model, smallest first within each family."""
    entries: list[tuple[ModelInfo, Factory]] = [
        (
            ModelInfo(
                name="mlp",
                family="mlp",
                description="3-layer MLP 784-1024-1024-10 (ReLU) on flattened 1x28x28 MNIST-sized images",
                default_batch_size=64,
                benchmark_batch_sizes=(16, 64, 256),
                optimizer="sgd-momentum",
                source="LeCun et al. 1998 MNIST setting; classic fully connected baseline",
            ),
            _image_classifier(MLP, (1, 28, 28), 10),
        ),
        (
            ModelInfo(
                name="cifar-cnn",
                family="cnn",
                description="2 conv + 2 pool + 3 FC LeNet-style net on 3x32x32 CIFAR-10 images, 10 classes",
                default_batch_size=32,
                benchmark_batch_sizes=(8, 32, 128),
                optimizer="sgd-momentum",
                source="PyTorch tutorial 'Training a Classifier' (CIFAR-10)",
            ),
            _image_classifier(CifarCNN, (3, 32, 32), 10),
        ),
        (
            ModelInfo(
                name="mobilenet-v2",
                family="cnn",
                description=f"MobileNetV2 width 1.0, depthwise-separable inverted residuals; {_IMAGENET}",
                default_batch_size=32,
                benchmark_batch_sizes=(1, 4, 16),
                optimizer="sgd-momentum",
                source="Sandler et al. 2018, MobileNetV2; torchvision mobilenet_v2",
            ),
            _image_classifier(MobileNetV2, (3, 224, 224), 1000),
        ),
        (
            ModelInfo(
                name="resnet18",
                family="cnn",
                description=f"ResNet-18 (basic blocks 2-2-2-2); {_IMAGENET}",
                default_batch_size=32,
                benchmark_batch_sizes=(1, 4, 16),
                optimizer="sgd-momentum",
                source="He et al. 2016, Deep Residual Learning; torchvision resnet18",
            ),
            _image_classifier(resnet18, (3, 224, 224), 1000),
        ),
        (
            ModelInfo(
                name="resnet50",
                family="cnn",
                description=f"ResNet-50 v1.5 (bottlenecks 3-4-6-3, stride in the 3x3); {_IMAGENET}",
                default_batch_size=32,
                benchmark_batch_sizes=(1, 4, 16),
                optimizer="sgd-momentum",
                source="He et al. 2016, Deep Residual Learning; torchvision resnet50 (v1.5)",
            ),
            _image_classifier(resnet50, (3, 224, 224), 1000),
        ),
        *_dle_convnets(),
        (
            ModelInfo(
                name="lstm-lm",
                family="rnn",
                description="word-level 2x650 LSTM LM, 10k words, 35-token sequences (Penn Treebank medium)",
                default_batch_size=20,
                benchmark_batch_sizes=(1, 5, 20),
                optimizer="sgd-momentum",
                sequence_length=35,
                source="Zaremba et al. 2014, Recurrent Neural Network Regularization (medium)",
            ),
            _lstm_lm,
        ),
        (
            ModelInfo(
                name="vit-b16",
                family="transformer",
                description=f"ViT-B/16: 16x16 patches, 12 layers, 768 wide, 12 heads, MLP 3072; {_IMAGENET}",
                default_batch_size=8,
                benchmark_batch_sizes=(1, 2, 8),
                optimizer="adamw",
                source="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words; torchvision vit_b_16",
            ),
            _image_classifier(VisionTransformer, (3, 224, 224), 1000),
        ),
        (
            ModelInfo(
                name="bert-base",
                family="transformer",
                description="BERT-base encoder + pooler, 12x768, 12 heads, tied masked-LM logits, 128 tokens",
                default_batch_size=8,
                benchmark_batch_sizes=(1, 2, 4),
                optimizer="adamw",
                sequence_length=128,
                source="Devlin et al. 2019, BERT; HuggingFace BertModel bert-base-uncased",
            ),
            _bert,
        ),
    ]
    for name, config in PRESETS.items():
        shape = f"{config.depth} layers, {config.width} wide, {config.heads} heads"
        if name.startswith("gpt2"):
            text = f"GPT-2 decoder, {shape}, 50,257 tokens, tied head"
        else:
            gqa = f", {config.kv_heads} kv heads" if config.kv_heads else ""
            text = f"Llama-2-shaped decoder, {shape}{gqa}, SwiGLU {config.mlp_width}, RoPE; for analysis"
        source = _PAPERS["gpt2" if name.startswith("gpt2") else "llama"]
        # Each preset's line says how to vary it, since the name syntax is the only way from the CLI.
        # GPT-2 small is the benchmarked decoder; the larger presets are for analysis (their fp32
        # training state alone is 5.7 GB for gpt2-medium and 1.1 TB for decoder-70b).
        info = _decoder_info(
            name,
            config.max_positions,
            f"{text}; vary: decoder:like={name},depth=N",
            source,
            benchmarked=name == "gpt2",
        )
        entries.append((info, decoder_factory(name, config)))
    return {info.name: (info, factory) for info, factory in entries}


ZOO = _entries()


def find(name: str) -> tuple[ModelInfo, Factory]:
    """Looks up a zoo name or a ``decoder:key=value,...`` spec.

    Args:
        name: Zoo name (any case), ImageNet convnet at another image size (``efficientnet-b4@320``) or
            custom decoder spec (see ``parse_decoder_spec``).

    Returns:
        The model's description and factory.

    Raises:
        UsageError: The name is not in the zoo (close matches are suggested) or the spec is invalid.
    """
    key = name.strip().lower()
    if key.startswith(DECODER_PREFIX):
        config, sequence_length = parse_decoder_spec(key[len(DECODER_PREFIX) :])
        length = sequence_length or config.max_positions
        fields = dataclasses.asdict(config)
        shape = ", ".join(f"{field}={value}" for field, value in fields.items() if value is not None)
        info = _decoder_info(
            key, length, f"custom decoder ({shape})", "devicefit Decoder (GPT-2/Llama-2 layout)"
        )
        return info, decoder_factory(key, config)
    if key.startswith(MLP_PREFIX):
        return _resized_mlp(key)
    if key in ZOO:
        return ZOO[key]
    if RESOLUTION_SEPARATOR in key:
        return _resized(*key.split(RESOLUTION_SEPARATOR, 1))
    matches = difflib.get_close_matches(key, list(ZOO), n=3)
    hint = f"Did you mean: {', '.join(matches)}? " if matches else ""
    raise UsageError(
        f"unknown model {name!r}",
        fix=f"{hint}See 'devicefit models', or name a factory as path/to/file.py:function",
    )


def _resized_mlp(key: str) -> tuple[ModelInfo, Factory]:
    """The zoo MLP at another size: ``mlp:width=W,depth=D`` (hidden width, hidden layers; 1024 and 2)."""
    sizes = {"width": MLP_WIDTH, "depth": MLP_DEPTH}
    for pair in filter(None, (part.strip() for part in key[len(MLP_PREFIX) :].split(","))):
        option, _, text = (part.strip() for part in pair.partition("="))
        if option not in sizes or not text.isdecimal() or int(text) < 1:
            raise UsageError(
                f"MLP option {pair!r} is not width=N or depth=N (N a positive integer)",
                fix="Write e.g. mlp:width=512,depth=3",
            )
        sizes[option] = int(text)
    widths = (784, *[sizes["width"]] * sizes["depth"], 10)
    info = dataclasses.replace(
        ZOO["mlp"][0],
        name=f"{MLP_PREFIX}width={sizes['width']},depth={sizes['depth']}",
        description=f"{sizes['depth'] + 1}-layer MLP {'-'.join(map(str, widths))} (ReLU) on flattened "
        "1x28x28 MNIST-sized images",
    )
    return info, _image_classifier(lambda: MLP(widths), (1, 28, 28), 10)
