"""A convolution's geometry in the trace: window, stride and output size (what picks a GPU algorithm)."""

import pytest
import torch
from torch import nn

from devicefit.analyze.cost import analyze_model


class _Convs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.same = nn.Conv2d(3, 8, 3, padding=1)  # 3x3 stride 1: Winograd's case
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.grouped(self.down(self.same(x))).mean()


def build(batch_size: int) -> tuple[nn.Module, torch.Tensor]:
    return _Convs(), torch.randn(batch_size, 3, 16, 16)


@pytest.fixture(scope="module")
def convs():
    cost = analyze_model(f"{__file__}:build", 2, memory_kind="cuda")
    return {(op.module, op.phase): op for op in cost.ops if op.op_class == "conv"}


def test_an_ungrouped_convolution_records_its_window_stride_and_output_size(convs):
    same, down = convs[("same", "forward")], convs[("down", "forward")]
    assert (same.window, same.stride, same.output_size) == ((3, 3), (1, 1), (16, 16))
    assert (down.window, down.stride, down.output_size) == ((3, 3), (2, 2), (8, 8))
    # The backward call of the same layer has the forward's geometry.
    assert convs[("same", "backward")].window == (3, 3)
    assert convs[("same", "backward")].output_size == (16, 16)


def test_a_grouped_convolution_records_no_geometry(convs):
    grouped = convs[("grouped", "forward")]
    assert grouped.window == grouped.stride == grouped.output_size == ()
