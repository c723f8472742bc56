"""``profile`` and ``models``: a model's analysis (with the largest batch a memory size holds), the zoo."""

from __future__ import annotations

from typing import cast, get_args

from devicefit.analyze.cache import analyze_model_cached
from devicefit.analyze.memory import max_batch_for
from devicefit.errors import UsageError
from devicefit.records import MemoryKind, ProfileOutcome


def profile(
    model: str,
    batch_size: int | None = None,
    *,
    precision: str = "fp32",
    optimizer: str | None = None,
    sequence_length: int | None = None,
    memory_kind: str = "cuda",
    memory_bytes: float | None = None,
    use_cache: bool = True,
    channels_last: bool = False,
) -> ProfileOutcome:
    """The model's cost, traced on fake tensors (or read from the analysis cache).

    Args:
        model: Zoo name, ``decoder:key=value,...``, ``file.py:factory`` or ``module:factory``.
        batch_size: Samples per step (default: the model's).
        precision: ``fp32``, ``tf32`` (traced as fp32), ``bf16``/``fp16`` autocast mixed precision,
            ``amp`` (fp16 autocast with the loss scaler's passes).
        optimizer: ``sgd``, ``sgd-momentum``, ``adam`` or ``adamw`` (default: the model's).
        sequence_length: Tokens per sample, for sequence models.
        memory_kind: Whose allocator and runtime the memory figures are for: ``cuda``, ``cpu`` or ``mps``.
        memory_bytes: Also find the largest batch whose training step fits in this much.
        use_cache: Read and write the on-disk analysis cache.
        channels_last: Convert the model and its 4-D inputs to channels-last memory format.

    Raises:
        UsageError: On an unknown memory kind.
    """
    if memory_kind not in get_args(MemoryKind):
        raise UsageError(
            f"unknown device kind {memory_kind!r}", fix=f"Choose from: {', '.join(get_args(MemoryKind))}"
        )
    kind = cast("MemoryKind", memory_kind)
    cost, note = analyze_model_cached(
        model,
        batch_size,
        precision=precision,
        optimizer=optimizer,
        sequence_length=sequence_length,
        memory_kind=kind,
        use_cache=use_cache,
        channels_last=channels_last,
    )
    largest = None
    if memory_bytes:
        largest = max_batch_for(cost, memory_bytes, memory_kind=kind)
    return ProfileOutcome(
        cost=cost, memory_bytes=memory_bytes, max_batch_size=largest, notes=() if note is None else (note,)
    )


def parameter_counts(names: list[str]) -> list[int]:
    """Each zoo model's parameter count, built on the meta device (shapes only, no memory)."""
    from devicefit.workloads import build_model, list_models

    infos = {i.name: i for i in list_models()}
    return [
        sum(
            p.numel()
            for p in build_model(
                name, 1, sequence_length=1 if infos[name].sequence_length else None
            ).module.parameters()
        )
        for name in names
    ]
