"""``predict``: a model's step on local and catalog devices, from stored calibrations or the defaults."""

from __future__ import annotations

import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devicefit.analyze.cache import analyze_model_cached
from devicefit.analyze.memory import estimate_memory
from devicefit.catalog import Catalog, load_catalog
from devicefit.catalog.links import load_links
from devicefit.errors import UsageError
from devicefit.predict.collectives import Link
from devicefit.predict.parallel import DecoderShape, Fabric, Layout, fabric, parse_layout, scale_out
from devicefit.predict.power import with_power
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import Resolution, Target, needs_local_devices, resolve_targets
from devicefit.records import DeviceDescription, MemoryEstimate, ModelCost, Prediction, PredictOutcome
from devicefit.store.sqlite import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleOut:
    """How many GPUs a step runs on, over how many machines, in which layout.

    ``nodes=None``: as few machines as the GPUs' node link allows (8 GPUs each in a DGX).
    """

    gpus: int
    layout: Layout
    nodes: int | None = None


def scale_out_for(gpus: int, nodes: int | None = None, parallel: str | None = None) -> ScaleOut | None:
    """The scale-out ``--gpus``, ``--nodes`` and ``--parallel`` ask for (``None``: one GPU).

    Raises:
        UsageError: A count below 1, machines without more GPUs, or an unknown layout.
    """
    if gpus < 1 or (nodes is not None and nodes < 1):
        raise UsageError(f"--gpus and --nodes must be at least 1, not {gpus} and {nodes}", fix="Use --gpus 8")
    if nodes is not None and gpus % nodes:
        raise UsageError(
            f"{gpus} GPUs do not spread evenly over {nodes} machines", fix="Give --gpus a multiple of --nodes"
        )
    if gpus == 1:
        if parallel is not None or (nodes or 1) > 1:
            raise UsageError("--parallel and --nodes need several GPUs", fix="Add --gpus N (N >= 2)")
        return None
    try:
        layout = parse_layout(parallel or "ddp")
    except ValueError as error:
        raise UsageError(str(error), fix="Use --parallel ddp, fsdp, zero1, zero2 or tp=K") from None
    return ScaleOut(gpus=gpus, layout=layout, nodes=nodes)


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
    scale: ScaleOut | None = None,
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
        scale: Several GPUs of each device named (``scale_out_for``); devices that are not GPUs
            are skipped, with the reason.

    Local devices are probed only when ``devices`` names them or a local GPU is calibrated (a
    catalog GPU of its architecture borrows that calibration); catalog names alone probe nothing.
    """
    catalog, local, resolution = resolve(
        devices, catalog_files=catalog_files, store=store, num_threads=num_threads, host=host
    )
    mode = "train" if train else "infer"
    if scale is not None:
        if not train:
            raise UsageError(
                "multi-GPU prediction covers training steps", fix="Drop --gpus: inference runs each GPU alone"
            )
        for target in [t for t in resolution.targets if t.model.kind != "gpu"]:
            resolution.targets.remove(target)
            resolution.skipped.append((target.model.device, "not a GPU: --gpus predicts GPUs"))
        if not resolution.targets:
            raise UsageError("no GPU to predict several of", fix="Name GPUs with --device ('a100 80gb sxm4')")
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
        scale=scale,
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
    scale: ScaleOut | None = None,
) -> tuple[list[Prediction], list[str]]:
    """Each target's predicted step, with its modelled power; and the analysis' notes.

    One trace per memory kind (CPU, CUDA) serves every target of that kind. With ``scale``, each
    target's step is that of several of it (``predict.parallel``).

    Raises:
        UsageError: A layout the model or the GPUs cannot take.
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
        prediction = with_power(prediction, catalog, local)
        if scale is not None:
            prediction = scaled(prediction, cost, target, scale, local=local)
        predictions.append(prediction)
    return predictions, analysis_notes


def scaled(
    prediction: Prediction,
    cost: ModelCost,
    target: Target,
    scale: ScaleOut,
    *,
    local: Sequence[DeviceDescription] = (),
) -> Prediction:
    """``prediction``'s step on ``scale.gpus`` of its GPU, over the catalog's links for that GPU.

    Raises:
        UsageError: A layout the model or the GPUs cannot take.
    """
    links = load_links()
    device = target.model.device
    catalog_id = next((d.catalog_id for d in local if d.id == device), None) if target.local else device
    node_link = links.node_link(catalog_id or "")
    network = links.network(node_link)
    nodes = scale.nodes or math.ceil(scale.gpus / (node_link.gpus_per_node or scale.gpus))

    measured = target.model.links.get("all_reduce") if target.local else None
    if measured is not None and scale.gpus > measured.num_processes:
        measured = None  # measured over fewer GPUs than asked: the catalog's link, not an extrapolation

    def fabric_of(machines: int) -> Fabric:
        if measured is not None and machines == 1:
            # This machine's GPUs, measured by calibrate --nproc: the fitted all-reduce link.
            return Fabric(
                link=Link(bus_bytes_per_s=measured.bus_bytes_per_s, latency_s=measured.latency_s),
                description=(
                    f"measured here ({measured.backend}, {measured.num_processes} processes),"
                    f" {measured.bus_bytes_per_s / 1e9:.1f} GB/s bus"
                ),
            )
        return fabric(
            node_link, network, nodes=machines, host_link_bytes_per_s=target.model.host_link_bytes_per_s
        )

    def memory_at(batch: int) -> MemoryEstimate:
        return estimate_memory(
            cost.traced_memory,
            optimizer=cost.optimizer,
            foreach=target.memory_kind != "cpu",
            memory_kind=target.memory_kind,
            batch_size=batch,
        )

    half = cost.precision in ("bf16", "fp16", "amp")
    try:
        return scale_out(
            prediction,
            scale.layout,
            gpus=scale.gpus,
            nodes=nodes,
            fabric_of=fabric_of,
            trainable_bytes=cost.traced_memory.trainable_bytes,
            activation_bytes=2 if half else 4,
            decoder=_decoder_shape(cost) if scale.layout.kind == "tp" else None,
            memory_at=memory_at,
        )
    except ValueError as error:
        raise UsageError(str(error), fix="Change --gpus, --nodes or --parallel") from None


def _decoder_shape(cost: ModelCost) -> DecoderShape | None:
    """A zoo or ``decoder:...`` decoder's blocks, width and tokens per sample; ``None`` for others."""
    from devicefit.workloads.decoder import PRESETS, parse_decoder_spec

    if cost.model in PRESETS:
        config = PRESETS[cost.model]
    elif cost.model.startswith("decoder:"):
        config, _ = parse_decoder_spec(cost.model.removeprefix("decoder:"))
    else:
        return None
    tokens = cost.sequence_length or config.max_positions
    return DecoderShape(width=config.width, depth=config.depth, sequence_length=tokens)
