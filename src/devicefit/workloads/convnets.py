"""NVIDIA DeepLearningExamples' ImageNet convnets from ``torch.nn`` alone: (SE-)ResNeXt-101 and EfficientNet.

Laid out as ``PyTorch/Classification/ConvNets/image_classification/models/{resnet,efficientnet}.py`` of
NVIDIA/DeepLearningExamples, whose published throughputs ``benchmarks/published_error.py`` predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from devicefit.workloads.vision import _conv_bn, _shortcut


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel means → FC reduce → activation → FC expand → sigmoid.

    DLE builds both projections as ``nn.Linear`` with bias (the same weights as 1x1 convolutions).

    Args:
        channels: Channels of the feature map it gates.
        squeeze: Width of the bottleneck between the two projections.
        activation: ``relu`` (SE-ResNeXt) or ``silu`` (EfficientNet).
    """

    def __init__(self, channels: int, squeeze: int, activation: str) -> None:
        super().__init__()
        self.squeeze = nn.Linear(channels, squeeze)
        self.expand = nn.Linear(squeeze, channels)
        self.activation = nn.ReLU(True) if activation == "relu" else nn.SiLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The gate (N, C, 1, 1) of feature maps (N, C, H, W), in (0, 1)."""
        squeezed = self.activation(self.squeeze(torch.mean(x, (2, 3))))
        return torch.sigmoid(self.expand(squeezed))[:, :, None, None]


class ResNeXtBottleneck(nn.Module):
    """ResNeXt block, v1.5 (stride in the grouped 3x3), optionally squeeze-excited before the residual add.

    Args:
        num_in: Input channels.
        width: Channels of the grouped 3x3 (cardinality x width per group: 32 x 4 = 128 in stage 1).
        num_out: Output channels (2 x ``width`` in ResNeXt-101 32x4d).
        stride: Stride of the 3x3 and of the projection shortcut.
        groups: Cardinality.
        se_reduction: SE bottleneck ratio on ``num_out`` (16 in SE-ResNeXt), or ``None`` for no SE.
    """

    def __init__(
        self, num_in: int, width: int, num_out: int, stride: int, groups: int, se_reduction: int | None
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(num_in, width, 1),
            nn.ReLU(True),
            *_conv_bn(width, width, 3, stride, groups=groups),
            nn.ReLU(True),
            *_conv_bn(width, num_out, 1),
        )
        self.se = SqueezeExcitation(num_out, num_out // se_reduction, "relu") if se_reduction else None
        self.shortcut = _shortcut(num_in, num_out, stride)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to feature maps (N, C, H, W)."""
        out = self.body(x)
        if self.se is None:
            return self.relu(out + self.shortcut(x))
        # DLE's fused SE (``fused_se``): residual + out * gate in one addcmul.
        return self.relu(torch.addcmul(self.shortcut(x), out, self.se(out)))


