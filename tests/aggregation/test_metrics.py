"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregation.metrics import bias, coverage, head_scores, pinball, pinball_loss, score, wape

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
    # nothing forecast, nothing sold: no cell the interval can be judged on
    assert empty["wape"] is None and empty["bias"] is None and empty["coverage_p10_p90"] is None
    assert not math.isnan(empty["pinball"])


def test_coverage_leaves_out_cells_where_interval_and_outcome_are_all_zero():
    # 90 zero days forecast as zero, and 10 selling days the zero-width interval misses
    y = np.concatenate([np.zeros(90), np.full(10, 3.0)])
    zeros = np.zeros(100)
    old_definition = float(np.mean((y >= zeros) & (y <= zeros)))
    assert old_definition == 0.9  # a zero-width interval looked well calibrated
    assert coverage(y, zeros, zeros) == 0.0
    # a zero day inside a real interval still counts
    assert coverage([0.0, 5.0], [0.0, 1.0], [2.0, 4.0]) == 0.5


def test_head_scores_on_horizon_totals_by_hand():
    y = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 10.0]])  # totals 6 and 10
    p50 = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])  # totals 6 and 3
    p10 = np.zeros_like(y)
    p90 = np.array([[3.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    s = head_scores(y, p10, p50, p90)
    assert s["total_wape"] == pytest.approx((0 + 7) / 16)
    assert s["bias"] == pytest.approx((9 - 16) / 16)
    # daily cells: 1,2,3 inside [0,3]; 0,0 inside [0,2]; 10 outside -> 5 of 6
    assert s["coverage_p10_p90"] == pytest.approx(5 / 6)
