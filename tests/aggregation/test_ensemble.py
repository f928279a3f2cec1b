"""The production daily ensemble: weights and quantiles from rolling folds only, calibrated per
volume, intervals that are never a point, and a fold-mean gate."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from aggregation.ensemble import (
    MAX_MISS,
    EnsembleConfig,
    EnsembleForecaster,
    PoissonBooster,
    QuantileBins,
    TooFewFoldsError,
    fit_ensemble,
    fit_weights,
    members_at,
)
from aggregation.metrics import coverage
from aggregation.timeseries import TimeSeriesConfig, origin_features
from tests.aggregation.synth import panel_from

FAST = TimeSeriesConfig(max_iter=30, train_origins=4, max_train_rows=20_000)
DAYS = 110


def mixed_history(seed: int = 0, days: int = DAYS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sparse = np.where(rng.random((300, days)) < 0.08, rng.geometric(0.3, (300, days)), 0)
    steady = rng.poisson(rng.uniform(1.5, 15.0, (120, 1)), (120, days))
    return np.vstack([sparse, steady]).astype(float)


@pytest.fixture(scope="module")
def fitted():
    y = mixed_history()
    panel = panel_from(y[:, :DAYS - 7])  # the last week is kept out: the evaluated week
    model = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel, DAYS - 7)
    return y, panel, model


def test_l1_weights_recover_the_member_that_is_right():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 5.0, (500, 3))
    w = fit_weights(x, x[:, 1].copy())
    np.testing.assert_allclose(w, [0.0, 1.0, 0.0], atol=1e-6)
    assert np.isclose(w.sum(), 1.0)


def test_weights_keep_the_total_within_the_bias_band_on_lumpy_outcomes():
    rng = np.random.default_rng(2)
    mean = rng.gamma(2.0, 5.0, 2000)
    y = np.where(rng.random(2000) < 0.3, rng.exponential(3 * mean), 0.0)  # lumpy, mostly zero
    x = np.column_stack([mean, mean * 0.3])
    w = fit_weights(x, y)
    total = (x @ w).sum()
    assert abs(total / y.sum() - 1.0) <= 0.05 + 1e-6
    # without the band, least absolute error under-forecasts the total badly (the median)
    w0 = fit_weights(x, y, bias_band=10.0)
    assert (x @ w0).sum() < 0.8 * y.sum()


def test_folds_end_at_the_origin_and_never_see_the_evaluated_week(fitted):
    y, panel, model = fitted
    origin = DAYS - 7
    assert max(model.fold_origins(origin)) + 7 <= origin
    # the week after the origin is not in the panel at all; changing it cannot change anything
    changed = y.copy()
    changed[:, DAYS - 7:] *= 5
    again = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel_from(changed[:, :DAYS - 7]), origin)
    np.testing.assert_allclose(again.weights_.pooled, model.weights_.pooled)
    assert again.describe()["folds"] == model.describe()["folds"]


def test_quantiles_cover_about_80_percent_per_volume_band_on_the_next_week(fitted):
    y, panel, model = fitted
    origin = DAYS - 7
    rows, preds = model.predict(panel, origin)
    p10, p50, p90 = preds["ensemble"]
    actual = y[rows, origin:origin + 7]
    steady = rows >= 300
    inside = (actual >= p10) & (actual <= p90)
    assert 0.7 <= inside[steady].mean() <= 0.9
    sparse_cells = ~((actual == 0) & (p10 == 0) & (p90 == 0))
    assert 0.65 <= inside[~steady][sparse_cells[~steady]].mean() <= 0.95
    assert np.all(p10 <= p50) and np.all(p50 <= p90) and np.all(p10 >= 0)
    big = p50 >= 1.0
    assert big.any() and np.all(p90[big] > p10[big])


def lumpy_and_steady_cells(rng: np.random.Generator, n: int,
                           lumpy: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Daily cells of head series as on the festival world: a share `lumpy` of them with P50 0.1-0.3
    units and 98% of days selling nothing, the rest steady (P50 2-12, Poisson)."""
    k = int(n * lumpy)
    lumpy_p50 = rng.uniform(0.1, 0.3, k)
    lumpy_y = np.where(rng.random(k) < 0.98, 0.0, rng.geometric(0.4, k))
    steady_p50 = rng.uniform(2.0, 12.0, n - k)
    return np.concatenate([lumpy_p50, steady_p50]), np.concatenate([lumpy_y, rng.poisson(steady_p50)])


