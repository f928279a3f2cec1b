"""The analyst's statistical baselines (statsforecast) on a dense daily history matrix."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.statistical import STAT_MODELS, statistical_forecasts

H = 7
INTERMITTENT = ("adida", "imapa", "tsb", "croston_optimized")


def check(result: dict, n_series: int, horizon: int = H) -> None:
    for name, (p10, p50, p90) in result.items():
        for q in (p10, p50, p90):
            assert q.shape == (n_series, horizon), name
            assert np.all(np.isfinite(q)), name
        assert np.all(p10 >= 0), name
        assert np.all(p10 <= p50) and np.all(p50 <= p90), name


@pytest.fixture(scope="module")
def mixed():
    """Smooth, lumpy, late-launched, intermittent and all-zero series, 70 days."""
    rng = np.random.default_rng(3)
    y = rng.poisson(rng.uniform(0.2, 6.0, (8, 1)), (8, 70)).astype(float)
    y[5, :50] = 0  # launched late: 20 days of history
    y[5, 50] = 2
    y[6] = 0  # nothing sold
    y[7, :] = 0
    y[7, 3::9] = 4  # intermittent
    return y


@pytest.fixture(scope="module")
def mixed_result(mixed):
    timings: dict[str, float] = {}
    return statistical_forecasts(mixed, H, timings=timings), timings


def test_every_model_answers_with_valid_quantiles(mixed, mixed_result):
    result, timings = mixed_result
    assert tuple(result) == STAT_MODELS
    check(result, mixed.shape[0])
    assert set(STAT_MODELS) <= set(timings) and timings["total"] > 0


def test_all_zero_series_forecasts_zero(mixed_result):
    result, _ = mixed_result
    for name, qs in result.items():
        for q in qs:
            assert np.all(q[6] == 0), name


def test_seasonal_naive_repeats_last_week():
    week = np.array([0.0, 2, 3, 0, 5, 6, 9])
    y = np.vstack([np.tile(week, 8), np.tile(week[::-1], 8)])
    p10, p50, p90 = statistical_forecasts(y, H, models=["seasonal_naive"])["seasonal_naive"]
    np.testing.assert_allclose(p50, y[:, -7:])
    # a perfectly periodic series has no conformity error: the interval collapses on the point
    np.testing.assert_allclose(p10, p50)
    np.testing.assert_allclose(p90, p50)


def test_window_average_is_the_mean_of_the_last_28_days():
    y = np.random.default_rng(0).poisson(3.0, (4, 60)).astype(float)
    y[:, 0] = 1  # no leading zero: every series keeps its 60 days
    _, p50, _ = statistical_forecasts(y, H, models=["window_average_28"])["window_average_28"]
    np.testing.assert_allclose(p50, np.repeat(y[:, -28:].mean(axis=1, keepdims=True), H, axis=1))


def test_historic_average_is_the_mean_since_the_first_sale(mixed, mixed_result):
    result, _ = mixed_result
    _, p50, _ = result["historic_average"]
    np.testing.assert_allclose(p50[5], mixed[5, 50:].mean())  # leading zeros trimmed
    assert mixed[5, 50:].mean() > mixed[5].mean()
    np.testing.assert_allclose(p50[0], mixed[0].mean())
    # first sold 20 days ago: the 28-day window counts the 8 days before the first sale as no sales,
    # as statsforecast on the dense panel would (the trimmed series is too short for it)
    np.testing.assert_allclose(result["window_average_28"][1][5], mixed[5, -28:].sum() / 28)


def test_a_product_first_sold_days_ago_is_not_forecast_at_its_first_days_rate_by_the_window_models():
    """Sold once, yesterday, 100 units: seasonal naive repeats last week (100 on yesterday's weekday,
    nothing on the days before the first sale) and the 28-day window spreads it over 28 days; the mean
    of the trimmed history (100 a day, 700 in the week) was a handicap of our making."""
    y = np.zeros((2, 60))
    y[0, -1] = 100.0
    y[1] = np.random.default_rng(5).poisson(2.0, 60)
    y[1, 0] = 1
    result = statistical_forecasts(y, H, models=["seasonal_naive", "window_average_28", "historic_average"])
    np.testing.assert_allclose(result["seasonal_naive"][1][0], [0, 0, 0, 0, 0, 0, 100.0])
    np.testing.assert_allclose(result["window_average_28"][1][0], np.full(H, 100 / 28))
    np.testing.assert_allclose(result["historic_average"][1][0], np.full(H, 100.0))  # since its first sale
    np.testing.assert_allclose(result["seasonal_naive"][1][1], y[1, -7:])  # long histories: unchanged
    np.testing.assert_allclose(result["window_average_28"][1][1], np.full(H, y[1, -28:].mean()))


def test_min_history_reads_a_young_series_from_that_many_days_back():
    """The ensemble's members read a young sparse product over 28 days (aggregation.ensemble): sold 6
    units yesterday, it is not forecast 6 a day for the week; older series are read as before."""
    y = np.zeros((3, 60))
    y[0, -1] = 6.0
    y[1, -10:] = [0, 2, 0, 0, 1, 0, 0, 3, 0, 1]
    y[2] = np.random.default_rng(2).poisson(1.0, 60)
    y[2, 0] = 1
    names = ["historic_average", "adida", "croston_optimized", "tsb"]
    trimmed = statistical_forecasts(y, H, models=names, intervals=False)
    read28 = statistical_forecasts(y, H, models=names, intervals=False, min_history=np.array([28, 28, 28]))
    np.testing.assert_allclose(trimmed["historic_average"][1][0], 6.0)  # the analyst's reading
    np.testing.assert_allclose(read28["historic_average"][1][0], 6 / 28)
    np.testing.assert_allclose(read28["historic_average"][1][1], 7 / 28)
    for name in names:
        assert read28[name][1][0].sum() < 0.5 * trimmed[name][1][0].sum(), name
        np.testing.assert_allclose(read28[name][1][2], trimmed[name][1][2], err_msg=name)  # 60 days: same
    once = statistical_forecasts(y, H, models=names, intervals=False, min_history=28)  # one for all
    for name in names:
        np.testing.assert_allclose(once[name][1], read28[name][1], err_msg=name)
    for bad in (-1, np.array([28, 28]), 2.5):
        with pytest.raises(ValueError, match="min_history"):
            statistical_forecasts(y, H, models=names, min_history=bad)


def test_very_short_history_is_still_forecast():
    y = np.array([[1.0, 0, 2, 3, 1], [0, 0, 0, 0, 4]])
    result = statistical_forecasts(y, H)
    check(result, 2)
    np.testing.assert_allclose(result["historic_average"][1][0], 7 / 5)
    np.testing.assert_allclose(result["window_average_28"][1][0], 7 / 5)
    np.testing.assert_allclose(result["historic_average"][1][1], 4.0)  # one day since the first sale
    # AutoETS raises on tiny series ("tiny datasets"): statsforecast's fallback model answers
    np.testing.assert_allclose(result["auto_ets"][1][0], 7 / 5)
    # the fallback band: symmetric around the point by the 80% quantile of |y - mean|
    p10, p50, p90 = result["historic_average"]
    assert np.all(p10[0] < p50[0]) and np.all(p50[0] < p90[0])


def test_conformal_interval_is_wide_on_a_noisy_series():
    y = np.random.default_rng(1).poisson(5.0, (2, 120)).astype(float)
    y[:, 0] = 5
    result = statistical_forecasts(y, H, models=["historic_average", "seasonal_naive", "tsb"])
    check(result, 2)
    for name, (p10, _, p90) in result.items():
        assert np.all(p10 < p90), name


def test_intermittent_models_give_a_positive_flat_point(mixed_result):
    result, _ = mixed_result
    for name in INTERMITTENT:
        p50 = result[name][1][7]
        assert np.all(p50 > 0), name
        np.testing.assert_allclose(p50, p50[0], err_msg=name)
        assert p50[0] < 4, name  # a rate per day, not the size of one order


def test_edges():
    assert statistical_forecasts(np.zeros((0, 30)), H)["tsb"][1].shape == (0, H)
    assert np.all(statistical_forecasts(np.zeros((2, 0)), H, models=["auto_ets"])["auto_ets"][2] == 0)
    with pytest.raises(ValueError, match="unknown statistical model"):
        statistical_forecasts(np.ones((1, 30)), H, models=["prophet"])


def test_points_only_skips_the_intervals_and_keeps_the_points():
    rng = np.random.default_rng(3)
    y = rng.poisson(4.0, (5, 60)).astype(float)
    both = statistical_forecasts(y, 7, models=("window_average_28", "adida"))
    points = statistical_forecasts(y, 7, models=("window_average_28", "adida"), intervals=False)
    for name in ("window_average_28", "adida"):
        p10, p50, p90 = points[name]
        np.testing.assert_allclose(p50, both[name][1])
        assert np.array_equal(p10, p50) and np.array_equal(p90, p50)
