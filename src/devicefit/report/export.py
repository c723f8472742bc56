"""Plain-data views of records for ``--json``, ``export --format json`` and ``export --format csv``."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from devicefit.records import DeviceDescription, Result, Run
from devicefit.report.advice import crossover_to_dict, plan_to_dict

#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "run_id",
    "device",
    "benchmark",
    "case_id",
    "dtype",
    "size",
    "shape",
    "num_threads",
    "pinned",
    "flags",
    "value",
    "unit",
    "peak",
    "peak_fraction",
    "model",
    "batch_size",
    "peak_memory_bytes",
    "median_s",
    "iqr_s",
    "min_s",
    "cv",
    "num_samples",
    "iterations_per_sample",
    "energy_j",
    "power_w",
    "energy_method",
    "energy_note",
    "value_per_j",
    "unit_per_j",
    "status",
    "error",
    "warnings",
)


def device_to_dict(device: DeviceDescription) -> dict[str, Any]:
    """The ``devices --json`` shape: peaks keyed by dtype, derivations beside them."""
    data = asdict(device)
    data.pop("peaks")
    data["peak_flops_per_s"] = {peak.dtype: peak.flops_per_s for peak in device.peaks}
    data["peak_derivations"] = {peak.dtype: peak.derivation for peak in device.peaks}
    return data


def result_to_dict(result: Result, *, samples: bool = False) -> dict[str, Any]:
    """One result, flat: parameters, value, statistics, energy, status; raw samples on request.

    ``energy_j`` is the joules of one iteration, ``power_w`` the average power while the case ran,
    ``value_per_j`` the performance per watt (``unit_per_j``: FLOP/J, samples/J); the meter's reading
    (window, domains, resolution) is under ``energy``.
    """
    summary = result.measurement.summary if result.measurement else None
    data: dict[str, Any] = {
        "device": result.device,
        "benchmark": result.benchmark,
        "case_id": result.case_id,
        "dtype": result.dtype,
        "size": result.size,
        "shape": list(result.shape) if result.shape else None,
        "num_threads": result.num_threads,
        "nproc": result.num_processes,
        "node": result.node,
        "pinned": result.pinned,
        "flags": list(result.flags),
        "flops_per_iteration": result.flops_per_iteration,
        "bytes_per_iteration": result.bytes_per_iteration,
        "value": result.value,
        "unit": result.unit,
        "peak": result.peak,
        "peak_fraction": result.peak_fraction,
        "model": result.model,
        "batch_size": result.batch_size,
        "peak_memory_bytes": result.peak_memory_bytes,
        "median_s": result.median_s,
        "iqr_s": summary.iqr_s if summary else None,
        "min_s": summary.min_s if summary else None,
        "cv": summary.cv if summary else None,
        "num_samples": summary.num_samples if summary else None,
        "iterations_per_sample": result.measurement.iterations_per_sample if result.measurement else None,
        "energy_j": result.energy_j,
        "power_w": result.power_w,
        "energy_method": result.energy_method,
        "energy_note": result.energy_note,
        "value_per_j": result.value_per_j,
        "unit_per_j": result.unit_per_j if result.value_per_j is not None else None,
        "energy": asdict(result.energy) if result.energy else None,
        "status": result.status,
        "error": result.error,
        "warnings": list(result.warnings),
    }
    if samples:
        data["samples_s"] = list(result.measurement.samples_s) if result.measurement else []
    return data


def run_to_dict(run: Run, *, samples: bool = False) -> dict[str, Any]:
    """A whole run: identity, status, environment, devices, results, and its ``crossover`` or ``plan``."""
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "command": run.command,
        "label": run.label,
        "environment": asdict(run.environment),
        "devices": [device_to_dict(d) for d in run.devices],
        "results": [result_to_dict(r, samples=samples) for r in run.results],
        # The advice the run gave, as 'crossover --json' and 'plan --json' printed it.
        **({"crossover": crossover_to_dict(run.crossover)} if run.crossover else {}),
        **({"plan": plan_to_dict(run.plan)} if run.plan else {}),
    }


def run_to_csv(run: Run) -> str:
    """One CSV row per result; lists are joined (``shape`` with ``x``, the rest with ``; ``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for result in run.results:
        row = result_to_dict(result)
        row["run_id"] = run.run_id
        row["shape"] = "x".join(map(str, result.shape)) if result.shape else ""
        row["flags"] = "; ".join(result.flags)
        row["warnings"] = "; ".join(result.warnings)
        writer.writerow(row)
    return buffer.getvalue()
