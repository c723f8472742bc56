"""Multi-GPU training steps: data parallel (DDP), sharded (ZeRO-1/2, FSDP) and tensor parallel layouts.

A layout turns one GPU's predicted step into the step of N GPUs: the computation each GPU keeps, the
collectives the layout adds (``predict.collectives``: ring costs over the links they cross), how much
of them the computation hides, and the memory each GPU holds.

- ``ddp`` (PyTorch ``DistributedDataParallel``): gradients all-reduced in buckets of 25 MiB (the first
  of 1 MiB), each launched when its gradients are ready, on one communication stream that runs
  beside the backward pass; what is left when the backward ends is exposed, the last bucket at least.
  DDP keeps its buckets apart from the gradients (``gradient_as_bucket_view=False``): one more
  gradient-sized buffer.
- ``zero1`` / ``zero2`` (ZeRO stages 1 and 2, Rajbhandari et al., SC 2020): gradients
  reduce-scattered in the same buckets during the backward, each GPU updates its shard of the
  parameters (the optimizer step divided by N), then the updated parameters are all-gathered,
  exposed. Stage 1 shards the optimizer state, stage 2 the gradients too.
- ``fsdp`` (``FullyShardedDataParallel``, ZeRO stage 3): parameters, gradients and optimizer state
  sharded; each wrapped unit's parameters all-gathered before its forward and again before its
  backward, its gradients reduce-scattered after, the next unit's gather prefetched while the
  current one computes. Units follow ``size_based_auto_wrap_policy``'s default of 10^8 parameters.
- ``tp=K`` (Megatron-LM, Shoeybi et al. 2019), decoders only: each block's attention and MLP split
  over K GPUs of one machine, two all-reduces of the block's activations in the forward and two in
  the backward, not overlapped; the step's computation divided by K. The remaining N/K GPUs are
  replicas, data parallel over the gradients' shards as ``ddp``.

Gradients are taken to become ready at an even rate through the backward pass (convolutional
networks make their large late-layer gradients first, so their overlap is better than this);
collectives do not slow the kernels they overlap (they take a few SMs and some memory bandwidth).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devicefit.predict.collectives import Collective, Link, collective_time_s
from devicefit.records import LinkSpec, MemoryEstimate, Prediction

#: DDP's gradient buckets (``bucket_cap_mb=25``, MiB) and its first, smaller bucket
#: (``torch.distributed._DEFAULT_FIRST_BUCKET_BYTES``, 1 MiB), torch/nn/parallel/distributed.py.
DDP_BUCKET_BYTES = 25 * 2**20
DDP_FIRST_BUCKET_BYTES = 2**20
#: Parameters per FSDP unit: ``size_based_auto_wrap_policy``'s ``min_num_params`` default
#: (torch/distributed/fsdp/wrap.py).
FSDP_UNIT_PARAMETERS = 10**8
#: Megatron's activation memory per block, ``sbh(10 + 24/t)`` bytes without the attention scores
#: (Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models", 2022, eq. 2):
#: 24 of the 34 parts are split over the tensor-parallel GPUs, 10 stay whole on each.
TP_SPLIT_ACTIVATIONS = 24 / 34
LAYOUTS = ("ddp", "fsdp", "zero1", "zero2", "tp=K")


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """A parallel layout: its kind and, for ``tp``, the GPUs one block is split over."""

    kind: str
    tensor_parallel: int = 1

    @property
    def name(self) -> str:
        """The layout as ``--parallel`` writes it (``ddp``, ``tp=4``)."""
        return f"tp={self.tensor_parallel}" if self.kind == "tp" else self.kind


def parse_layout(text: str) -> Layout:
    """Reads ``ddp``, ``fsdp``, ``zero1``, ``zero2`` or ``tp=K``.

    Raises:
        ValueError: Naming the layouts there are.
    """
    name = text.strip().lower()
    if name in ("ddp", "fsdp", "zero1", "zero2"):
        return Layout(kind=name)
    if name.startswith("tp="):
        degree = name[3:]
        if degree.isdigit() and int(degree) >= 1:
            return Layout(kind="tp", tensor_parallel=int(degree))
    raise ValueError(f"unknown parallel layout {text!r}: use one of {', '.join(LAYOUTS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fabric:
    """The links a collective over some GPUs crosses: one ring's figures, and what they are."""

    link: Link
    description: str


