"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregation.metrics import bias, coverage, pinball, pinball_loss, score, wape

Y = np.array([0.0, 2.0, 4.0, 10.0])
P10 = np.array([0.0, 1.0, 5.0, 6.0])
P50 = np.array([1.0, 2.0, 6.0, 8.0])
P90 = np.array([2.0, 3.0, 7.0, 9.0])


def test_wape_and_bias_by_hand():
    # |0-1| + |2-2| + |4-6| + |10-8| = 5 over 16
    assert wape(Y, P50) == pytest.approx(5 / 16)
    # (17 - 16) / 16
    assert bias(Y, P50) == pytest.approx(1 / 16)


def test_pinball_by_hand():
    # tau 0.5: half the absolute error, mean = 0.5 * 5 / 4
    assert pinball_loss(Y, P50, 0.5) == pytest.approx(0.625)
    # tau 0.1 on P10: diffs 0, 1, -1, 4 -> 0, 0.1, 0.9, 0.4 -> mean 0.35
    assert pinball_loss(Y, P10, 0.1) == pytest.approx(0.35)
    # tau 0.9 on P90: diffs -2, -1, -3, 1 -> 0.2, 0.1, 0.3, 0.9 -> mean 0.375
    assert pinball_loss(Y, P90, 0.9) == pytest.approx(0.375)
    assert pinball(Y, P10, P50, P90) == pytest.approx((0.35 + 0.625 + 0.375) / 3)


def test_coverage_includes_the_bounds():
    # 0 in [0,2] yes; 2 in [1,3] yes; 4 in [5,7] no; 10 in [6,9] no
    assert coverage(Y, P10, P90) == 0.5
    assert coverage([3.0], [3.0], [3.0]) == 1.0


def test_score_block_and_undefined_values():
    block = score(Y, P10, P50, P90)
    assert set(block) == {"wape", "bias", "pinball", "coverage_p10_p90"}
    assert block["wape"] == pytest.approx(0.3125)
    empty = score([0.0], [0.0], [0.0], [0.0])
    assert empty["wape"] is None and empty["bias"] is None and empty["coverage_p10_p90"] == 1.0
    assert not math.isnan(empty["pinball"])
