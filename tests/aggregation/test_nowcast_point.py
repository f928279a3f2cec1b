"""The nowcast's point forecast: at the level (per share of the window) that leaves no bias on
held-out campaigns, between the calibrated median and P90, with the interval around it unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from aggregation.nowcast import NowcastConfig, unbiased_lift
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


def fit(frames, origin, until: float) -> PresaleForecaster:
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=20, unbiased_until=until), max_train_units=400,
                           train_days=14)
    return PresaleForecaster(replace(config, seed=3)).fit(frames, origin)


def test_point_has_no_bias_on_the_calibration_shares_and_keeps_the_interval(frames_origin):
    frames, origin = frames_origin
    median, unbiased = fit(frames, origin, -1.0), fit(frames, origin, 1.0)
    cal = unbiased.calibration_states_
    lo_m, p50_m, hi_m = median.model_.predict(cal)
    lo_u, p50_u, hi_u = unbiased.model_.predict(cal)
    assert np.all(p50_u >= p50_m - 1e-9) and np.all(lo_u <= p50_u) and np.all(p50_u <= hi_u + 1e-9)
    np.testing.assert_allclose(lo_u, np.minimum(lo_m, p50_u))
    y = cal["final_qty"].to_numpy().astype(np.float64)
    share = cal["share"].to_numpy()
    shares, levels = unbiased.model_.lifts_
    assert shares.size >= 2 and np.all((levels >= 0) & (levels <= 1)) and levels.max() > 0
    for v, lift in zip(shares, levels, strict=True):
        m = np.isclose(share, v)
        if 0.0 < lift < 1.0:
            assert p50_u[m].sum() == pytest.approx(y[m].sum(), rel=1e-6)
    # between two learned shares the level is interpolated
    mid_share = 0.5 * (shares[0] + shares[1])
    assert unbiased.model_.lift_at(np.array([mid_share]))[0] == pytest.approx(0.5 * (levels[0] + levels[1]))
    assert median.model_.lifts_[0].size == 0
    assert (pl.Series(p50_u) >= 0).all()


def test_default_lifts_at_every_share_and_only_up_to_unbiased_until(frames_origin):
    """The default point is the held-out-unbiased level at every share of the window (learned on the
    grid's shares, interpolated in between); with unbiased_until=0 only before the window opens."""
    frames, origin = frames_origin
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=20), max_train_units=400, train_days=14)
    shares, levels = PresaleForecaster(replace(config, seed=3)).fit(frames, origin).model_.lifts_
    assert shares.size >= 5 and shares[0] == 0.0 and shares.max() >= 0.5
    model = fit(frames, origin, 0.0).model_
    shares, levels = model.lifts_
    assert list(shares) == [0.0]
    lift = model.lift_at(np.array([0.0, 0.05, 0.5, 1.0]))
    assert lift[0] == pytest.approx(levels[0]) and np.all(lift[1:] == 0.0)