def fabric(
    node_link: LinkSpec,
    network: LinkSpec | None,
    *,
    nodes: int,
    host_link_bytes_per_s: float | None,
) -> Fabric:
    """One ring over GPUs on ``nodes`` machines joined by ``node_link`` and ``network``.

    A ring's bandwidth is its slowest link's. Inside a machine that is each GPU's node link. Across
    machines NCCL runs one ring per network adapter, each ring carrying its share of the message
    through one adapter per machine, so the machines' adapters together set the bus bandwidth
    (``nics_per_node`` x an adapter's). Every ring step waits for the slowest hop: across machines
    the network's latency is each step's.

    Raises:
        ValueError: A figure the ring needs is unknown (a PCIe GPU without a host link rate).
    """
    peak = node_link.peak_bytes_per_s or host_link_bytes_per_s
    if peak is None:
        raise ValueError(f"the {node_link.name} rate of this GPU is unknown (no host link in the catalog)")
    bus = peak * node_link.bus_fraction
    latency = node_link.latency_s
    description = f"{node_link.name}, {bus / 1e9:.0f} GB/s bus"
    if nodes > 1:
        if network is None or network.peak_bytes_per_s is None:
            raise ValueError(f"no network between machines of {node_link.name} in the link catalog")
        adapters = node_link.nics_per_node or 1
        between = adapters * network.peak_bytes_per_s * network.bus_fraction
        bus = min(bus, between)
        latency = max(latency, network.latency_s)
        description += f"; {nodes} machines over {adapters}x {network.name}, {between / 1e9:.0f} GB/s bus"
    return Fabric(link=Link(bus_bytes_per_s=bus, latency_s=latency), description=description)


def buckets(total_bytes: float, cap_bytes: float, first_bytes: float | None = None) -> list[float]:
    """Sizes of the buckets ``total_bytes`` of gradients fill, in launch order."""
    sizes: list[float] = []
    left = total_bytes
    if first_bytes is not None and left > 0:
        sizes.append(min(first_bytes, left))
        left -= sizes[-1]
    while left > 0:
        sizes.append(min(cap_bytes, left))
        left -= sizes[-1]
    return sizes


def overlapped_end_s(times_s: Sequence[float], ready_s: Sequence[float]) -> float:
    """When a stream that runs collectives one after another, each from its ready time, is done."""
    end = 0.0
    for time, ready in zip(times_s, ready_s, strict=True):
        end = max(end, ready) + time
    return end


def bucketed_s(
    collective: Collective, total_bytes: float, ranks: int, link: Link, backward_s: float
) -> tuple[float, float]:
    """All collectives of DDP's buckets during a backward pass: their time, and the part exposed.

    Gradients fill the buckets at an even rate through the backward pass; a bucket is launched when
    it is full, after the previous one.
    """
    sizes = buckets(total_bytes, DDP_BUCKET_BYTES, DDP_FIRST_BUCKET_BYTES)
    times = [collective_time_s(collective, size, ranks, link) for size in sizes]
    filled, ready = 0.0, []
    for size in sizes:
        filled += size
        ready.append(backward_s * filled / total_bytes)
    return sum(times), max(overlapped_end_s(times, ready) - backward_s, 0.0)


def _fsdp_s(
    parameter_bytes: float, ranks: int, link: Link, forward_s: float, backward_s: float
) -> tuple[float, float, int]:
    """FSDP's collectives and exposed time: per unit, gathers prefetched one ahead of its computation."""
    units = max(math.ceil(parameter_bytes / (FSDP_UNIT_PARAMETERS * 4)), 1)
    unit = parameter_bytes / units
    gather = collective_time_s("all_gather", unit, ranks, link)
    scatter = collective_time_s("reduce_scatter", unit, ranks, link)
    # Forward: the first gather waits; each later one runs beside the previous unit's computation.
    forward_exposed = gather + (units - 1) * max(gather - forward_s / units, 0.0)
    # Backward: a unit's gather and the previous unit's reduce-scatter share the stream; the last
    # reduce-scatter follows the backward.
    backward_exposed = gather + scatter + (units - 1) * max(gather + scatter - backward_s / units, 0.0)
    total = units * (2 * gather + scatter)
    return total, forward_exposed + backward_exposed, units


