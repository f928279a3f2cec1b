"""A weekday the whole platform never trades on: forecasts sell nothing there, keep each series'
week, and the interval on that day is zero (not a covered interval where nothing could happen)."""

from __future__ import annotations

import numpy as np

from aggregation.closed_days import close, closed_days
from aggregation.ensemble import EnsembleConfig, EnsembleForecaster
from aggregation.metrics import coverage
from aggregation.timeseries import TimeSeriesConfig
from tests.aggregation.synth import panel_from

FAST = TimeSeriesConfig(max_iter=30, train_origins=4, max_train_rows=20_000)
DAYS = 110
SHUT = 5  # day index % 7 on which nobody orders (a Tuesday from panel_from's 2026-01-01)


def shut_weekday_history(seed: int = 0, days: int = DAYS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sparse = np.where(rng.random((200, days)) < 0.3, rng.geometric(0.5, (200, days)), 0)
    steady = rng.poisson(rng.uniform(1.0, 6.0, (100, 1)), (100, days))
    y = np.vstack([sparse, steady]).astype(float)
    y[:, np.arange(days) % 7 == SHUT] = 0.0
    return y


def test_a_weekday_shut_for_four_weeks_is_closed_and_nothing_else():
    y = shut_weekday_history()
    t = 60
    shut = closed_days(y, t, 7)
    assert shut.tolist() == [(t + h) % 7 == SHUT for h in range(7)]
    # a two-week closure (a festival) is not a weekly closing day
    festive = np.ones((3, 70))
    festive[:, 50:64] = 0.0
    assert not closed_days(festive, 64, 7).any()
    # too little history to tell
    assert not closed_days(y, 21, 7).any()
    # a horizon longer than a week reads the same weekday
    long = closed_days(y, t, 14)
    assert long.tolist() == [(t + h) % 7 == SHUT for h in range(14)]


def test_closing_a_day_keeps_each_series_total_on_the_open_days():
    points = np.array([[1.0, 2.0, 1.0, 3.0], [0.0, 0.0, 4.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    shut = np.array([False, False, True, False])
    out = close(points, shut)
    np.testing.assert_allclose(out.sum(axis=1), points.sum(axis=1))
    assert (out[:, 2] == 0).all()
    np.testing.assert_allclose(out[0], [7 / 6, 14 / 6, 0.0, 21 / 6])
    np.testing.assert_allclose(out[1], [4 / 3, 4 / 3, 0.0, 4 / 3])  # nothing open forecast: evenly
    assert close(points, np.zeros(4, dtype=bool)) is points


def test_the_ensemble_forecasts_zero_on_a_closed_day_and_its_week_elsewhere():
    y = shut_weekday_history()
    origin = DAYS - 7
    panel = panel_from(y[:, :origin])
    model = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel, origin)
    rows, out = model.predict(panel, origin)
    p10, p50, p90 = out["ensemble"]
    shut = (origin + np.arange(7)) % 7 == SHUT
    assert shut.sum() == 1
    for q in (p10, p50, p90):
        assert (q[:, shut] == 0).all()
    assert (p90[:, ~shut].sum(axis=1) > 0).mean() > 0.9
    # a closed day's cells leave coverage: the zero interval met the zero outcome and says nothing
    truth = y[rows, origin:]
    covered = coverage(truth[:, ~shut].ravel(), p10[:, ~shut].ravel(), p90[:, ~shut].ravel())
    assert coverage(truth.ravel(), p10.ravel(), p90.ravel()) == covered


def test_a_week_nobody_sold_anything_does_not_narrow_the_intervals():
    from aggregation.ensemble import BandWeights, HeadBins, Members

    rng = np.random.default_rng(3)
    rows, h = 400, 7

    def fold(outcome_scale: float) -> tuple[Members, np.ndarray]:
        level = rng.uniform(1.0, 10.0, (rows, 1))
        members = Members(np.arange(rows), np.zeros(rows, dtype=int), np.ones(rows, dtype=bool),
                          {"flat": np.repeat(level, h, axis=1)}, np.zeros(h, dtype=bool))
        return members, rng.poisson(level * outcome_scale, (rows, h)).astype(float)

    trading = [fold(1.0) for _ in range(3)]
    shut = fold(0.0)  # a Christmas week: every outcome 0
    weights = BandWeights(("flat",), np.array([1.0]))
    cfg = EnsembleConfig()
    without = HeadBins.fit([f for f, _ in trading], [o for _, o in trading], weights, cfg)
    with_shut = HeadBins.fit([f for f, _ in trading] + [shut[0]], [o for _, o in trading] + [shut[1]],
                             weights, cfg)
    np.testing.assert_allclose(with_shut.head.hi, without.head.hi)
    np.testing.assert_allclose(with_shut.head.lo, without.head.lo)
