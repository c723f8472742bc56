"""Lets models be built on tensors without data: ``torch.nn.init`` leaves fake and meta tensors untouched.

A profile needs shapes, not values, so devicefit builds models on fake tensors. Most initializers
are plain random fills (``normal_``, ``uniform_``, ``erfinv_``, ``clamp_``, ``copy_``...) that fake
tensors run as they would any operator, but some read back what they computed: in PyTorch 2.13,
``nn.init.trunc_normal_`` redraws out-of-range samples until ``mask.any()`` is false, a value that a
tensor without data cannot give (``DataDependentOutputException: aten._local_scalar_dense``). It
already returns meta tensors untouched; this does the same for fake ones, for every initializer.

The approach is the one ``transformers.initialization.no_init_weights`` and accelerate's
``init_empty_weights`` take: while a model is built, the initializers of ``torch.nn.init`` are
swapped for versions that skip tensors without data. The private helpers they call
(``_no_grad_trunc_normal_``...) are swapped too, so that code holding a reference taken before the
swap (``from torch.nn.init import trunc_normal_``, transformers' ``TORCH_INIT_FUNCTIONS``) skips as
well. Real tensors are initialized as before. The trade-off: the swap is process-wide while a model
is built (not thread-safe), which is how devicefit builds models (one at a time).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch._subclasses.fake_tensor import is_fake


def has_no_data(tensor: Any) -> bool:
    """Whether ``tensor`` is a fake or meta tensor: a shape without values to compute or read."""
    return isinstance(tensor, torch.Tensor) and (tensor.is_meta or is_fake(tensor))


def _skipping(initializer: Callable[..., Any]) -> Callable[..., Any]:
    """``initializer``, returning a tensor without data untouched (every initializer takes it first)."""

    @functools.wraps(initializer)
    def initialize(*args: Any, **kwargs: Any) -> Any:
        tensor = args[0] if args else kwargs.get("tensor")
        if has_no_data(tensor):
            return tensor
        return initializer(*args, **kwargs)

    return initialize


def _initializers() -> dict[str, Callable[..., Any]]:
    """The in-place initializers of ``torch.nn.init``, public and private: the functions named ``*_``."""
    return {
        name: function
        for name, function in vars(torch.nn.init).items()
        if name.endswith("_")
        and not name.startswith("__")
        and inspect.isfunction(function)
        and function.__module__ == torch.nn.init.__name__
    }


@contextlib.contextmanager
def skipping_initialization() -> Iterator[None]:
    """While active, ``torch.nn.init``'s initializers leave fake and meta tensors as they are."""
    originals = _initializers()
    for name, function in originals.items():
        setattr(torch.nn.init, name, _skipping(function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(torch.nn.init, name, function)