def shard_memory(
    memory: MemoryEstimate,
    layout: Layout,
    *,
    replicas: int,
    trainable_bytes: float,
    fsdp_units: int = 1,
) -> MemoryEstimate:
    """One GPU's share of a training step's memory under ``layout``.

    ``ddp`` adds its buckets (a copy of the gradients); ``zero1`` divides the optimizer state over
    the replicas, ``zero2`` also the gradients, ``fsdp`` also the weights, plus two units gathered
    whole (the one computing and the one prefetched); ``tp=K`` divides weights, gradients and state
    by K and the split part of the activations (``TP_SPLIT_ACTIVATIONS``).
    """
    weights, gradients = memory.weights_bytes, memory.gradients_bytes
    state, activations, transient = (
        memory.optimizer_state_bytes,
        memory.activations_bytes,
        memory.transient_bytes,
    )
    # A peak in the optimizer step holds the step's temporaries, as sharded as the update.
    in_update = memory.train_peak_phase == "optimizer step"
    if layout.kind == "ddp":
        transient += trainable_bytes
    elif layout.kind in ("zero1", "zero2", "fsdp"):
        state /= replicas
        if in_update:
            transient /= replicas
        if layout.kind != "zero1":
            gradients /= replicas
        if layout.kind == "fsdp":
            weights = weights / replicas + 2 * trainable_bytes / fsdp_units * (1 - 1 / replicas)
    elif layout.kind == "tp":
        k = layout.tensor_parallel
        weights, gradients, state = weights / k, gradients / k, state / k
        activations *= 1 - TP_SPLIT_ACTIVATIONS + TP_SPLIT_ACTIVATIONS / k
        if in_update:
            transient /= k
        if replicas > 1:
            transient += trainable_bytes / k
    peak = weights + gradients + state + activations + transient
    return dataclasses.replace(
        memory,
        weights_bytes=weights,
        gradients_bytes=gradients,
        optimizer_state_bytes=state,
        activations_bytes=activations,
        transient_bytes=transient,
        train_peak_bytes=peak,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DecoderShape:
    """What tensor parallelism needs of a decoder: its blocks and the activations between them."""

    width: int
    depth: int
    sequence_length: int


def scale_out(
    single: Prediction,
    layout: Layout,
    *,
    gpus: int,
    nodes: int,
    fabric_of: Callable[[int], Fabric],
    trainable_bytes: float,
    activation_bytes: int = 4,
    decoder: DecoderShape | None = None,
    memory_at: Callable[[int], MemoryEstimate] | None = None,
) -> Prediction:
    """One GPU's predicted training step as the step of each of ``gpus`` GPUs under ``layout``.

    Args:
        single: The step on one GPU, at the batch each replica takes.
        layout: The parallel layout.
        gpus: GPUs in all.
        nodes: Machines they are spread over (``gpus`` divisible by it).
        fabric_of: The ring over that many machines (``fabric``), by machine count.
        trainable_bytes: Bytes of the parameters that receive gradients (the gradients' size).
        activation_bytes: Bytes per element of the activations tensor parallelism all-reduces.
        decoder: The decoder's shape, for ``tp``.
        memory_at: The one-GPU memory model at a batch, to find the largest batch per GPU.

    Raises:
        ValueError: A layout the model or GPU count cannot take, naming why.
    """
    if single.mode != "train":
        raise ValueError("multi-GPU prediction covers training steps: --infer runs each GPU on its own")
    if gpus < 2:
        raise ValueError(f"a parallel layout needs 2 GPUs or more, not {gpus}")
    if nodes < 1 or gpus % nodes:
        raise ValueError(f"{gpus} GPUs do not spread evenly over {nodes} machines")
    k = layout.tensor_parallel
    if layout.kind == "tp":
        if decoder is None:
            raise ValueError("tensor parallelism (tp=K) is modelled for the decoder family only")
        if gpus % k or k > gpus // nodes:
            raise ValueError(f"tp={k} needs {k} GPUs of one machine and a GPU count divisible by {k}")
    replicas = gpus // k
    data_link = fabric_of(nodes).link
    forward, backward, optimizer = single.forward_s, single.backward_s, single.optimizer_s
    comm, exposed, units = 0.0, 0.0, 1
    if layout.kind == "ddp":
        comm, exposed = bucketed_s("all_reduce", trainable_bytes, gpus, data_link, backward)
    elif layout.kind in ("zero1", "zero2"):
        comm, exposed = bucketed_s("reduce_scatter", trainable_bytes, gpus, data_link, backward)
        gather = collective_time_s("all_gather", trainable_bytes, gpus, data_link)
        comm, exposed = comm + gather, exposed + gather
        optimizer /= gpus
    elif layout.kind == "fsdp":
        comm, exposed, units = _fsdp_s(trainable_bytes, gpus, data_link, forward, backward)
        optimizer /= gpus
    else:
        assert decoder is not None
        forward, backward, optimizer = forward / k, backward / k, optimizer / k
        block_bytes = single.batch_size * decoder.sequence_length * decoder.width * activation_bytes
        tensor_link = fabric_of(1).link
        per_block = collective_time_s("all_reduce", block_bytes, k, tensor_link)
        comm = exposed = 4 * decoder.depth * per_block
        if replicas > 1:
            # The replicas' all-reduce of the gradient shards crosses machines when they do.
            dp_comm, dp_exposed = bucketed_s("all_reduce", trainable_bytes / k, replicas, data_link, backward)
            comm, exposed = comm + dp_comm, exposed + dp_exposed
    step = forward + backward + optimizer + exposed
    split = single
    if layout.kind == "tp":
        # Each GPU runs a K-th of every operator class.
        split = dataclasses.replace(
            single,
            compute_s=single.compute_s / k,
            memory_s=single.memory_s / k,
            overhead_s=single.overhead_s / k,
            breakdown=tuple(
                dataclasses.replace(
                    c,
                    time_s=c.time_s / k,
                    compute_s=c.compute_s / k,
                    memory_s=c.memory_s / k,
                    overhead_s=c.overhead_s / k,
                )
                for c in single.breakdown
            ),
        )
    memory = single.memory
    peak, fits, largest = single.peak_memory_bytes, single.fits, single.max_batch_size
    if memory is not None:
        memory = shard_memory(
            memory, layout, replicas=replicas, trainable_bytes=trainable_bytes, fsdp_units=units
        )
        peak = memory.train_peak_bytes
        capacity = single.memory_capacity_bytes
        if capacity is not None:
            fits = peak + memory.overhead_bytes <= capacity
            if memory_at is not None:
                largest = _largest_batch(
                    lambda b: shard_memory(
                        memory_at(b),
                        layout,
                        replicas=replicas,
                        trainable_bytes=trainable_bytes,
                        fsdp_units=units,
                    ),
                    capacity,
                )
    one_gpu_throughput = single.throughput_samples_per_s
    throughput = replicas * single.batch_size / step if step > 0 else 0.0
    efficiency = throughput / (gpus * one_gpu_throughput) if one_gpu_throughput > 0 else None
    description = fabric_of(nodes).description
    return dataclasses.replace(
        split,
        step_time_s=step,
        forward_s=forward,
        backward_s=backward,
        optimizer_s=optimizer,
        peak_memory_bytes=peak,
        memory=memory,
        fits=fits,
        max_batch_size=largest,
        gpus=gpus,
        nodes=nodes,
        parallel=layout.name,
        replicas=replicas,
        comm_s=comm,
        exposed_comm_s=exposed,
        scaling_efficiency=efficiency,
        interconnect=description,
    )


def _largest_batch(memory_at: Callable[[int], MemoryEstimate], capacity_bytes: float) -> int:
    """The largest batch whose sharded training peak plus runtime overhead fits (0 if none)."""

    def fits(batch: int) -> bool:
        memory = memory_at(batch)
        return memory.train_peak_bytes + memory.overhead_bytes <= capacity_bytes

    if not fits(1):
        return 0
    low, high = 1, 2
    while fits(high):
        low, high = high, 2 * high
        if high > 2**31:
            return low
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low
