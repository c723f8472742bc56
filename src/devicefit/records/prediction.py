"""Records of prediction: a device's performance model (peaks, efficiency, overheads) and a prediction."""

from __future__ import annotations

from dataclasses import dataclass, field

from devicefit.records.model import MemoryEstimate
from devicefit.records.vocabulary import COMPUTE_CURVE_KEY, Curve, DeviceClass


@dataclass(frozen=True, slots=True, kw_only=True)
class EfficiencyCurve:
    """The achieved fraction of a peak as a function of one number describing a call.

    Piecewise linear in log10(x) between measured points, flat beyond the first and last
    (``predict.curves.efficiency_at`` reads it).

    Attributes:
        points: ``(x, fraction)`` pairs, x ascending: arithmetic intensity (FLOP per byte) for
            compute curves, bytes per call for memory curves.
    """

    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductKernelFit:
    """Fitted parameters of a GPU's matrix-product (or convolution) kernels (``predict.gpu_kernels``).

    Attributes:
        fraction: Fraction of the peak a tile of unbounded reuse would reach.
        tile_reuse_half: A tile's FLOP per loaded element at which it reaches half that fraction.
        k_prologue: A tile's prologue and epilogue, in steps of its K loop.
        bandwidth_fraction: Fraction of the bandwidth its memory-bound calls reach.
        floor_s: A kernel's shortest time on the device (launch, ramp-up, tail).
        sustained_fp32_flops_per_s: The fp32 FLOP/s the board's power limit sustains (its TDP
            times the FLOP per joule of its process node); ``None``: unknown or not power-bound.
        winograd_fraction: For convolutions, the efficiency of Winograd's products relative to
            ``fraction`` (0: the family has no Winograd path).
    """

    fraction: float
    tile_reuse_half: float
    k_prologue: float
    bandwidth_fraction: float
    floor_s: float
    sustained_fp32_flops_per_s: float | None = None
    winograd_fraction: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectiveLink:
    """A local link's figures for one collective, fitted from its measured times (``predict.collectives``).

    Attributes:
        bus_bytes_per_s: Bus bandwidth the large messages reach.
        latency_s: Latency of one ring step, what the small messages pay.
        num_processes: Processes it was measured with.
        backend: The ``torch.distributed`` backend (``gloo``, ``nccl``).
    """

    bus_bytes_per_s: float
    latency_s: float
    num_processes: int
    backend: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceModel:
    """What the performance model needs to know of a device, and where each part came from.

    Attributes:
        device: Local id (``cpu``, ``cuda:0``) or catalog id.
        name: Readable name.
        kind: ``cpu``, ``gpu`` or ``tpu``.
        asynchronous: Kernel launches overlap device work (GPUs); else per-op costs add up (CPUs).
        num_threads: CPU threads the figures hold for.
        peak_flops_per_s: Dense peak by dtype; a compute curve's fractions are of these.
        bandwidth_bytes_per_s: The memory bandwidth the memory curve's fractions are of.
        host_link_bytes_per_s: Host-to-device bandwidth (GPUs).
        memory_bytes: Memory capacity, for fit and largest batch.
        compute: Fraction of peak against arithmetic intensity, keyed ``class.dtype`` (``matmul.bf16``,
            ``conv.fp32``, ``conv_depthwise.fp32``...): small and skinny products use a device worse.
        memory: Fraction of bandwidth against bytes per call, by kernel family (``elementwise``,
            ``copy``, ``batch_norm``, ``batch_norm_backward``, ``layer_norm``, ``softmax``, ``max_pool``).
        op_overhead_s: Host time of one operator call from Python (dispatch on CPUs, launch on GPUs).
        backward_op_overhead_s: Host time of one operator call from the autograd engine (no Python).
        recorded_op_overhead_s: Host time of one operator call from Python that records an autograd
            node (a training forward); ``None``: as ``op_overhead_s``.
        view_overhead_s: Host time of a metadata-only operator (a view).
        module_overhead_s: Host time of one ``nn.Module`` call beyond its operators.
        conv_overhead_s: Host time of a convolution call (library primitive lookup and setup).
        matmul_shapes: Measured matrix products by dtype, ``(M, K, N, fraction of peak)``: a product's
            efficiency is interpolated from the products nearest to its shape. ``fp32`` holds them
            measured with warm caches (inputs reused call after call), ``fp32.cold`` with inputs
            fetched from memory.
        conv_shapes: Measured convolutions as implicit matrix products (``conv_gemm_shape``), keyed
            like ``compute`` (``conv.fp32``, ``conv_backward.fp32``): a convolution's efficiency is
            interpolated from the layers nearest to its shape, so narrow layers (few channels, which
            fill few SIMD lanes) are told apart from wide ones of the same arithmetic intensity.
            Layers that ran channel-blocked have their output channels padded to
            ``conv_channel_block`` in these shapes, and the efficiency of the padded work.
        lstm_shapes: Measured LSTM layers by their ``(batch, inputs, 4 x hidden)``, keyed ``lstm.fp32``
            and ``lstm_backward.fp32``: the fused recurrent cell's efficiency, interpolated to a
            layer's shape (its small per-step products run far from what a lone product reaches).
        conv_channel_block: Output channels a convolution that runs channel-blocked
            (``OpCost.channel_blocking``) computes together: a layer with fewer costs a whole block,
            as with the next multiple. oneDNN's CPU layouts block channels by one vector register of
            fp32 lanes (16 with AVX-512, 8 with AVX2): on a Zen 4, a 5x5 layer with 4, 6, 8 or 16
            output channels takes the same time, and one with 24 as long as one with 32. 1 where
            nothing is known (GPUs).
        cache_bytes: The last-level cache: a step whose working set fits in it runs warm.
        optimizer_tensor_s: Host time of one optimizer step per parameter tensor, by optimizer
            (PyTorch's per-parameter loop runs Python for each).
        optimizer_step_s: Host time of one optimizer step beyond its tensors (hooks, grouping).
        first_touch_s_per_byte: Cost of the first write to freshly mapped memory, per byte (the
            kernel's page faults): what an allocation pays when the allocator hands out new pages.
        fp32_matmul_dtype: The curve fp32 matrix products use (``tf32`` where PyTorch allows it).
        fp32_conv_dtype: The curve fp32 convolutions use (cuDNN allows TF32 by default).
        num_multiprocessors: SMs or compute units, for the wave quantization of matrix products
            whose efficiency is not interpolated from measured shapes.
        matmul_tile: Output tile ``(rows, columns)`` one multiprocessor computes at a time.
        product_kernels: Fitted GPU kernel parameters by class (``matmul``, ``conv``): products
            and convolutions are timed by tiles and waves (``predict.gpu_kernels``) rather than by
            the compute curves. Empty for measured devices.
        nchw_transpose_dtypes: Dtypes whose convolutions on NCHW tensors pay layout transposes
            beyond the conv curves: half precisions on GPUs whose tensor cores run them NHWC,
            where the curves were not measured on NCHW tensors (calibrated ones were).
        host: The host CPU its host costs (``*_overhead_s``) are for and why it was assumed,
            readable by a person (``""``: the device itself, or not known).
        source: Where the peaks and curves came from.
        origin: ``calibrated`` (measured on this device by ``devicefit calibrate``), ``bench``
            (fitted on this device from a ``devicefit bench`` run's micro suite), ``transferred``
            (another device's calibration with this one's datasheet figures) or ``defaults`` (the
            shipped defaults).
        error_band: Expected relative error of predictions made with this model.
        created_at: When it was calibrated (ISO time), for stored calibrations.
        warnings: What a reader of its predictions should know about the measurements it was
            fitted from (noisy, slower than earlier runs), each naming what to run.
        rejected: Why its measurements cannot be the device's when it is idle (a matrix product
            far below any plausible share of the peak); a model with reasons is stored, for the
            record, but never predicts.
        links: The local link between processes, by collective (``all_reduce``...), fitted by
            ``calibrate --nproc N``; empty when not measured.
    """

    device: str
    name: str
    kind: DeviceClass
    asynchronous: bool
    peak_flops_per_s: dict[str, float]
    bandwidth_bytes_per_s: float
    compute: dict[str, EfficiencyCurve]
    memory: dict[str, EfficiencyCurve]
    op_overhead_s: float
    backward_op_overhead_s: float
    view_overhead_s: float
    module_overhead_s: float
    conv_overhead_s: float
    source: str
    error_band: float
    num_threads: int | None = None
    recorded_op_overhead_s: float | None = None
    host_link_bytes_per_s: float | None = None
    memory_bytes: float | None = None
    matmul_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    conv_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    lstm_shapes: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    optimizer_tensor_s: dict[str, float] = field(default_factory=dict)
    optimizer_step_s: dict[str, float] = field(default_factory=dict)
    first_touch_s_per_byte: float = 0.0
    conv_channel_block: int = 1
    cache_bytes: float | None = None
    fp32_matmul_dtype: str = "fp32"
    fp32_conv_dtype: str = "fp32"
    num_multiprocessors: int | None = None
    matmul_tile: tuple[int, int] | None = None
    product_kernels: dict[str, ProductKernelFit] = field(default_factory=dict)
    nchw_transpose_dtypes: tuple[str, ...] = ()
    host: str = ""
    origin: str = "calibrated"
    created_at: str | None = None
    warnings: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    links: dict[str, CollectiveLink] = field(default_factory=dict)

    def peak(self, dtype: str) -> float:
        """Peak FLOP/s for ``dtype``; without one (no native units), the fp32 peak it runs at."""
        return self.peak_flops_per_s.get(dtype) or self.peak_flops_per_s.get("fp32") or 1e9

    @property
    def best_matmul_fp32_fraction(self) -> float | None:
        """The largest fraction of the fp32 peak its matrix products reach (``None``: no curve)."""
        matmul = self.compute.get(COMPUTE_CURVE_KEY.format(family=Curve.MATMUL, dtype="fp32"))
        return max((f for _, f in matmul.points), default=None) if matmul else None

    @property
    def dram_bandwidth_bytes_per_s(self) -> float | None:
        """The bandwidth STREAM reaches at its largest size (``None``: no STREAM curve)."""
        stream = self.memory.get(Curve.STREAM)
        return self.bandwidth_bytes_per_s * stream.points[-1][1] if stream else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassTime:
    """Predicted time of one operator class in a step, and what bounds it."""

    op_class: str
    time_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    num_ops: int

    @property
    def bound(self) -> str:
        """``compute``, ``memory`` or ``overhead``: the largest of the three."""
        parts = {"compute": self.compute_s, "memory": self.memory_s, "overhead": self.overhead_s}
        return max(parts, key=lambda name: parts[name])


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerEstimate:
    """A device's modelled average power during a step, and the energy of the step (``predict.power``).

    Attributes:
        power_w: Average power drawn during the step.
        energy_j: Energy of one step (``power_w`` x the step time).
        samples_per_j: Samples per joule.
        error_band: Expected relative error of ``power_w`` (and so of ``energy_j``).
        tdp_w: The thermal design power the model scales.
        basis: How it was obtained, readable by a person (the TDP's origin, the weights).
        method: ``estimate`` (modelled, never measured).
    """

    power_w: float
    energy_j: float
    samples_per_j: float
    error_band: float
    tdp_w: float
    basis: str
    method: str = "estimate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """A model's predicted step on one device, with its breakdown, memory fit and expected error.

    Attributes:
        model: Workload name.
        device: Device id (local or catalog).
        device_name: Readable name.
        batch_size: Samples per step.
        precision: A name of ``vocabulary.PRECISIONS``.
        mode: ``train`` or ``infer``.
        step_time_s: Predicted time of one step.
        forward_s: Forward pass (and loss).
        backward_s: Backward pass (0 for inference).
        optimizer_s: Optimizer step (0 for inference).
        transfer_s: Host-to-device copy of the batch (GPUs); not in ``step_time_s``.
        compute_s: Time of the ops that are compute-bound.
        memory_s: Time of the ops that are memory-bound.
        overhead_s: Time of the ops dominated by launch or dispatch cost, plus module calls.
        breakdown: Per operator class.
        peak_memory_bytes: Predicted peak memory of the step (allocator-level).
        memory: The memory model at this batch for this device: a training peak's parts.
        memory_capacity_bytes: The device's memory, if known.
        fits: Peak plus runtime overhead fits the capacity (``None`` when unknown).
        max_batch_size: The largest batch that fits (``None`` when the capacity is unknown).
        error_band: Expected relative error of ``step_time_s``.
        calibration: Where the device's figures came from.
        origin: ``calibrated``, ``bench``, ``transferred`` or ``defaults`` (see ``DeviceModel.origin``).
        warnings: What the reader should know about the figures it came from, and what to run.
        host: The host CPU assumed to launch a GPU's work and why (``""``: none, a CPU or TPU).
        channels_last: The model ran in channels-last memory format.
        power: Modelled power and energy of the step (``None``: the device's TDP is unknown).
        gpus: GPUs the step runs on (``predict.parallel``); 1 for a single device.
        nodes: Machines those GPUs are spread over.
        parallel: The layout: ``none`` (one device), ``ddp``, ``fsdp``, ``zero1``, ``zero2`` or ``tp=K``.
        replicas: Data-parallel replicas, each taking ``batch_size`` samples a step (``gpus / K``
            under ``tp=K``, else ``gpus``).
        comm_s: Time of the step's collectives on their own (all of them, hidden or not).
        exposed_comm_s: The part of ``comm_s`` the computation does not hide (in ``step_time_s``).
        scaling_efficiency: Throughput over ``gpus`` times the one-GPU throughput at the same
            batch per replica (``None`` for one device).
        interconnect: The links the collectives cross, readable by a person (``""``: none).
    """

    model: str
    device: str
    device_name: str
    batch_size: int
    precision: str
    mode: str
    step_time_s: float
    forward_s: float
    backward_s: float
    optimizer_s: float
    transfer_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    breakdown: tuple[ClassTime, ...]
    peak_memory_bytes: float
    memory_capacity_bytes: float | None
    fits: bool | None
    max_batch_size: int | None
    error_band: float
    calibration: str
    origin: str = "calibrated"
    warnings: tuple[str, ...] = field(default=())
    memory: MemoryEstimate | None = None
    host: str = ""
    channels_last: bool = False
    power: PowerEstimate | None = None
    gpus: int = 1
    nodes: int = 1
    parallel: str = "none"
    replicas: int = 1
    comm_s: float = 0.0
    exposed_comm_s: float = 0.0
    scaling_efficiency: float | None = None
    interconnect: str = ""

    @property
    def throughput_samples_per_s(self) -> float:
        """Samples per second at the predicted step time, over every replica."""
        return self.replicas * self.batch_size / self.step_time_s if self.step_time_s > 0 else 0.0
