"""Records of measurements: environment, timing samples and statistics, results and runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devicefit.records.advice import CrossoverOutcome, PlanOutcome
from devicefit.records.energy import EnergyReading
from devicefit.records.hardware import DeviceDescription
from devicefit.records.vocabulary import PER_JOULE_UNIT, SECONDS, EnergyMethod

#: Bumped when a stored record changes shape; stored with every result (2: model benchmark fields;
#: 3: the energy reading).
SCHEMA_VERSION = 3
#: The note of a result stored before devicefit metered energy (schema version 2 and older).
NOT_METERED = "not metered: stored before devicefit read energy meters"

ResultStatus = Literal["ok", "oom", "skipped", "unsupported", "error"]
#: ``abandoned``: the process recording the run died without ending it (killed, crashed).
RunStatus = Literal["running", "complete", "interrupted", "failed", "abandoned"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """The software and machine a run was measured on (pyperf's metadata, typed).

    ``torch_num_threads`` is 0 for a run that never imported PyTorch (advice from predictions alone).
    """

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
        unit: ``FLOP/s``, ``B/s``, ``elements/s``, ``samples/s``, ``samples`` or ``s`` (``vocabulary.Unit``).
        peak: The device peak ``value`` is compared against, in the same unit.
        model: The workload of a model benchmark (``train_step``, ``inference``).
        batch_size: Samples per step of a model benchmark.
        peak_memory_bytes: Peak allocated memory of one step (allocator statistics), where measured.
        status: ``ok``; ``oom`` when device memory ran out; ``skipped`` when the case would not
            fit in free memory or would run too long; ``unsupported`` by this device or build;
            ``error`` for any other failure.
        error: The failure message when status is not ``ok``.
        measurement: Raw samples and statistics; ``None`` when nothing was timed.
        energy: What the device's energy meter read over the timed window (warm-up and sampling);
            ``None`` when nothing was timed, or the result predates energy readings.
        num_processes: Processes taking part in a collective (``bench --suite comm``).
        node: The cluster node that measured it (``fleet bench``); ``None`` for this machine.
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
    energy: EnergyReading | None = None
    num_processes: int | None = None
    node: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def median_s(self) -> float | None:
        """Median seconds per iteration, or ``None`` when nothing was timed."""
        return self.measurement.summary.median_s if self.measurement else None

    @property
    def peak_fraction(self) -> float | None:
        """Achieved over peak, where both are known and higher is better."""
        if self.value is None or not self.peak or self.unit == SECONDS:
            return None
        return self.value / self.peak

    @property
    def warnings(self) -> tuple[str, ...]:
        """The noise warnings of the measurement."""
        return self.measurement.summary.warnings if self.measurement else ()

    @property
    def power_w(self) -> float | None:
        """Average power of the device while the case ran, where a meter read it."""
        return self.energy.power_w if self.energy else None

    @property
    def energy_j(self) -> float | None:
        """Joules of one iteration (one call, one step): the average power times ``median_s``."""
        power_w, median_s = self.power_w, self.median_s
        return power_w * median_s if power_w is not None and median_s is not None else None

    @property
    def energy_method(self) -> EnergyMethod:
        """How ``energy_j`` was obtained: ``counter``, ``sampled``, ``estimate`` or ``none``."""
        return self.energy.method if self.energy else "none"

    @property
    def energy_note(self) -> str | None:
        """Why there is no energy figure, or what the figure covers."""
        if self.energy:
            return self.energy.note
        return "nothing was timed" if self.measurement is None else NOT_METERED

    @property
    def value_per_j(self) -> float | None:
        """Performance per watt: the rate over the average power (FLOP/J, samples/J), where both exist."""
        power_w = self.power_w
        if self.value is None or not power_w or self.unit not in PER_JOULE_UNIT:
            return None
        return self.value / power_w

    @property
    def unit_per_j(self) -> str | None:
        """The unit of ``value_per_j`` (``FLOP/J``), or ``None`` when the value is not a rate."""
        return PER_JOULE_UNIT.get(self.unit)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A stored run: what ran, where, when, how it ended, its results, and the advice it gave.

    ``crossover`` and ``plan`` hold the answer of a ``crossover`` or ``plan`` run (a measured
    crossover has results too).
    """

    run_id: int
    status: RunStatus
    started_at: str
    command: str
    environment: Environment
    devices: tuple[DeviceDescription, ...]
    ended_at: str | None = None
    label: str | None = None
    results: tuple[Result, ...] = field(default=())
    pid: int | None = None
    crossover: CrossoverOutcome | None = None
    plan: PlanOutcome | None = None


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
    pid: int | None = None
