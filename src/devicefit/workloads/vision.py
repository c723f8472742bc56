"""Reference image models built from ``torch.nn`` alone: MLP, CIFAR CNN, ResNet, MobileNetV2 and ViT."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """A multilayer perceptron on flattened images, ReLU between layers.

    Args:
        widths: Features of the input, of each hidden layer and of the output (784, 1024, 1024, 10).
    """

    def __init__(self, widths: Sequence[int] = (784, 1024, 1024, 10)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (num_in, num_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(num_in, num_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, ...) to class logits (N, classes)."""
        return self.layers(images)


class CifarCNN(nn.Module):
    """The CIFAR-10 convnet of PyTorch's "Training a Classifier" tutorial (LeNet-5 shaped): 62,006 params.

    conv 5x5 (3→6) → ReLU → max-pool 2 → conv 5x5 (6→16) → ReLU → max-pool 2 → FC 400→120→84→10.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()
        )
        self.head = nn.Linear(84, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, 32, 32) to class logits (N, classes)."""
        return self.head(self.classifier(self.features(images)))


def _conv_bn(num_in: int, num_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    """A bias-free convolution with "same" padding followed by batch norm, as torchvision builds them."""
    conv = nn.Conv2d(num_in, num_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(num_out)]


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convolutions and an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, num_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(num_in, planes, 3, stride), nn.ReLU(True), *_conv_bn(planes, planes, 3)
        )
        self.shortcut = _shortcut(num_in, planes * self.expansion, stride)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to feature maps (N, C, H, W)."""
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet-50 block, v1.5: 1x1 reduce, 3x3 (carrying the stride, as torchvision does), 1x1 expand x4."""

    expansion = 4

    def __init__(self, num_in: int, planes: int, stride: int) -> None:
        super().__init__()
        num_out = planes * self.expansion
        self.body = nn.Sequential(
            *_conv_bn(num_in, planes, 1),
            nn.ReLU(True),
            *_conv_bn(planes, planes, 3, stride),
            nn.ReLU(True),
            *_conv_bn(planes, num_out, 1),
        )
        self.shortcut = _shortcut(num_in, num_out, stride)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to feature maps (N, C, H, W)."""
        return self.relu(self.body(x) + self.shortcut(x))


def _shortcut(num_in: int, num_out: int, stride: int) -> nn.Module:
    """Identity when shapes match, else torchvision's 1x1 strided projection with batch norm."""
    if stride == 1 and num_in == num_out:
        return nn.Identity()
    return nn.Sequential(*_conv_bn(num_in, num_out, 1, stride))


class ResNet(nn.Module):
    """ResNet v1.5 for 224x224 ImageNet (He et al. 2016, "Deep Residual Learning"; torchvision's layout).

    Args:
        block: ``BasicBlock`` (ResNet-18/34) or ``Bottleneck`` (ResNet-50/101/152).
        num_blocks: Blocks in each of the four stages: (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for 50.
        num_classes: Outputs of the final linear layer.
    """

    def __init__(
        self, block: type[BasicBlock | Bottleneck], num_blocks: Sequence[int], num_classes: int = 1000
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 64, 7, 2), nn.ReLU(True), nn.MaxPool2d(3, 2, 1))
        stages: list[nn.Module] = []
        num_in = 64
        for i, count in enumerate(num_blocks):
            planes = 64 * 2**i
            for j in range(count):
                stages.append(block(num_in, planes, 2 if i > 0 and j == 0 else 1))
                num_in = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(num_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, H, W) to class logits (N, classes)."""
        features = self.stages(self.stem(images))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1))


def resnet18() -> ResNet:
    """ResNet-18: 11,689,512 parameters, as ``torchvision.models.resnet18``."""
    return ResNet(BasicBlock, (2, 2, 2, 2))


def resnet50() -> ResNet:
    """ResNet-50 v1.5: 25,557,032 parameters, as ``torchvision.models.resnet50``."""
    return ResNet(Bottleneck, (3, 4, 6, 3))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when t = 1), 3x3 depthwise, linear 1x1 project."""

    def __init__(self, num_in: int, num_out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = num_in * expand_ratio
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [*_conv_bn(num_in, hidden, 1), nn.ReLU6(True)]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(True)]
        layers += _conv_bn(hidden, num_out, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and num_in == num_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to feature maps (N, C, H, W)."""
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0 (Sandler et al. 2018), laid out as ``torchvision.models.mobilenet_v2``.

    Channel counts are already multiples of 8 at width 1.0, so torchvision's ``_make_divisible`` is the
    identity here.
    """

    #: (expansion t, output channels c, repeats n, first stride s): Table 2 of the paper.
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(3, 32, 3, 2), nn.ReLU6(True)]
        num_in = 32
        for expand_ratio, channels, repeats, stride in self.SETTINGS:
            for i in range(repeats):
                layers.append(InvertedResidual(num_in, channels, stride if i == 0 else 1, expand_ratio))
                num_in = channels
        layers += [*_conv_bn(num_in, 1280, 1), nn.ReLU6(True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, H, W) to class logits (N, classes)."""
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(images), 1), 1))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer encoder block of ViT: self-attention and a GELU MLP, both residual."""

    def __init__(self, width: int, num_heads: int, mlp_width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        # One fused projection holds the same weights as torch.nn.MultiheadAttention's in_proj.
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_width), nn.GELU(), nn.Linear(mlp_width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to tokens (N, T, width)."""
        n, t, width = x.shape
        qkv = self.qkv(self.ln_1(x)).view(n, t, 3, self.num_heads, width // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attended.transpose(1, 2).reshape(n, t, width))
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al. 2021), laid out as ``torchvision.models.vit_b_16`` with dropout 0.

    Args:
        image_size: Height and width of the square input image, in pixels.
        patch_size: Height and width of each patch, in pixels.
        depth: Encoder blocks.
        width: Hidden size.
        num_heads: Attention heads.
        mlp_width: Hidden size of each block's MLP.
        num_classes: Outputs of the classification head.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        depth: int = 12,
        width: int = 768,
        num_heads: int = 12,
        mlp_width: int = 3072,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        num_tokens = (image_size // patch_size) ** 2 + 1
        self.conv_proj = nn.Conv2d(3, width, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embedding = nn.Parameter(torch.empty(1, num_tokens, width).normal_(std=0.02))
        self.layers = nn.Sequential(*(EncoderBlock(width, num_heads, mlp_width) for _ in range(depth)))
        self.ln = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, image_size, image_size) to class logits (N, classes)."""
        patches = self.conv_proj(images).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        encoded = self.ln(self.layers(tokens + self.pos_embedding))
        return self.head(encoded[:, 0])
