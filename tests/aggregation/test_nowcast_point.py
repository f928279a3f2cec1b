"""The nowcast's point forecast: at the per-band level that leaves no bias on held-out campaigns,
between the median and P90, with the interval around it unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from aggregation.nowcast import NowcastConfig, share_band, unbiased_lift
from aggregation.presale import PresaleConfig, PresaleForecaster
from tests.aggregation.synth import TZ, world


def test_unbiased_lift_adds_up_to_the_outcome():
    rng = np.random.default_rng(0)
    mid = rng.uniform(0, 3, 500)
    hi = mid + rng.uniform(0.2, 1.5, 500)
    y = np.expm1(mid + 0.4 * (hi - mid))
    lam = unbiased_lift(y, mid, hi)
    assert lam == pytest.approx(0.4, abs=1e-6)
    assert unbiased_lift(np.expm1(mid) * 0.5, mid, hi) == 0.0  # the median already over-forecasts
    assert unbiased_lift(np.expm1(hi) * 3.0, mid, hi) == 1.0  # never beyond P90
    assert unbiased_lift(np.array([]), mid[:0], hi[:0]) == 0.0


@pytest.fixture(scope="module")
def frames_origin():
    return world(days=30, products=6, groups=10, seed=11), datetime(2026, 1, 26, 0, tzinfo=TZ)


def fit(frames, origin, unbiased: bool) -> PresaleForecaster:
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=20, unbiased_point=unbiased), max_train_units=400,
                           train_days=14)
    return PresaleForecaster(replace(config, seed=3)).fit(frames, origin)


def test_point_has_no_bias_on_the_calibration_bands_and_keeps_the_interval(frames_origin):
    frames, origin = frames_origin
    median, unbiased = fit(frames, origin, False), fit(frames, origin, True)
    cal = unbiased.calibration_states_
    lo_m, p50_m, hi_m = median.model_.predict(cal)
    lo_u, p50_u, hi_u = unbiased.model_.predict(cal)
    assert np.all(p50_u >= p50_m - 1e-9) and np.all(lo_u <= p50_u) and np.all(p50_u <= hi_u + 1e-9)
    np.testing.assert_allclose(lo_u, np.minimum(lo_m, p50_u))
    y = cal["final_qty"].to_numpy().astype(np.float64)
    bands = share_band(cal["share"].to_numpy())
    for b in np.unique(bands):
        m = bands == b
        lift = unbiased.model_.lifts_[int(b)]
        assert 0.0 <= lift <= 1.0
        if 0.0 < lift < 1.0:
            assert p50_u[m].sum() == pytest.approx(y[m].sum(), rel=1e-6)
    assert (pl.Series(p50_u) >= 0).all()
