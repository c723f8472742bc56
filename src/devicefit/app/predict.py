"""``predict``: a model's step on local and catalog devices, from stored calibrations or the defaults."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from devicefit.analyze.cache import analyze_model_cached
from devicefit.catalog import Catalog, load_catalog
from devicefit.errors import UsageError
from devicefit.predict.power import with_power
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import Resolution, Target, needs_local_devices, resolve_targets
from devicefit.records import DeviceDescription, ModelCost, Prediction, PredictOutcome
from devicefit.store.sqlite import Store


def local_descriptions() -> tuple[DeviceDescription, ...]:
    """This machine's devices, described (probing them takes seconds: call only when needed)."""
    from devicefit.devices import discover_devices

    return tuple(d.properties() for d in discover_devices())


def predict(
    model: str,
    devices: str = "local",
    *,
    batch_size: int | None = None,
    precision: str = "fp32",
    train: bool = True,
    optimizer: str | None = None,
    sequence_length: int | None = None,
    num_threads: int | None = None,
    catalog_files: Sequence[Path] = (),
    store: Store | None = None,
    use_cache: bool = True,
    channels_last: bool = False,
    host: str | None = None,
) -> PredictOutcome:
    """Predicts ``model``'s step on each device ``devices`` names.

    Args:
        model: Zoo name, ``decoder:key=value,...``, ``file.py:factory`` or ``module:factory``.
        devices: ``local``, ``all``, local ids (``cpu``, ``cuda:0``) or catalog names, comma-separated.
        batch_size: Samples per step (default: the model's).
        precision: ``fp32`` (PyTorch's defaults: IEEE products, TF32 convolutions), ``tf32``
            (products too), ``bf16``/``fp16`` autocast, ``amp`` (fp16 autocast with loss scaling).
        train: A training step, else inference.
        optimizer: ``sgd``, ``sgd-momentum``, ``adam`` or ``adamw`` (default: the model's).
        sequence_length: Tokens per sample, for sequence models.
        num_threads: The thread count to predict the local CPU at (default: torch's).
        catalog_files: User catalog files on top of the packaged catalog.
        store: Where this machine's calibrations are; ``None`` predicts local devices from the defaults.
        use_cache: Read and write the on-disk analysis cache.
        channels_last: The model and its 4-D inputs in channels-last memory format.
        host: The catalog CPU that launches the GPUs' work (default: each GPU's usual host, or
            this machine's CPU for local GPUs and their calibrations).

    Local devices are probed only when ``devices`` names them or a local GPU is calibrated (a
    catalog GPU of its architecture borrows that calibration); catalog names alone probe nothing.
    """
    catalog, local, resolution = resolve(
        devices, catalog_files=catalog_files, store=store, num_threads=num_threads, host=host
    )
    mode = "train" if train else "infer"
    predictions, analysis_notes = predict_targets(
        model,
        resolution.targets,
        batch_size=batch_size,
        precision=precision,
        train=train,
        optimizer=optimizer,
        sequence_length=sequence_length,
        use_cache=use_cache,
        channels_last=channels_last,
        catalog=catalog,
        local=local,
    )
    first = predictions[0]
    return PredictOutcome(
        model=first.model,
        batch_size=first.batch_size,
        precision=first.precision,
        mode=mode,
        predictions=tuple(predictions),
        notes=tuple(t.notes for t in resolution.targets),
        skipped=tuple(resolution.skipped),
        analysis_notes=tuple(analysis_notes),
    )


def resolve(
    devices: str,
    *,
    catalog_files: Sequence[Path] = (),
    store: Store | None = None,
    num_threads: int | None = None,
    host: str | None = None,
    optional: Sequence[str] = (),
) -> tuple[Catalog, tuple[DeviceDescription, ...], Resolution]:
    """The catalog, the local devices probed (if any were needed) and the targets ``devices`` names.

    ``optional`` catalog ids are added as ``all`` adds the catalog: one that cannot be predicted (a
    figure missing) is skipped with the reason rather than failing.
    """
    catalog = load_catalog(catalog_files)
    hostname = socket.gethostname()
    calibrated = store.calibrated_devices(hostname) if store is not None else None
    local = local_descriptions() if needs_local_devices(devices, calibrated) else ()
    stored = (
        {d.id: store.calibrations(d.id, device_name=d.name, hostname=hostname) for d in local}
        if store is not None
        else None
    )
    resolution = resolve_targets(
        devices,
        local_devices=local,
        catalog=catalog,
        calibrations=stored,
        num_threads=num_threads,
        host=host,
    )
    known = {t.model.device for t in resolution.targets}
    for device in optional:
        if device in known:
            continue
        try:
            extra = resolve_targets(
                device,
                local_devices=local,
                catalog=catalog,
                calibrations=stored,
                num_threads=num_threads,
                host=host,
            )
        except UsageError as error:
            resolution.skipped.append((device, str(error)))
            continue
        for target in extra.targets:
            if target.model.device not in known:
                known.add(target.model.device)
                resolution.targets.append(target)
    return catalog, local, resolution


def predict_targets(
    model: str,
    targets: Sequence[Target],
    *,
    batch_size: int | None,
    catalog: Catalog,
    local: Sequence[DeviceDescription] = (),
    precision: str = "fp32",
    train: bool = True,
    optimizer: str | None = None,
    sequence_length: int | None = None,
    use_cache: bool = True,
    channels_last: bool = False,
) -> tuple[list[Prediction], list[str]]:
    """Each target's predicted step, with its modelled power; and the analysis' notes.

    One trace per memory kind (CPU, CUDA) serves every target of that kind.
    """
    mode = "train" if train else "infer"
    costs: dict[str, ModelCost] = {}
    analysis_notes = []
    predictions = []
    for target in targets:
        if target.memory_kind not in costs:
            costs[target.memory_kind], note = analyze_model_cached(
                model,
                batch_size,
                precision=precision,
                optimizer=optimizer,
                sequence_length=sequence_length,
                memory_kind=target.memory_kind,
                use_cache=use_cache,
                channels_last=channels_last,
            )
            if note:
                analysis_notes.append(note)
        cost = costs[target.memory_kind]
        prediction = predict_step(cost, target.model, mode=mode, memory_kind=target.memory_kind)
        predictions.append(with_power(prediction, catalog, local))
    return predictions, analysis_notes
