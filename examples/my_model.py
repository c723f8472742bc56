"""A user model for devicefit: copy this file, change the network, keep the factory's shape.

devicefit finds a model by ``FILE.py:FUNCTION`` (or ``package.module:FUNCTION``)::

    devicefit profile examples/my_model.py:make_model --batch 16

The protocol:

- ``FUNCTION(batch_size)`` returns ``(module, inputs)`` or ``(module, inputs, loss_fn)``.
- ``module`` is any ``torch.nn.Module``; ``inputs`` is a tensor, a tuple of tensors passed to
  ``module(*inputs)``, or a dict passed as ``module(**inputs)`` (``{"input_ids": ..., "decoder_input_ids":
  ...}``), batch dimension first. Use random data, never zeros.
- ``loss_fn(output)`` returns a scalar tensor. Without it devicefit trains on the mean of the squares of
  every floating-point tensor in the output.
- devicefit calls the factory under ``with torch.device(device):``, so create tensors without naming a
  device: on ``meta`` nothing is allocated (the whole analysis costs no memory), on ``cuda`` nothing is
  copied. Avoid ``.item()`` and branches on tensor values, which cannot run on ``meta``.
- A default for ``batch_size`` becomes the model's default batch; an optional ``sequence_length``
  parameter receives the requested sequence length (tokens) for sequence models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Classes of the toy task.
NUM_CLASSES = 10


class TwoLayerConvNet(nn.Module):
    """Two 3x3 convolutions with ReLU and 2x2 max-pooling, then a linear classifier, on 3x32x32 images."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(2 * width * 8 * 8, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Maps images (N, 3, 32, 32) to class logits (N, 10)."""
        return self.classifier(self.features(images).flatten(1))


def make_model(batch_size: int = 32):
    """Two-layer convnet on random 3x32x32 images, cross-entropy against random labels.

    Args:
        batch_size: Images per step.

    Returns:
        The module, its inputs and its loss function.
    """
    images = torch.randn(batch_size, 3, 32, 32)
    labels = torch.randint(0, NUM_CLASSES, (batch_size,))

    def loss_fn(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels)

    return TwoLayerConvNet(), images, loss_fn