def test_the_interval_covers_80_percent_of_the_cells_pooled_not_more_where_outcomes_are_mostly_zero():
    """A P50 bin whose outcomes are nearly all zero has P10 = 0 and P90 = P50 > 0: its interval holds the
    zero most days sell, and covers ~100% of its cells (the festival world's 2026-01-19: 17% of the head
    cells, in bins covered at 1.000), so with each bin leaving 10% out on each side the pooled P10-P90
    covered 0.85-0.93 of Online Retail's and the festival world's head cells. The other bins leave a
    little more out so that the cells pooled are covered at 80%, on the next draw too."""
    rng = np.random.default_rng(4)
    p50, y = lumpy_and_steady_cells(rng, 20_000)
    config = EnsembleConfig()

    def pooled_coverage(bins, p, outcome):
        lo, _, hi = bins.apply(p)
        return coverage(outcome, lo, hi)

    assert pooled_coverage(QuantileBins.fit(p50, y, config), p50, y) > 0.82  # 10% a side in every bin
    assert pooled_coverage(QuantileBins.fit(p50, y, config, MAX_MISS), p50, y) < 0.76  # the most, too far
    fitted = QuantileBins.fit_covering(p50, y, config)
    assert abs(pooled_coverage(fitted, p50, y) - 0.80) < 0.003
    new_p50, new_y = lumpy_and_steady_cells(rng, 20_000)
    assert 0.77 <= pooled_coverage(fitted, new_p50, new_y) <= 0.83
    steady = new_p50 >= 2.0
    assert 1 - 2 * MAX_MISS - 0.03 <= pooled_coverage(fitted, new_p50[steady], new_y[steady]) < 0.8
    lo, mid, hi = fitted.apply(new_p50)
    assert np.all(lo <= mid) and np.all(mid <= hi) and np.all(hi[mid >= 1] > lo[mid >= 1])
    # where the bins cover 80% or less anyway, nothing changes
    steady_only = QuantileBins.fit_covering(p50[p50 >= 2], y[p50 >= 2], config)
    np.testing.assert_allclose(steady_only.hi, QuantileBins.fit(p50[p50 >= 2], y[p50 >= 2], config).hi)
    # where even MAX_MISS a side covers more than 80%, the bins stop there: never under a 70% interval
    mostly_lumpy = lumpy_and_steady_cells(rng, 20_000, lumpy=0.6)
    np.testing.assert_allclose(QuantileBins.fit_covering(*mostly_lumpy, config).hi,
                               QuantileBins.fit(*mostly_lumpy, config, MAX_MISS).hi)
    # nothing an interval can miss (every cell zero): the plain bins, no error
    zeros = QuantileBins.fit_covering(np.zeros(1000), np.zeros(1000), config)
    assert np.all(np.concatenate(zeros.apply(np.zeros(5))) == 0)


def test_fold_scores_are_cross_validated_and_reported(fitted):
    _, _, model = fitted
    info = model.describe()
    assert len(info["folds"]) == 5
    for fold in info["folds"]:
        assert fold["head_series"] > 0 and fold["ensemble"] is not None
        assert set(fold) >= {"seasonal_naive", "adida", "tsb", "gbm", "profile", "coverage_p10_p90"}
    means = info["fold_mean_head_total_wape"]
    # the ensemble's steady totals should not lose to the plain weekly repeat
    assert means["ensemble"] <= means["seasonal_naive"]


def test_too_little_history_for_the_folds_is_a_clear_value_error():
    panel = panel_from(mixed_history(days=30))
    with pytest.raises(TooFewFoldsError, match="weekly folds"):
        EnsembleForecaster(FAST).fit(panel, 30)


def test_a_short_history_gives_up_old_folds_so_that_the_booster_can_learn():
    # 49 days: five weekly folds fit (origins 42 .. 14), but then nothing ends before the earliest
    # fold for the booster; three folds leave it the week from day 14
    panel = panel_from(mixed_history(days=49))
    model = EnsembleForecaster(FAST, EnsembleConfig(folds=6, min_folds=3)).fit(panel, 49)
    assert model.booster_ is not None and "gbm" in model.names_
    assert [f["origin_day"] for f in model.folds_] == [panel.day0.toordinal() + t for t in (42, 35, 28)]
    # with no room even then, the statistical members alone, on every fold that fits
    short = panel_from(mixed_history(days=35))
    alone = EnsembleForecaster(FAST, EnsembleConfig(folds=6, min_folds=3)).fit(short, 35)
    assert alone.booster_ is None and "gbm" not in alone.names_ and len(alone.folds_) == 3


