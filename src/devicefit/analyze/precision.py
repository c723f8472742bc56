"""What a precision changes in a traced step: the autocast dtype, and the loss scaler of fp16 training."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch.utils._pytree import tree_leaves

from devicefit.records.vocabulary import SCALED_PRECISIONS

#: The autocast dtype of each precision (``vocabulary.PRECISIONS``): none for fp32 and tf32, whose
#: operators and bytes are the same (tf32 changes the unit a device runs them on, not the trace).
PRECISIONS = {
    "fp32": None,
    "tf32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "amp": torch.float16,
}


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast region of a forward pass at ``precision`` (none for fp32 and tf32).

    CPU autocast: its lower-precision list holds the products and convolutions CUDA's does
    (torch/csrc/autograd/autocast_mode.cpp); the casts of the weights it records are the ones a
    GPU pays for, once per forward (autocast caches the casts of leaf weights).
    """
    dtype = PRECISIONS[precision]
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()


def loss_scaler(precision: str) -> torch.amp.GradScaler | None:
    """The loss scaler of an fp16 training step (``None`` for other precisions).

    Traced as a training loop runs it (torch/amp/grad_scaler.py): ``scale(loss)`` multiplies the
    loss, ``unscale_`` runs ``_amp_foreach_non_finite_check_and_unscale_`` over every gradient (a
    read and a write of each) and ``update`` runs ``_amp_update_scale_``. ``scaler.step`` itself
    is not traced: it reads the inf flag (``.item()``, a host-device sync) and runs the optimizer,
    which ``predict`` models on its own.
    """
    if precision not in SCALED_PRECISIONS:
        return None
    return torch.amp.GradScaler("cpu")


def written_in_place(func: Any, args: Any, kwargs: Any) -> list[torch.Tensor]:
    """The tensors an operator that returns nothing writes in place: what it writes.

    The scaler's ``_amp_foreach_non_finite_check_and_unscale_`` (like the ``_foreach_*_`` ops)
    returns nothing; its schema marks the gradients it rewrites (``Tensor(a!)[] self``).
    """
    written = []
    for position, argument in enumerate(func._schema.arguments):
        if argument.alias_info is None or not argument.alias_info.is_write:
            continue
        value = kwargs.get(argument.name) if argument.kwarg_only or position >= len(args) else args[position]
        written += [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]
    return written
