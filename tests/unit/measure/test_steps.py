"""Model steps at each precision: TF32 switches while a tf32 step runs, the loss scaler for fp16 and amp."""

import torch

from devicefit.measure.steps import ModelStep
from devicefit.workloads import build_model


class _Spy(torch.nn.Module):
    """Records PyTorch's TF32 switches as the forward pass sees them."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, *args):
        self.seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return self.inner(*args)


def spied(precision, device_kind, train=False):
    instance = build_model("mlp", 2, device="cpu")
    instance.module = _Spy(instance.module)
    return ModelStep(instance, train=train, precision=precision, device_kind=device_kind)


def test_a_tf32_step_turns_the_tf32_switches_on_while_it_runs_and_restores_them():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        step = spied("tf32", "cuda")
        step()
        assert step.module.seen == [(True, True)]
        assert torch.backends.cuda.matmul.allow_tf32 is False
        # fp32 keeps PyTorch's defaults as they are; on a CPU tf32 is fp32.
        for precision, kind in (("fp32", "cuda"), ("tf32", "cpu")):
            other = spied(precision, kind)
            other()
            assert other.module.seen == [(False, torch.backends.cudnn.allow_tf32)]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_fp16_and_amp_train_with_a_loss_scaler_and_bf16_without():
    assert spied("amp", "cpu", train=True)._scaler is not None
    assert spied("fp16", "cpu", train=True)._scaler is not None
    assert spied("bf16", "cpu", train=True)._scaler is None
    assert spied("amp", "cpu")._scaler is None  # inference
