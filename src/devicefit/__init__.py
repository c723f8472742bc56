"""devicefit: measure, analyze and predict deep-learning work on CPUs and GPUs.

The public API, for a notebook or a script (the ``devicefit`` command calls the same functions)::

    import devicefit

    cost = devicefit.profile("resnet50", batch_size=64)
    result = devicefit.predict_step("resnet50", devices="h100,a100 80gb pcie", batch_size=64)
    for p in result.predictions:
        print(p.device, p.step_time_s, p.fits, p.max_batch_size)

The names follow the commands, except where a subpackage holds the command's name (``analyze``,
``predict``: importing it would shadow a function of that name). Every function returns frozen
records (``devicefit.records``). Importing this module is cheap: each function imports what it
needs (PyTorch only where a model is built or a device measured). Functions that store take ``db``,
the results database (default: the user data directory, or ``$DEVICEFIT_DB``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

__version__ = "0.1.0"

if TYPE_CHECKING:
    from devicefit.catalog import Catalog
    from devicefit.devices.base import Device
    from devicefit.records import BenchOutcome, MemoryKind, ModelCost, PredictOutcome, ValidationOutcome
    from devicefit.workloads import ModelInfo
    from devicefit.workloads.base import ModelInstance

__all__ = [
    "__version__",
    "bench",
    "build_model",
    "calibrate",
    "discover_devices",
    "list_models",
    "load_catalog",
    "predict_step",
    "profile",
    "validate",
]


_Outcome = TypeVar("_Outcome", "BenchOutcome", "ValidationOutcome")


def _raise_if_interrupted(outcome: _Outcome) -> _Outcome:
    """A script's Ctrl-C (or SIGTERM) stops the script: the run keeps what finished, then it propagates."""
    if outcome.interrupted:
        raise KeyboardInterrupt(
            f"devicefit run {outcome.run_id} interrupted; its finished results are stored"
        )
    return outcome


def list_models(pattern: str = "*") -> list[ModelInfo]:
    """The zoo's models whose names match the shell pattern (``"resnet*"``)."""
    from devicefit.workloads import list_models as list_zoo

    return list_zoo(pattern)


def build_model(
    name: str, batch_size: int | None = None, *, device: str = "meta", sequence_length: int | None = None
) -> ModelInstance:
    """A model with a batch of synthetic inputs, on ``device`` (``meta``: shapes only, no memory; ``cpu``).

    ``name`` is a zoo name, ``decoder:key=value,...``, ``file.py:factory``, ``module:factory`` or a
    library model (``transformers:vit``).
    """
    from devicefit.workloads import build_model as build

    return build(name, batch_size, device=device, sequence_length=sequence_length)


def profile(
    model: str,
    batch_size: int | None = None,
    *,
    precision: str = "fp32",
    optimizer: str | None = None,
    sequence_length: int | None = None,
    memory_kind: MemoryKind = "cuda",
    use_cache: bool = True,
    channels_last: bool = False,
) -> ModelCost:
    """A model's parameters, FLOPs, bytes and memory, traced on fake tensors (``devicefit profile``).

    ``precision``: ``fp32``, ``tf32``, ``bf16``, ``fp16`` or ``amp`` (``fp16`` with loss scaling).
    """
    from devicefit.app.profile import profile as run

    return run(
        model,
        batch_size,
        precision=precision,
        optimizer=optimizer,
        sequence_length=sequence_length,
        memory_kind=memory_kind,
        use_cache=use_cache,
        channels_last=channels_last,
    ).cost


def load_catalog(paths: Sequence[Path] = ()) -> Catalog:
    """The hardware catalog, with the user's own catalog files on top."""
    from devicefit.catalog import load_catalog as load

    return load(paths)


def discover_devices() -> tuple[Device, ...]:
    """This machine's compute devices (probing them takes a few seconds)."""
    from devicefit.devices import discover_devices as discover

    return discover()


def bench(
    device: str = "all", *, suite: str = "micro", quick: bool = False, db: str | Path | None = None
) -> BenchOutcome:
    """Measures local devices (``cpu``, ``cuda:0``, ``all``, ``fake``) into a stored run (``bench``)."""
    from devicefit.app.bench import bench as run
    from devicefit.devices import select_devices
    from devicefit.store.sqlite import open_store

    with open_store(db) as store:
        return _raise_if_interrupted(run(select_devices(device), store, suite=suite, quick=quick))


def calibrate(device: str = "all", *, quick: bool = False, db: str | Path | None = None) -> BenchOutcome:
    """Fits each local device's performance model from micro-benchmarks (``devicefit calibrate``)."""
    from devicefit.app.calibrate import calibrate as run
    from devicefit.devices import select_devices
    from devicefit.store.sqlite import open_store

    with open_store(db) as store:
        return _raise_if_interrupted(run(select_devices(device), store, quick=quick))


def predict_step(
    model: str,
    devices: str = "local",
    *,
    batch_size: int | None = None,
    precision: str = "fp32",
    train: bool = True,
    optimizer: str | None = None,
    sequence_length: int | None = None,
    db: str | Path | None = None,
    channels_last: bool = False,
    host: str | None = None,
    gpus: int = 1,
    nodes: int | None = None,
    parallel: str | None = None,
) -> PredictOutcome:
    """A model's step time, memory fit and largest batch on local or catalog devices (``predict``).

    ``precision``: ``fp32``, ``tf32``, ``bf16``, ``fp16`` or ``amp``; ``host``: the catalog CPU that
    launches the GPUs' work (default: each GPU's usual host, or this machine's CPU). ``gpus``,
    ``nodes``, ``parallel``: a training step on several GPUs of each device (``predict --gpus``),
    ``batch_size`` per replica.
    """
    from devicefit.app.predict import predict as run
    from devicefit.app.predict import scale_out_for
    from devicefit.store.sqlite import open_store

    scale = scale_out_for(gpus, nodes, parallel)
    with open_store(db) as store:
        return run(
            model,
            devices,
            batch_size=batch_size,
            precision=precision,
            train=train,
            optimizer=optimizer,
            sequence_length=sequence_length,
            store=store,
            channels_last=channels_last,
            host=host,
            scale=scale,
        )


def validate(
    models: Sequence[str],
    device: str = "cpu",
    *,
    batch_sizes: Sequence[int] = (),
    db: str | Path | None = None,
) -> ValidationOutcome:
    """Predicts, then times, each model's steps on the calibrated local devices (``devicefit validate``)."""
    from devicefit.app.validate import validate as run
    from devicefit.devices import select_devices
    from devicefit.store.sqlite import open_store

    with open_store(db) as store:
        return _raise_if_interrupted(run(models, select_devices(device), store, batch_sizes=batch_sizes))
