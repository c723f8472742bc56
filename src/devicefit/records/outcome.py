"""What the orchestration in ``app/`` returns: a run's results with what was fitted from them."""

from __future__ import annotations

from dataclasses import dataclass

from devicefit.records.measurement import Result
from devicefit.records.model import ModelCost
from devicefit.records.prediction import DeviceModel, Prediction


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOutcome:
    """What a benchmark session produced: the stored run, how it ended, and the device models fitted.

    Attributes:
        run_id: The stored run.
        results: Every finished result, in the order measured.
        interrupted: Ctrl-C or SIGTERM ended the run early; ``results`` holds what had finished.
        fits: Device models fitted from the run (``bench``'s micro suite, ``calibrate``), each with the
            verdict of the plausibility checks in its ``warnings`` and ``rejected``.
        calibration_ids: The store's id of each fit, in the order of ``fits``.
    """

    run_id: int
    results: tuple[Result, ...]
    interrupted: bool
    fits: tuple[DeviceModel, ...] = ()
    calibration_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictOutcome:
    """Predictions of one model's step on each device asked for, and the devices left out.

    Attributes:
        model: The model as named.
        batch_size: Samples per step.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        mode: ``train`` or ``infer``.
        predictions: One per device, in the order the devices were named.
        notes: For each prediction, where its device's figures came from (what the reader should know).
        skipped: ``(device, reason)`` for each device named that cannot be predicted.
        analysis_notes: About the model's analysis (a cache that could not be written).
    """

    model: str
    batch_size: int
    precision: str
    mode: str
    predictions: tuple[Prediction, ...]
    notes: tuple[tuple[str, ...], ...]
    skipped: tuple[tuple[str, str], ...] = ()
    analysis_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationPoint:
    """One model step to predict and measure."""

    model: str
    batch_size: int
    train: bool
    sequence_length: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A predicted step time against the measured one.

    Attributes:
        error: ``predicted / measured - 1`` (positive: predicted slower than measured); ``None``
            when the step could not be measured.
    """

    device: str
    num_threads: int | None
    model: str
    batch_size: int
    mode: str
    predicted_s: float
    measured_s: float | None
    status: str

    @property
    def error(self) -> float | None:
        """Relative error of the prediction."""
        if not self.measured_s:
            return None
        return self.predicted_s / self.measured_s - 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationOutcome:
    """Each checked step, predicted and measured, in the stored run that measured them.

    Attributes:
        num_results: Results the run stored (fewer than the comparisons when it was interrupted).
        num_errors: Steps with both a prediction and a measurement; the two figures below are of their
            |error| (the 90th percentile by nearest rank), ``None`` when there is none.
    """

    run_id: int
    comparisons: tuple[Comparison, ...]
    interrupted: bool
    num_results: int
    num_errors: int = 0
    median_abs_error: float | None = None
    p90_abs_error: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileOutcome:
    """A model's analysis, and the largest batch that trains in a memory size when one was asked.

    Attributes:
        cost: The analysis.
        memory_bytes: The memory size asked about, if any.
        max_batch_size: The largest batch whose training step fits in ``memory_bytes`` (0 if none).
        notes: About the analysis (a cache that could not be written).
    """

    cost: ModelCost
    memory_bytes: float | None = None
    max_batch_size: int | None = None
    notes: tuple[str, ...] = ()
