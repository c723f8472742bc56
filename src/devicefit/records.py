"""Frozen records that flow between devicefit's stages; SI units inside, formatting only in report/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Bumped when a stored record changes shape; stored with every result (2: model benchmark fields).
SCHEMA_VERSION = 2

DeviceKind = Literal["cpu", "cuda", "mps", "fake"]
ResultStatus = Literal["ok", "oom", "skipped", "unsupported", "error"]
RunStatus = Literal["running", "complete", "interrupted", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Peak:
    """A theoretical peak rate of one device for one dtype.

    Attributes:
        dtype: ``fp32``, ``tf32``, ``bf16``, ``fp16``, ``int8``...
        flops_per_s: Peak operations per second (a multiply-add counts 2).
        derivation: How the figure was obtained, readable by a person.
        source: ``derived`` (computed from device properties) or ``catalog:<id>``.
    """

    dtype: str
    flops_per_s: float
    derivation: str
    source: str = "derived"


@dataclass(frozen=True, slots=True, kw_only=True)
class CPUProperties:
    """What a CPU is, as far as deep learning cares."""

    model: str
    vendor: str
    architecture: str
    num_physical_cores: int
    num_logical_cpus: int
    num_threads: int
    isa_features: tuple[str, ...]
    torch_cpu_capability: str
    base_clock_hz: float | None
    max_clock_hz: float | None
    clock_source: str
    simd_fp32_lanes: int
    fma_units_per_core: int
    fma_units_source: str
    l1d_cache_bytes_per_core: int | None
    l2_cache_bytes_per_core: int | None
    l3_cache_bytes: int | None
    memory_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUProperties:
    """What a CUDA or ROCm GPU is; the NVML fields are ``None`` where NVML is absent."""

    index: int
    name: str
    backend: Literal["cuda", "rocm"]
    memory_bytes: int
    num_multiprocessors: int
    compute_capability: str
    l2_cache_bytes: int | None = None
    runtime_version: str | None = None
    driver_version: str | None = None
    uuid: str | None = None
    sm_clock_max_hz: float | None = None
    memory_clock_max_hz: float | None = None
    memory_bus_width_bits: int | None = None
    power_limit_w: float | None = None
    pcie_generation_max: int | None = None
    pcie_width_max: int | None = None
    pcie_generation_current: int | None = None
    pcie_width_current: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchitectureSpec:
    """Per-multiprocessor rates of a GPU architecture, to derive peaks for GPUs not in the catalog.

    Attributes:
        id: ``hopper``, ``ampere``...
        vendor: ``nvidia`` or ``amd``.
        compute_capabilities: Compute capabilities (``9.0``) or gfx targets it covers.
        fp32_flops_per_clock_per_multiprocessor: Non-tensor FP32 FLOP per clock per SM/CU.
        matrix_flops_per_clock_per_multiprocessor: Dense tensor/matrix-unit FLOP per clock per
            SM/CU, by dtype.
        sources: Source keys of each figure, by field path.
    """

    id: str
    vendor: str
    compute_capabilities: tuple[str, ...]
    fp32_flops_per_clock_per_multiprocessor: float
    matrix_flops_per_clock_per_multiprocessor: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """Where catalog figures come from.

    Attributes:
        citation: The document, readable by a person.
        url: Where to find it, if online.
        trust: ``vendor``, ``vendor-via-third-party``, ``third-party`` or ``derived``.
    """

    citation: str
    url: str = ""
    trust: Literal["vendor", "vendor-via-third-party", "third-party", "derived"] = "third-party"


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSpec:
    """Purchase and rental prices, each with its date."""

    list_usd: float | None = None
    list_date: str | None = None
    cloud_usd_per_hour: float | None = None
    cloud_date: str | None = None
    cloud_note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSpec:
    """A catalog device: datasheet figures, each with its sources (``sources[field] = keys``).

    Peaks are dense (no 2:4 sparsity); ``matrix_precisions`` says which of them run on tensor or
    matrix units.
    """

    id: str
    name: str
    vendor: str
    kind: Literal["gpu", "cpu", "tpu"]
    architecture: str
    sources: dict[str, tuple[str, ...]]
    compute_capability: str | None = None
    isa: str | None = None
    aliases: tuple[str, ...] = ()
    launch_date: str | None = None
    memory_bytes: int | None = None
    memory_type: str | None = None
    bandwidth_bytes_per_s: float | None = None
    num_multiprocessors: int | None = None
    boost_clock_hz: float | None = None
    tdp_w: float | None = None
    interconnect: str | None = None
    host_link_bytes_per_s: float | None = None
    matrix_precisions: tuple[str, ...] = ()
    peak_flops_per_s: dict[str, float] = field(default_factory=dict)
    price: PriceSpec | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDescription:
    """One local compute device with its peak figures.

    Attributes:
        id: ``cpu``, ``cuda:0``, ``mps``, ``fake``.
        kind: The backend family.
        name: Marketing name as the driver reports it.
        vendor: Lowercase vendor name.
        memory_bytes: Memory the device can use (system RAM for CPUs).
        peaks: Peak FLOP/s by dtype, each with its derivation.
        peak_bandwidth_bytes_per_s: Peak memory bandwidth, ``None`` where it cannot be known.
        bandwidth_derivation: How the bandwidth figure was obtained, or why it is unknown.
        host_link_bytes_per_s: Peak host-to-device bandwidth per direction (GPUs).
        catalog_id: The matching hardware catalog entry, if any.
    """

    id: str
    kind: DeviceKind
    name: str
    vendor: str
    memory_bytes: int | None
    peaks: tuple[Peak, ...] = ()
    peak_bandwidth_bytes_per_s: float | None = None
    bandwidth_derivation: str = ""
    host_link_bytes_per_s: float | None = None
    catalog_id: str | None = None
    cpu: CPUProperties | None = None
    gpu: GPUProperties | None = None

    def peak_flops_per_s(self, dtype: str) -> float | None:
        """Returns the peak for ``dtype``, or ``None`` if it is not known."""
        return next((peak.flops_per_s for peak in self.peaks if peak.dtype == dtype), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """The software and machine a run was measured on (pyperf's metadata, typed)."""

    devicefit_version: str
    python_version: str
    torch_version: str
    numpy_version: str
    platform: str
    hostname: str
    cpu_model: str
    torch_num_threads: int
    cuda_runtime_version: str | None = None
    hip_version: str | None = None
    cudnn_version: str | None = None
    nvidia_driver_version: str | None = None

    def differences(self, other: Environment) -> tuple[str, ...]:
        """Names the fields that make results from ``other`` not comparable to this one."""
        checked = ("hostname", "cpu_model", "torch_version", "cuda_runtime_version", "nvidia_driver_version")
        return tuple(name for name in checked if getattr(self, name) != getattr(other, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Robust statistics of timing samples; warnings are data, not log lines.

    Attributes:
        median_s: Median time per iteration.
        iqr_s: Interquartile range (75th minus 25th percentile).
        min_s: Fastest sample.
        max_s: Slowest sample.
        mean_s: Arithmetic mean.
        cv: Coefficient of variation (standard deviation over mean); 0 for one sample.
        num_samples: Number of samples summarized.
        warnings: Why the numbers may not be trustworthy, one sentence each.
    """

    median_s: float
    iqr_s: float
    min_s: float
    max_s: float
    mean_s: float
    cv: float
    num_samples: int
    warnings: tuple[str, ...] = ()

    @property
    def relative_iqr(self) -> float:
        """IQR over median: the noise figure ``torch.utils.benchmark`` warns on."""
        return self.iqr_s / self.median_s if self.median_s > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """Raw timing of one callable: every sample kept, never rounded.

    Attributes:
        samples_s: Time per iteration of each sample (block time over iterations).
        iterations_per_sample: Calls of the callable in each timed block.
        overhead_s: Clock and synchronization overhead of one empty block.
        num_warmup_iterations: Calls made before timing began.
        summary: Statistics of ``samples_s``.
    """

    samples_s: tuple[float, ...]
    iterations_per_sample: int
    overhead_s: float
    num_warmup_iterations: int
    summary: Summary


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One benchmark case measured on one device.

    Attributes:
        device: Device id (``cpu``, ``cuda:0``).
        benchmark: Benchmark family (``matmul``, ``triad``, ``h2d``, ``launch``...).
        case_id: Unique id of the case within a run (``matmul.fp32.1024``).
        dtype: Element type, where it applies.
        size: The case's size parameter: n of an n x n x n matmul, elements per array for
            memory kernels, bytes for transfers.
        shape: Tensor shape(s) flattened, where a single size does not say it all.
        num_threads: CPU threads used, where the case pins them.
        pinned: Whether host memory was page-locked (transfers).
        flags: Backend switches in force (``tf32``...).
        flops_per_iteration: Work of one call (a multiply-add counts 2).
        bytes_per_iteration: Bytes one call reads plus writes (STREAM convention).
        value: The figure of merit: ``flops / median_s``, ``bytes / median_s``, samples per second,
            or seconds.
        unit: ``FLOP/s``, ``B/s``, ``elements/s``, ``samples/s`` or ``s``.
        peak: The device peak ``value`` is compared against, in the same unit.
        model: The workload of a model benchmark (``train_step``, ``inference``).
        batch_size: Samples per step of a model benchmark.
        peak_memory_bytes: Peak allocated memory of one step (allocator statistics), where measured.
        status: ``ok``; ``oom`` when device memory ran out; ``skipped`` when the case would not
            fit in free memory or would run too long; ``unsupported`` by this device or build;
            ``error`` for any other failure.
        error: The failure message when status is not ``ok``.
        measurement: Raw samples and statistics; ``None`` when nothing was timed.
    """

    device: str
    benchmark: str
    case_id: str
    unit: str
    dtype: str | None = None
    size: int | None = None
    shape: tuple[int, ...] | None = None
    num_threads: int | None = None
    pinned: bool | None = None
    flags: tuple[str, ...] = ()
    flops_per_iteration: float | None = None
    bytes_per_iteration: float | None = None
    value: float | None = None
    peak: float | None = None
    model: str | None = None
    batch_size: int | None = None
    peak_memory_bytes: int | None = None
    status: ResultStatus = "ok"
    error: str | None = None
    measurement: Measurement | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def median_s(self) -> float | None:
        """Median seconds per iteration, or ``None`` when nothing was timed."""
        return self.measurement.summary.median_s if self.measurement else None

    @property
    def peak_fraction(self) -> float | None:
        """Achieved over peak, where both are known and higher is better."""
        if self.value is None or not self.peak or self.unit == "s":
            return None
        return self.value / self.peak

    @property
    def warnings(self) -> tuple[str, ...]:
        """The noise warnings of the measurement."""
        return self.measurement.summary.warnings if self.measurement else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A stored run: what ran, where, when, how it ended, and its results."""

    run_id: int
    status: RunStatus
    started_at: str
    command: str
    environment: Environment
    devices: tuple[DeviceDescription, ...]
    ended_at: str | None = None
    label: str | None = None
    results: tuple[Result, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """A line of ``devicefit history``."""

    run_id: int
    status: RunStatus
    started_at: str
    ended_at: str | None
    command: str
    label: str | None
    hostname: str
    num_results: int
    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCost:
    """One ATen operator call of a traced step.

    Attributes:
        name: Operator name without namespace (``addmm``).
        op_class: One of ``analyze.opclass.OP_CLASSES``.
        module: Innermost module running it (``layer1.0.conv1``), ``""`` at top level.
        phase: ``forward`` or ``backward``.
        flops: Floating-point operations (a multiply-add is 2); ``None`` when no formula applies.
        bytes_read: Bytes of the distinct tensors it reads.
        bytes_written: Bytes of the tensors it writes.
        dtype: Element type of its first output (``fp32``, ``bf16``...).
    """

    name: str
    op_class: str
    module: str
    phase: str
    flops: float | None
    bytes_read: float
    bytes_written: float
    dtype: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCost:
    """The cost of one leaf module in a step (the per-layer table of ``profile``)."""

    name: str
    type: str
    num_parameters: int
    forward_flops: float
    backward_flops: float
    bytes_moved: float
    activation_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassCost:
    """The cost of one operator class in a step."""

    op_class: str
    num_ops: int
    forward_flops: float
    backward_flops: float
    forward_bytes: float
    backward_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedMemory:
    """What the traced steps measured at two batch sizes, in bytes (allocator-level).

    Attributes:
        batch_size: The batch of the ``*_peak_bytes`` figures.
        weights_bytes: Parameters and buffers.
        trainable_bytes: Parameters that receive gradients.
        largest_parameter_bytes: The largest single parameter (per-parameter optimizer temporaries).
        activations_bytes: Tensors the forward pass saved for backward.
        train_peak_bytes: Peak of forward, loss and backward (weights, inputs and gradients included).
        infer_peak_bytes: Peak of a no-grad forward pass (weights and inputs included).
        train_bytes_per_sample: Slope of the training peak over batch size.
        infer_bytes_per_sample: Slope of the inference peak over batch size.
    """

    batch_size: int
    weights_bytes: float
    trainable_bytes: float
    largest_parameter_bytes: float
    activations_bytes: float
    train_peak_bytes: float
    infer_peak_bytes: float
    train_bytes_per_sample: float
    infer_bytes_per_sample: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryEstimate:
    """Memory of a training step and of inference at one batch size, allocator-level, in bytes.

    ``train_peak_bytes`` and ``infer_peak_bytes`` are what a caching allocator's peak statistic
    would show (``torch.cuda.max_memory_allocated``); ``overhead_bytes`` (runtime, context,
    libraries) comes on top when deciding whether a device has room.

    Attributes:
        weights_bytes: Parameters and buffers.
        gradients_bytes: One gradient per trainable parameter.
        optimizer_state_bytes: Momentum and second-moment buffers.
        master_weights_bytes: fp32 copies kept beside low-precision weights (0 under autocast,
            where the weights themselves are the fp32 master copy).
        activations_bytes: Tensors saved by the forward pass for the backward pass.
        transient_bytes: What the peak holds beyond the above: temporaries, casts, workspace.
        overhead_bytes: Runtime and context memory outside the allocator (CUDA context...).
        train_peak_bytes: Peak of a steady-state training step.
        infer_peak_bytes: Peak of a no-grad forward pass.
        train_bytes_per_sample: Growth of the training peak per added sample.
        infer_bytes_per_sample: Growth of the inference peak per added sample.
    """

    weights_bytes: float
    gradients_bytes: float
    optimizer_state_bytes: float
    master_weights_bytes: float
    activations_bytes: float
    transient_bytes: float
    overhead_bytes: float
    train_peak_bytes: float
    infer_peak_bytes: float
    train_bytes_per_sample: float
    infer_bytes_per_sample: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCost:
    """A model's compute and memory needs for one batch size and precision, from a traced step.

    Attributes:
        model: Workload name.
        batch_size: Samples per step.
        sequence_length: Tokens per sample, for sequence models.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast mixed precision.
        optimizer: The optimizer of the training step.
        num_parameters: Parameters (trainable and frozen).
        num_trainable_parameters: Parameters that receive gradients.
        forward_flops: FLOPs of the forward pass and the loss, whole batch.
        backward_flops: FLOPs of the backward pass, whole batch.
        optimizer_flops: FLOPs of one optimizer step.
        forward_bytes: Bytes read plus written by the forward ops.
        backward_bytes: Bytes read plus written by the backward ops.
        optimizer_bytes: Bytes the optimizer step reads plus writes.
        flop_coverage: Share of operator calls with a FLOP formula (PyTorch's or devicefit's).
        uncounted_ops: Names of operators without a formula.
        ops: Every operator call of the step (forward and backward).
        layers: Per leaf module, in execution order.
        classes: Per operator class.
        memory: The memory model at this batch size.
        traced_memory: What the traces measured, to evaluate the memory model at other batch sizes.
        foreach: Whether the memory model assumes the optimizer's ``foreach`` implementation.
        method: How the step was traced (``fake tensors``, or the real-CPU fallback).
        warnings: What the reader should know about these numbers.
    """

    model: str
    batch_size: int
    sequence_length: int | None
    precision: str
    optimizer: str
    num_parameters: int
    num_trainable_parameters: int
    forward_flops: float
    backward_flops: float
    optimizer_flops: float
    forward_bytes: float
    backward_bytes: float
    optimizer_bytes: float
    flop_coverage: float
    uncounted_ops: tuple[str, ...]
    ops: tuple[OpCost, ...]
    layers: tuple[LayerCost, ...]
    classes: tuple[ClassCost, ...]
    memory: MemoryEstimate
    traced_memory: TracedMemory
    foreach: bool
    method: str
    warnings: tuple[str, ...] = ()

    @property
    def train_flops(self) -> float:
        """FLOPs of one training step: forward, backward and optimizer."""
        return self.forward_flops + self.backward_flops + self.optimizer_flops

    @property
    def forward_intensity(self) -> float:
        """Forward FLOPs per byte moved: above a device's FLOP/s over bandwidth, compute-bound."""
        return self.forward_flops / self.forward_bytes if self.forward_bytes else 0.0
