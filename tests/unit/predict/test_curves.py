"""Efficiency curves: log-linear between their points, flat beyond."""

import pytest

from devicefit.predict.curves import efficiency_at
from devicefit.records import EfficiencyCurve


def test_curve_is_log_linear_between_points_and_flat_beyond():
    curve = EfficiencyCurve(points=((10.0, 0.2), (1000.0, 0.6)))
    # log10(100) = 2 is halfway between 1 and 3: 0.2 + 0.5 * (0.6 - 0.2).
    assert efficiency_at(curve, 100.0) == pytest.approx(0.4)
    # log10(10 ** 1.5) = 1.5, a quarter of the way.
    assert efficiency_at(curve, 10**1.5) == pytest.approx(0.3)
    assert efficiency_at(curve, 10.0) == pytest.approx(0.2)
    assert efficiency_at(curve, 1000.0) == pytest.approx(0.6)
    assert efficiency_at(curve, 1.0) == efficiency_at(curve, 1e-9) == 0.2
    assert efficiency_at(curve, 1e12) == 0.6


def test_empty_curve_is_full_speed_and_fractions_never_reach_zero():
    assert efficiency_at(EfficiencyCurve(points=()), 123.0) == 1.0
    assert efficiency_at(EfficiencyCurve(points=((1.0, 0.0),)), 5.0) == 1e-6
