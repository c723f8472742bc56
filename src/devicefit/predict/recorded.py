"""Writes and reads recorded calibrations: the raw micro-benchmark results a device model is fitted from.

A recorded run keeps, beside its fitted device models, what they were fitted from: each device's
description and its calibration results. Refitting them with today's code shows what a change to
the fit or to the roofline does to the same measured steps, free of the run-to-run noise of the
machine that measured them (``benchmarks/repredict.py``, ``tests/unit/predict/test_recorded.py``).
Per-sample timings are left out: the fit reads each measurement's summary, and they are most of the
size.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicefit.predict.calibration import fit_device_model
from devicefit.records import DeviceDescription, DeviceModel, Result


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCalibration:
    """One device's calibration results at one thread count, as measured.

    Attributes:
        device: The measured device's description (its peaks and caches enter the fit).
        num_threads: CPU threads of the calibration (``None`` on GPUs).
        results: The calibration's results, per-sample timings left out.
    """

    device: DeviceDescription
    num_threads: int | None
    results: tuple[Result, ...]

    def fit(self, *, source: str) -> DeviceModel:
        """The device model today's fit makes of these results."""
        return fit_device_model(self.results, self.device, num_threads=self.num_threads, source=source)


def _without_samples(result: Result) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    if data["measurement"] is not None:
        data["measurement"]["samples_s"] = []
    return data


def write_calibration(
    path: Path, calibrations: Sequence[tuple[DeviceDescription, int | None, Sequence[Result]]]
) -> None:
    """Writes ``(device, num_threads, results)`` calibrations as JSON, gzip-compressed for ``.gz``.

    The file is replaced whole: an interruption leaves the last complete one.
    """
    text = json.dumps(
        {
            "calibrations": [
                {
                    "device": dataclasses.asdict(device),
                    "num_threads": threads,
                    "results": [_without_samples(r) for r in results],
                }
                for device, threads, results in calibrations
            ]
        },
        separators=(",", ":"),
    )
    replace_file(path, gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode())


def replace_file(path: Path, data: bytes) -> None:
    """Replaces ``path`` whole: written beside it, then renamed, so it is never left half-written."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def read_calibration(path: Path) -> list[RecordedCalibration]:
    """Reads what ``write_calibration`` wrote."""
    from pydantic import TypeAdapter

    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    adapter = TypeAdapter(RecordedCalibration)
    return [adapter.validate_python(entry) for entry in data["calibrations"]]
