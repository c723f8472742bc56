import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devicefit.analyze.stats import quartiles, summarize


@given(st.lists(st.floats(min_value=1e-9, max_value=10.0), min_size=2, max_size=60))
def test_quartiles_interpolate_like_numpy(samples):
    expected = np.percentile(samples, [25, 50, 75])
    assert quartiles(samples) == pytest.approx(tuple(expected), rel=1e-9, abs=1e-15)


def test_summary_of_known_samples():
    # 1..9 ms: median 5, quartiles 3 and 7 (numpy's linear method), mean 5.
    samples = [i * 1e-3 for i in range(1, 10)]
    summary = summarize(samples)
    assert summary.median_s == pytest.approx(5e-3)
    assert summary.iqr_s == pytest.approx(4e-3)
    assert summary.min_s == pytest.approx(1e-3)
    assert summary.max_s == pytest.approx(9e-3)
    assert summary.mean_s == pytest.approx(5e-3)
    assert summary.cv == pytest.approx(np.std(samples, ddof=1) / 5e-3)
    assert summary.num_samples == 9


def test_stable_samples_carry_no_warning():
    summary = summarize([1.00, 1.01, 0.99, 1.00, 1.02, 0.98])
    assert summary.warnings == ()


def test_summary_warns_when_iqr_exceeds_10_percent():
    summary = summarize([1.0, 1.3, 0.8, 1.2, 0.9, 1.25, 0.85])
    assert summary.relative_iqr > 0.10
    assert any(w.startswith("noisy") for w in summary.warnings)


def test_summary_warns_on_few_samples_and_outliers():
    summary = summarize([1.0, 1.0, 2.0])
    assert any("only 3 samples" in w for w in summary.warnings)
    assert any(w.startswith("outliers") for w in summary.warnings)


def test_summary_warns_when_timer_overhead_shows():
    assert any("overhead" in w for w in summarize([1.0] * 5, overhead_fraction=0.01).warnings)
    assert summarize([1.0] * 5, overhead_fraction=1e-5).warnings == ()


def test_single_sample_has_zero_spread():
    summary = summarize([2.5])
    assert (summary.median_s, summary.iqr_s, summary.cv) == (2.5, 0.0, 0.0)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [-1.0], [float("inf")]])
def test_summary_rejects_invalid_samples(bad):
    with pytest.raises(ValueError):
        summarize(bad)
