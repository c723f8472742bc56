"""The optimizer tables against what ``torch.optim`` runs: state buffers, calls per tensor, temporaries."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from devicefit.analyze.memory import (
    LOOP_TEMPORARIES_PER_PARAMETER,
    OPTIMIZER_FLOPS_PER_PARAMETER,
    OPTIMIZER_STATE_BUFFERS,
    OPTIMIZER_TENSOR_PASSES,
)
from devicefit.measure.steps import make_optimizer
from devicefit.predict.roofline import OPTIMIZER_FOREACH_CALLS, OPTIMIZER_OPS_PER_TENSOR
from devicefit.workloads import OPTIMIZERS

#: Calls that are bookkeeping, not a pass over a tensor: the profiler's step marker, reading the
#: step count back as a Python number (Adam's bias correction), wrapping a scalar as a tensor.
NOT_TENSOR_WORK = {"_record_function_enter_new", "_record_function_exit", "_local_scalar_dense", "lift_fresh"}
NUM_TENSORS = 3


class _Calls(TorchDispatchMode):
    """Records each ATen call with whether it made a new parameter-shaped tensor."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name not in NOT_TENSOR_WORK:
            fresh = not name.endswith("_") and isinstance(out, torch.Tensor) and out.shape == self.shape
            self.calls.append((name, fresh))
        return out


def _second_step(name, foreach):
    """The ATen calls of the second step (the first creates the state) and the optimizer."""
    params = [torch.nn.Parameter(torch.randn(4, 4)) for _ in range(NUM_TENSORS)]
    for param in params:
        param.grad = torch.randn(4, 4)
    optimizer = make_optimizer(name, iter(params))
    for group in optimizer.param_groups:
        group["foreach"] = foreach
    optimizer.step()
    recorder = _Calls(params[0].shape)
    with recorder:
        optimizer.step()
    return recorder.calls, optimizer, params


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_is_built_as_named_and_its_tables_are_complete(name):
    _, optimizer, _ = _second_step(name, foreach=False)
    expected = torch.optim.RMSprop if name.startswith("rmsprop") else None
    if expected is not None:
        assert type(optimizer) is expected
        assert (optimizer.defaults["momentum"] > 0) == name.endswith("momentum")
    for table in (OPTIMIZER_FLOPS_PER_PARAMETER, OPTIMIZER_TENSOR_PASSES):
        assert table[name] > 0


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_is_the_parameter_sized_buffers_torch_keeps(name):
    _, optimizer, params = _second_step(name, foreach=False)
    buffers = [v for v in optimizer.state[params[0]].values() if v.shape == params[0].shape]
    assert len(buffers) == OPTIMIZER_STATE_BUFFERS[name]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_per_tensor_loop_makes_the_counted_calls_and_temporaries(name):
    calls, _, _ = _second_step(name, foreach=False)
    # rmsprop: step += 1, v.mul_, v.addcmul_, sqrt, add_(eps), p.addcdiv_ = 6 per tensor, one fresh (sqrt).
    assert len(calls) == NUM_TENSORS * OPTIMIZER_OPS_PER_TENSOR[name]
    assert sum(fresh for _, fresh in calls) == NUM_TENSORS * LOOP_TEMPORARIES_PER_PARAMETER[name]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_foreach_step_makes_the_counted_calls_over_all_tensors(name):
    calls, _, _ = _second_step(name, foreach=True)
    assert len(calls) == OPTIMIZER_FOREACH_CALLS[name]
    # Each foreach call covers every tensor: its count does not grow with them.
    assert all(call.startswith("_foreach_") for call, _ in calls)
