"""suggested_qty: the critical-ratio quantile, capped, whole units, moving the right way."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.decision import DecisionConfig, critical_ratio, quantile_at, suggest


def run(price=20.0, cost=10.0, max_qty=None, ordered=0, p=(80.0, 100.0, 130.0), config=DecisionConfig()):
    out = suggest(*([v] for v in p), price=[price], cost=[cost], max_qty=[max_qty if max_qty else np.nan],
                  ordered_qty=[ordered], config=config)
    return {k: v[0] for k, v in out.items()}


def test_two_piece_normal_passes_through_the_three_quantiles():
    got = quantile_at(np.array([0.1, 0.5, 0.9]), 80.0, 100.0, 130.0)
    assert got == pytest.approx([80.0, 100.0, 130.0])
    assert quantile_at(0.001, 0.1, 2.0, 3.0) == 0.0  # never negative


def test_critical_ratio_from_cost_else_service_level():
    assert critical_ratio([20.0, 20.0], [5.0, np.nan]) == pytest.approx([0.75, 0.8])
    assert critical_ratio([10.0], [10.0])[0] == DecisionConfig().min_ratio


def test_whole_units_and_median_at_ratio_one_half():
    got = run(price=20.0, cost=10.0)
    assert got["suggested_qty"] == 100 and isinstance(got["suggested_qty"], np.integer)


def test_moves_the_right_way_with_cost_and_price():
    cheap, dear = run(cost=4.0), run(cost=16.0)
    assert cheap["suggested_qty"] > dear["suggested_qty"]
    low_price, high_price = run(price=12.0, cost=8.0), run(price=40.0, cost=8.0)
    assert high_price["suggested_qty"] > low_price["suggested_qty"]
    # more units: more leftover, better fill
    assert cheap["expected_leftover"] > dear["expected_leftover"]
    assert cheap["expected_fill_rate"] > dear["expected_fill_rate"]


def test_respects_max_qty_and_what_is_already_ordered():
    assert run(cost=1.0, max_qty=90)["suggested_qty"] == 90
    capped = run(cost=1.0, max_qty=90)
    assert capped["expected_fill_rate"] == pytest.approx(1.0)  # demand is capped at 90 too
    assert run(cost=19.0, ordered=95)["suggested_qty"] == 95


def test_fill_rate_and_leftover_are_sane():
    got = run(cost=10.0)
    assert 0.0 < got["expected_fill_rate"] < 1.0
    assert 0.0 < got["expected_leftover"] < 30.0
    zero = run(p=(0.0, 0.0, 0.0))
    assert zero["suggested_qty"] == 0 and zero["expected_fill_rate"] == 1.0 and zero["expected_leftover"] == 0


def test_a_fraction_of_a_unit_is_not_rounded_up_to_a_unit():
    """A daily forecast of 0.008 units (P90 0.008) suggested 1: over a supplier's many thin rows the
    suggestions summed to 40% above the P50 total at a critical ratio of 0.34. The two-piece normal
    stands in for a whole-unit total, so P(D <= q) is read at q + 0.5."""
    assert run(price=20.0, cost=13.2, p=(0.0, 0.008, 0.008))["suggested_qty"] == 0
    assert run(price=20.0, cost=10.0, p=(0.0, 0.4, 0.9))["suggested_qty"] == 0  # P(D <= 0) ~ 0.5+
    assert run(price=20.0, cost=10.0, p=(0.5, 1.6, 3.0))["suggested_qty"] == 2
    assert run(price=20.0, cost=10.0, p=(0.0, 0.008, 0.008), ordered=1)["suggested_qty"] == 1