class ResNeXt(nn.Module):
    """ResNeXt-101 32x4d (Xie et al. 2017), with SE blocks for SE-ResNeXt (Hu et al. 2018), as DLE has them.

    Stages of 3, 4, 23, 3 bottlenecks; 3x3 widths 128, 256, 512, 1024 (32 groups of 4, 8, 16, 32
    channels); outputs twice as wide. The stem and head are ResNet-50 v1.5's.
    """

    def __init__(self, se_reduction: int | None = None, num_classes: int = 1000, groups: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 64, 7, 2), nn.ReLU(True), nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        num_in = 64
        for i, count in enumerate((3, 4, 23, 3)):
            width = 128 * 2**i
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(ResNeXtBottleneck(num_in, width, 2 * width, stride, groups, se_reduction))
                num_in = 2 * width
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(num_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, H, W) to class logits (N, classes)."""
        features = self.stages(self.stem(images))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1))


def resnext101_32x4d() -> ResNeXt:
    """ResNeXt-101 32x4d: 44,177,704 parameters."""
    return ResNeXt()


def se_resnext101_32x4d() -> ResNeXt:
    """SE-ResNeXt-101 32x4d, SE reduction 16: 48,955,416 parameters."""
    return ResNeXt(se_reduction=16)


class MBConv(nn.Module):
    """EfficientNet's mobile inverted bottleneck with SE, SiLU and stochastic depth (DLE's ``MBConvBlock``).

    Args:
        num_in: Input channels.
        num_out: Output channels.
        kernel: Size of the depthwise convolution.
        stride: Its stride.
        expand_ratio: Expanded width over ``num_in`` (no 1x1 expansion when 1).
        wide_se: SE bottleneck from the expanded width (DLE's "widese") rather than from ``num_in``.
        survival_prob: Probability that a training step keeps the residual branch (stochastic depth).
    """

    #: SE bottleneck ratio of EfficientNet (Tan and Le 2019, section 4).
    SE_RATIO = 0.25

    def __init__(
        self,
        num_in: int,
        num_out: int,
        kernel: int,
        stride: int,
        expand_ratio: int,
        *,
        wide_se: bool,
        survival_prob: float,
    ) -> None:
        super().__init__()
        hidden = num_in * expand_ratio
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [*_conv_bn(num_in, hidden, 1), nn.SiLU(True)]
        layers += [*_conv_bn(hidden, hidden, kernel, stride, groups=hidden), nn.SiLU(True)]
        self.depthwise = nn.Sequential(*layers)
        squeeze = max(1, int((hidden if wide_se else num_in) * self.SE_RATIO))
        self.se = SqueezeExcitation(hidden, squeeze, "silu")
        self.project = nn.Sequential(*_conv_bn(hidden, num_out, 1))
        self.residual = stride == 1 and num_in == num_out
        self.survival_prob = survival_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to feature maps (N, C, H, W)."""
        hidden = self.depthwise(x)
        out = self.project(hidden * self.se(hidden))
        if not self.residual:
            return out
        if self.training and self.survival_prob < 1.0:
            # DLE's drop path: keep each sample's branch with probability p, scaled by 1/p.
            keep = torch.floor(self.survival_prob + torch.rand(out.shape[0], 1, 1, 1, device=out.device))
            out = out / self.survival_prob * keep
        return out + x


@dataclass(frozen=True, slots=True, kw_only=True)
class EfficientNetScale:
    """A compound-scaled EfficientNet (Tan and Le 2019, Table 1 scaled by section 3.3).

    Attributes:
        width_coef: Channel multiplier.
        depth_coef: Repeat multiplier.
        dropout: Dropout before the classifier.
    """

    width_coef: float
    depth_coef: float
    dropout: float


#: The scales DLE publishes (``efficientnet.py`` ``effnet_configs``), from the paper's Table and code.
EFFICIENTNET_SCALES = {
    "b0": EfficientNetScale(width_coef=1.0, depth_coef=1.0, dropout=0.2),
    "b4": EfficientNetScale(width_coef=1.4, depth_coef=1.8, dropout=0.4),
}


def _round_channels(channels: int, width_coef: float, divisor: int = 8) -> int:
    """Scaled channels, a multiple of ``divisor``, at most 10% below the scaled figure (the paper's code)."""
    scaled = channels * width_coef
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class EfficientNet(nn.Module):
    """EfficientNet (Tan and Le 2019) as DLE builds it; ``wide_se`` gives DLE's EfficientNet-WideSE.

    Args:
        scale: Width and depth multipliers and dropout.
        wide_se: SE bottlenecks a quarter of each block's expanded width instead of its input width.
        drop_connect_rate: Stochastic depth: block ``i`` of ``n`` is dropped with probability
            ``rate * i / n`` in training (0.2, DLE's and the paper's).
        num_classes: Outputs of the classifier.
    """

    #: (expansion, kernel, first stride, output channels, repeats): Table 1 of the paper, EfficientNet-B0.
    STAGES = (
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    )

    def __init__(
        self,
        scale: EfficientNetScale,
        *,
        wide_se: bool = False,
        drop_connect_rate: float = 0.2,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        stem = _round_channels(32, scale.width_coef)
        layers: list[nn.Module] = [*_conv_bn(3, stem, 3, 2), nn.SiLU(True)]
        repeats = [math.ceil(scale.depth_coef * n) for *_, n in self.STAGES]
        num_in, index = stem, 0
        for (expand, kernel, stride, channels, _), count in zip(self.STAGES, repeats, strict=True):
            num_out = _round_channels(channels, scale.width_coef)
            for j in range(count):
                survival = 1.0 - drop_connect_rate * index / sum(repeats)
                layers.append(
                    MBConv(
                        num_in,
                        num_out,
                        kernel,
                        stride if j == 0 else 1,
                        expand,
                        wide_se=wide_se,
                        survival_prob=survival,
                    )
                )
                num_in, index = num_out, index + 1
        head = _round_channels(1280, scale.width_coef)
        layers += [*_conv_bn(num_in, head, 1), nn.SiLU(True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(scale.dropout), nn.Linear(head, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, H, W) to class logits (N, classes)."""
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(images), 1), 1))


def efficientnet(variant: str, *, wide_se: bool = False) -> EfficientNet:
    """EfficientNet-``variant`` (``b0``, ``b4``), DLE's WideSE form when ``wide_se``."""
    return EfficientNet(EFFICIENTNET_SCALES[variant], wide_se=wide_se)