def test_the_booster_origins_are_chosen_by_the_folds_and_tried_only_while_the_history_has_room():
    y = mixed_history()
    panel = panel_from(y[:, :DAYS - 7])
    config = EnsembleConfig(folds=5, booster_origins=(2, 4))
    model = fit_ensemble(panel, DAYS - 7, FAST, config)
    tried = model.origins_tried_
    assert set(tried) == {2, 4}  # room for five weekly origins before the earliest fold
    assert model.booster_.origins_ == min(tried, key=lambda n: (tried[n], n))
    assert model.fold_mean("ensemble") == min(tried.values())
    assert model.describe()["booster_origins_tried"] == {n: round(v, 4) for n, v in tried.items()}
    # seven weeks: the booster gets one origin, so a longer window would train the same booster
    short = fit_ensemble(panel_from(mixed_history(days=49)), 49, FAST, config)
    assert list(short.origins_tried_) == [2] and short.booster_.origins_ == 1


def test_the_median_of_the_horizon_total_is_a_member_and_beats_the_summed_daily_mean_on_lumpy_demand():
    # wholesale-like series: a few big orders a month, so a week's total is skewed (mostly small,
    # now and then huge) and its median lies well below the sum of the daily means
    rng = np.random.default_rng(5)
    n, days = 400, DAYS
    rate = rng.uniform(0.03, 0.15, (n, 1))
    y = np.where(rng.random((n, days)) < rate, rng.geometric(0.05, (n, days)), 0).astype(float)
    origin = days - 7
    panel = panel_from(y[:, :origin])
    model = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel, origin)
    assert "gbm_total_p50" in model.names_
    rows = np.arange(panel.y.shape[0])  # the series that sold before the origin
    series = np.array([int(p[1:]) for p in panel.series["product_id"]])
    members = members_at(panel, origin, 7, rows, model.booster_)
    total = members.points["gbm_total_p50"].sum(axis=1)
    first_day = origin_features(panel, origin, 7, rows)
    xt = np.column_stack([first_day[f] for f in model.booster_.features_]).reshape(rows.size, 7, -1)[:, 0, :]
    np.testing.assert_allclose(total, np.maximum(model.booster_.total_mid_.predict(xt), 0.0))
    week = y[series, origin:].sum(axis=1)
    error_total = np.abs(week - total).sum()
    error_daily_mean = np.abs(week - members.points["gbm"].sum(axis=1)).sum()
    assert error_total < 0.9 * error_daily_mean


def test_a_booster_prediction_that_overflows_is_bounded_not_spread_into_every_member(fitted):
    # Poisson boosting can overflow to inf on a leaf of rare huge orders (Online Retail, every
    # training row): an inf daily mean made NaN shares, and the ensemble was silently dropped
    _, panel, model = fitted
    booster = copy.copy(model.booster_)

    class Overflowing:
        def predict(self, x):
            return np.where(np.arange(x.shape[0]) % 3 == 0, np.inf, np.nan)

    booster.mean_ = booster.total_mid_ = Overflowing()
    members = members_at(panel, DAYS - 7, 7, np.arange(panel.y.shape[0]), booster)
    for name, points in members.points.items():
        assert np.isfinite(points).all(), name
    assert 0 < members.points["gbm"].max() <= booster.cap_
    assert members.points["gbm_total_p50"].sum(axis=1).max() <= booster.total_cap_ + 1e-9


def test_a_young_sparse_product_is_not_forecast_its_first_days_sales_every_day(fitted):
    """The statistical members read a series of the sparsest band over 28 days: a product first sold
    yesterday (6 units) was forecast 6 a day by historic average, ADIDA, IMAPA, TSB and Croston, each
    reading it from its first sale (Online Retail 2011-09-05: 1,589 units for 155 sold). A young product
    that sells steadily is in a higher band and still read from its first sale."""
    y, _, model = fitted
    young = np.zeros((2, DAYS - 7))
    young[0, -1] = 6.0
    young[1, -6:] = [8, 9, 7, 10, 8, 9]
    panel = panel_from(np.vstack([y[:, :DAYS - 7], young]))
    rows = np.arange(panel.y.shape[0])
    members = members_at(panel, DAYS - 7, 7, rows, model.booster_)
    sparse, steady = rows[-2], rows[-1]
    assert members.band[sparse] == 0 and members.band[steady] > 0
    for name in ("historic_average", "adida", "imapa", "tsb", "croston_optimized"):
        assert members.points[name][sparse].sum() < 6, name  # under its one day's sales for the week, not 42
        assert members.points[name][steady].sum() > 7 * 7, name
    np.testing.assert_allclose(members.points["historic_average"][sparse], 6 / 28)


