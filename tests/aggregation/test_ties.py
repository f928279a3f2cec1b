"""Quantile boosters on demand that is mostly zero: ties broken, or they learn nothing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from aggregation.ensemble import PoissonBooster
from aggregation.ties import TIE_BREAK, break_ties
from aggregation.timeseries import FEATURES, TimeSeriesConfig, active_rows, origin_features
from tests.aggregation.synth import panel_from

FAST = TimeSeriesConfig(max_iter=30, train_origins=4, max_train_rows=30_000)
DAYS = 84


def test_ties_are_broken_by_a_little_reproducible_noise():
    y = np.array([0.0, 0.0, 3.0, 0.0])
    out = break_ties(y, seed=1)
    assert np.all(out >= y) and np.all(out < y + TIE_BREAK)
    assert np.unique(out).size == y.size
    np.testing.assert_array_equal(out, break_ties(y, seed=1))
    np.testing.assert_array_equal(break_ties(y, seed=1, amount=0.0), y)


def mostly_zero(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """900 series that sell on 2% of days and 60 (p0900..) that sell about 8 a day: 92% of the cells
    are 0."""
    rng = np.random.default_rng(seed)
    sparse = np.where(rng.random((900, DAYS)) < 0.02, 1.0, 0.0)
    busy = rng.poisson(8.0, (60, DAYS)).astype(float)
    return np.vstack([sparse, busy]), [f"p{i:04d}" for i in range(900, 960)]


def test_the_daily_median_booster_learns_the_busy_series_though_most_days_sell_nothing():
    """Without the ties broken, the median and 90% boosters start at 0 (over 90% of the targets),
    every row has the same pinball gradient, no tree splits, and both predict 0 for every series, the
    ones that sell eight a day included: the ensemble's gbm_p50 and gbm_p90 members were all zeros."""
    y, busy = mostly_zero()
    assert (y == 0).mean() > 0.9
    origin = DAYS - 7
    panel = panel_from(y[:, :origin])
    booster = PoissonBooster(FAST).fit(panel, origin)
    rows = active_rows(panel, origin, 7, FAST.active_days)
    feats = origin_features(panel, origin, 7, rows)
    x = np.column_stack([feats[f] for f in FEATURES])
    is_busy = np.repeat(panel.series["product_id"].gather(rows).is_in(busy).to_numpy(), 7)
    assert is_busy.sum() == 60 * 7
    mid, hi = booster.mid_.predict(x), booster.hi_.predict(x)
    assert np.median(mid[is_busy]) >= 5.0
    assert np.median(hi[is_busy]) >= np.median(mid[is_busy]) + 1.0
    assert np.median(mid[~is_busy]) < 0.5
    unbroken = PoissonBooster(replace(FAST, tie_break=0.0)).fit(panel, origin)
    assert np.abs(unbroken.mid_.predict(x)).max() < 1e-9  # what the ties did
