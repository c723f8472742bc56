"""What the orchestration in ``app/`` returns: a run's results with what was fitted from them."""

from __future__ import annotations

from dataclasses import dataclass

from devicefit.records.measurement import Result
from devicefit.records.prediction import DeviceModel


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