def test_the_booster_averages_models_trained_on_different_samples():
    panel = panel_from(mixed_history()[:, :DAYS - 7])
    config = replace(FAST, max_train_rows=2_000, bags=3)
    booster = PoissonBooster(config).fit(panel, DAYS - 14)
    assert booster.train_rows_ == 6_000  # the pool the bags draw their samples from
    for averaged in (booster.mean_, booster.mid_, booster.hi_):
        assert len(averaged.models) == 3
    x = np.random.default_rng(0).uniform(0, 5, (50, booster.mean_.models[0].n_features_in_))
    each = np.array([m.predict(x) for m in booster.mean_.models])
    np.testing.assert_allclose(booster.mean_.predict(x), each.mean(axis=0))
    assert not np.allclose(each[0], each[1])  # different samples, different models
    single = PoissonBooster(replace(config, bags=1)).fit(panel, DAYS - 14)
    assert single.train_rows_ == 2_000 and len(single.mean_.models) == 1


def test_weeks_with_nothing_on_sale_are_no_folds_so_a_long_closure_is_too_few_folds_not_a_crash():
    # sales stop after day 59 and resume on day 171: the folds at 168 .. 140 have no series that
    # sold in the 56 days before them (the stack of their members used to raise a bare ValueError,
    # which the daily forecast then took for any other failure)
    rng = np.random.default_rng(3)
    y = rng.poisson(3.0, (30, 182)).astype(float)
    y[:, 60:171] = 0
    with pytest.raises(TooFewFoldsError, match="the history holds 1"):
        EnsembleForecaster(FAST).fit(panel_from(y), 182)


def test_a_booster_that_cannot_be_trained_is_said_in_the_report_not_dropped_silently(fitted, monkeypatch):
    _, panel, _ = fitted

    def broken(self, x, y):
        raise ValueError("boom")

    monkeypatch.setattr(PoissonBooster, "_fit_models", broken)
    model = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel, DAYS - 7)
    assert model.booster_ is None and "gbm" not in model.names_
    assert model.describe()["booster_skipped"] == "boom"


def _with_last_week(y: np.ndarray, share: float, seed: int = 5) -> np.ndarray:
    """The history before the evaluated week, its last week (the newest fold's) selling `share` of
    its usual: thinned below 1, scaled above."""
    rng = np.random.default_rng(seed)
    out = y[:, :DAYS - 7].copy()
    last = out[:, DAYS - 14:]
    out[:, DAYS - 14:] = rng.binomial(last.astype(int), share) if share <= 1 else np.round(last * share)
    return out


def test_a_last_week_that_breaks_from_every_older_fold_is_reported_as_a_level_shift(fitted):
    y, panel, model = fitted
    assert model.level_shift() is None  # steady demand: no week stands out
    assert all({"ensemble_bias", "head_sold", "head_forecast"} <= set(f) for f in model.describe()["folds"])
    history = _with_last_week(y, 0.4)
    moved = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel_from(history), DAYS - 7)
    shift = moved.level_shift()
    assert shift is not None and moved.describe()["level_shift"] == shift
    assert shift["days_from"] == (panel.day0 + timedelta(days=DAYS - 14)).isoformat() and shift["days"] == 7
    assert 0.3 < shift["sold_over_forecast"] < 0.5
    assert shift["head_sold"] == pytest.approx(shift["sold_over_forecast"] * shift["head_forecast"], rel=0.01)
    low, high = shift["older_folds_sold_over_forecast"]
    assert shift["sold_over_forecast"] < low * np.exp(-0.25) and low <= high


@pytest.mark.parametrize("share, sold", [(2.5, (2.0, 3.0)), (0.0, (0.0, 0.01))])
def test_a_rise_and_a_shutdown_are_level_shifts_too(fitted, share, sold):
    y, _, _ = fitted
    moved = EnsembleForecaster(FAST, EnsembleConfig(folds=5)).fit(panel_from(_with_last_week(y, share)),
                                                                  DAYS - 7)
    shift = moved.level_shift()
    assert shift is not None and sold[0] <= shift["sold_over_forecast"] <= sold[1]


@pytest.mark.parametrize("ensemble_wins", [True, False])
def test_the_level_shift_is_said_only_of_an_ensemble_that_is_published(fitted, monkeypatch, ensemble_wins):
    from aggregation.daily import _ensemble

    _, panel, _ = fitted
    shift = {"days_from": "2026-02-16", "days": 7, "sold_over_forecast": 0.36}
    monkeypatch.setattr(EnsembleForecaster, "level_shift", lambda self: shift)
    real = EnsembleForecaster.fold_mean
    monkeypatch.setattr(EnsembleForecaster, "fold_mean", lambda self, name: (
        (0.0 if ensemble_wins else 99.0) if name == "ensemble" else real(self, name)))
    run = _ensemble(panel, DAYS - 7, FAST)
    assert run.method == ("daily_ensemble" if ensemble_wins else "seasonal_naive")
    assert run.info["level_shift"] == (shift if ensemble_wins else None)
