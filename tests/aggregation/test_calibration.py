"""Conformal interval calibration: about 80% inside P10-P90 on new data, also at the zero floor."""

from __future__ import annotations

import numpy as np

from aggregation.calibration import IntervalCalibrator
from aggregation.metrics import coverage


def sample(rng, n):
    y = np.where(rng.random(n) < 0.5, 0.0, rng.exponential(10.0, n))  # half the days sell nothing
    center = np.full(n, 5.0)
    return y, center, center - 2.0, center + 2.0


def test_lower_side_on_the_floor_hands_its_misses_to_the_upper_side():
    rng = np.random.default_rng(0)
    cal = IntervalCalibrator().fit(*sample(rng, 5000))
    y, center, lo, hi = sample(rng, 5000)
    lo2, hi2 = cal.apply(center, lo, hi)
    lo2 = np.maximum(lo2, 0.0)
    assert 0.77 <= coverage(y, lo2, hi2) <= 0.83
    assert np.mean(y < lo2) < 0.02  # the floor: nothing falls below zero units


def test_symmetric_noise_gets_ten_percent_each_side():
    rng = np.random.default_rng(1)
    y = rng.normal(100, 10, 4000)
    c, lo, hi = np.full(4000, 100.0), np.full(4000, 99.0), np.full(4000, 101.0)
    cal = IntervalCalibrator(floor=None).fit(y, c, lo, hi)
    y2 = rng.normal(100, 10, 4000)
    lo, hi = cal.apply(c, lo, hi)
    assert abs(np.mean(y2 < lo) - 0.1) < 0.02 and abs(np.mean(y2 > hi) - 0.1) < 0.02


def test_groups_get_their_own_scales():
    rng = np.random.default_rng(2)
    g = np.repeat([0, 1], 2000)
    y = np.concatenate([rng.normal(0, 1, 2000), rng.normal(0, 5, 2000)]) + 50
    c, lo, hi = np.full(4000, 50.0), np.full(4000, 49.0), np.full(4000, 51.0)
    cal = IntervalCalibrator(floor=None).fit(y, c, lo, hi, g)
    lo2, hi2 = cal.apply(c, lo, hi, g)
    for k in (0, 1):
        assert 0.76 <= coverage(y[g == k], lo2[g == k], hi2[g == k]) <= 0.84
