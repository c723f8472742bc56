"""Robust statistics of timing samples, with the warnings that say when not to trust them."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

from devicefit.records import Summary

#: IQR over median above which a result is flagged noisy (torch.utils.benchmark warns at 10%).
NOISY_RELATIVE_IQR = 0.10
#: Standard deviation over mean above which a result is flagged unstable (pyperf's 10% check).
UNSTABLE_CV = 0.10
#: Fewer samples than this give quartiles that mean little.
MIN_TRUSTED_SAMPLES = 5
#: Slowest over fastest sample above which outliers are reported (pyperf flags max > 1.5 x mean).
OUTLIER_RATIO = 1.5


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """Returns the 25th, 50th and 75th percentiles, interpolated like ``numpy.percentile``.

    Args:
        samples: At least one value.

    Returns:
        ``(q1, median, q3)``; all equal for a single sample.
    """
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, q2, q3


def summarize(samples_s: Sequence[float], *, overhead_fraction: float = 0.0) -> Summary:
    """Summarizes timing samples by median and IQR, never a bare mean.

    Args:
        samples_s: Seconds per iteration of each sample; must not be empty.
        overhead_fraction: Clock and synchronization overhead over the block time, as the
            timer measured it; above 1e-3 the result is flagged.

    Returns:
        A ``Summary`` whose ``warnings`` name every check that failed.

    Raises:
        ValueError: If ``samples_s`` is empty or holds a negative or non-finite value.
    """
    if not samples_s:
        raise ValueError("cannot summarize an empty list of samples")
    if any(not math.isfinite(s) or s < 0 for s in samples_s):
        raise ValueError("timing samples must be finite and non-negative")
    q1, median, q3 = quartiles(samples_s)
    mean = statistics.fmean(samples_s)
    cv = statistics.stdev(samples_s) / mean if len(samples_s) > 1 and mean > 0 else 0.0
    summary = Summary(
        median_s=median,
        iqr_s=q3 - q1,
        min_s=min(samples_s),
        max_s=max(samples_s),
        mean_s=mean,
        cv=cv,
        num_samples=len(samples_s),
    )
    return dataclasses.replace(summary, warnings=_warnings(summary, overhead_fraction))


def _warnings(summary: Summary, overhead_fraction: float) -> tuple[str, ...]:
    warnings = []
    if summary.num_samples < MIN_TRUSTED_SAMPLES:
        warnings.append(f"only {summary.num_samples} samples; quartiles are rough")
    if summary.relative_iqr > NOISY_RELATIVE_IQR:
        warnings.append(f"noisy: IQR is {summary.relative_iqr:.0%} of the median")
    if summary.cv > UNSTABLE_CV:
        warnings.append(f"unstable: standard deviation is {summary.cv:.0%} of the mean")
    if summary.min_s > 0 and summary.max_s > OUTLIER_RATIO * summary.median_s:
        warnings.append(f"outliers: slowest sample is {summary.max_s / summary.median_s:.1f}x the median")
    # 1e-3 is ten times the overhead the block calibration aims for; above it the clock shows.
    if overhead_fraction > 1e-3:
        warnings.append(f"timer overhead is {overhead_fraction:.1%} of each sample")
    return tuple(warnings)


def error_summary(errors: Sequence[float]) -> dict[str, float | int | None]:
    """Median and 90th percentile of |error|, and the count (nearest-rank percentile)."""
    magnitudes = sorted(abs(e) for e in errors)
    if not magnitudes:
        return {"n": 0, "median_abs_error": None, "p90_abs_error": None}
    rank = max(int(-(-0.9 * len(magnitudes) // 1)) - 1, 0)
    return {
        "n": len(magnitudes),
        "median_abs_error": statistics.median(magnitudes),
        "p90_abs_error": magnitudes[rank],
    }
