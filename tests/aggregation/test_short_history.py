"""Daily mode with too little history for the learned model: the demand stage degrades to the
simplest baseline the history supports and says why; no history at all is a named error."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from aggregation.daily import history
from aggregation.demand import DEMAND_SCHEMA, DemandConfig, build_demand
from aggregation.short_history import NoHistoryError, choose, short_history_forecast
from aggregation.timeseries import InsufficientHistoryError, build_panel
from tests.aggregation.synth import START, TZ, world

FAST = DemandConfig()


@pytest.fixture(scope="module")
def short_world():
    return world(days=12, products=6, groups=8, seed=5, campaigns=False)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=TZ)


def check_rows(demand: pl.DataFrame) -> None:
    assert demand.height > 0
    assert list(demand.schema.items()) == list(DEMAND_SCHEMA.items())
    lo, mid, hi = (demand[c].to_numpy() for c in ("forecast_p10", "forecast_p50", "forecast_p90"))
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))
    assert np.all(lo >= 0) and np.all(lo <= mid + 1e-9) and np.all(mid <= hi + 1e-9)
    assert (demand["suggested_qty"] >= 0).all()
    assert demand["delivery_on"].n_unique() == 7


@pytest.mark.parametrize(("days", "method"), [(10, "seasonal_naive"), (3, "moving_average"),
                                              (1, "last_value")])
def test_short_history_falls_back_to_the_simplest_baseline(short_world, days, method):
    demand, info = build_demand(short_world, at(START + timedelta(days=days)), FAST)
    check_rows(demand)
    assert set(demand["method"].unique()) == {f"short_history_{method}"}
    gate = info["gate"]
    assert info["mode"] == "daily" and gate["passed"] is False and gate["trained"] is False
    assert gate["fallback"] == method and gate["history_days"] == days
    assert f"only {days} day(s) of order history" in gate["reason"]
    assert "needs at least 28" in gate["reason"]


def test_seasonal_naive_fallback_repeats_last_week(short_world):
    origin = START + timedelta(days=10)
    demand, _ = build_demand(short_world, at(origin), FAST)
    hist = history(short_world, at(origin))
    week_ago = hist.with_columns((pl.col("day") + pl.duration(days=7)).alias("delivery_on")).select(
        "product_id", "warehouse_id", "delivery_on", pl.col("qty").cast(pl.Float64).alias("expected"))
    joined = demand.join(week_ago, on=["product_id", "warehouse_id", "delivery_on"], how="left").with_columns(
        pl.col("expected").fill_null(0.0))
    first_week = joined.filter(pl.col("delivery_on") < origin + timedelta(days=7))
    assert first_week.height == demand.height
    np.testing.assert_allclose(first_week["forecast_p50"].to_numpy(), first_week["expected"].to_numpy())


def test_moving_average_fallback_is_the_mean_of_the_days_there_are(short_world):
    origin = START + timedelta(days=3)
    hist = history(short_world, at(origin))
    panel = build_panel(hist, short_world["products"], start=START, end=origin)
    frame, info = short_history_forecast(panel, 3, 7)
    assert info["method"] == "moving_average" and info["calibrated"] is True and info["held_out_days"] == 1
    means = hist.group_by("product_id", "warehouse_id").agg((pl.col("qty").sum() / 3).alias("mean"))
    joined = frame.join(means, on=["product_id", "warehouse_id"])
    assert joined.height == frame.height
    np.testing.assert_allclose(joined["p50"].to_numpy(), joined["mean"].to_numpy())


def test_no_history_at_all_is_a_named_error(short_world):
    with pytest.raises(NoHistoryError, match="no order before 2026-01-01") as caught:
        build_demand(short_world, at(START), FAST)
    assert isinstance(caught.value, InsufficientHistoryError)


def test_choose_by_history_length():
    assert choose(28).method == "seasonal_naive" and choose(7).method == "seasonal_naive"
    assert choose(6).method == "moving_average" and choose(2).method == "moving_average"
    assert choose(1).method == "last_value"
    with pytest.raises(NoHistoryError):
        choose(0)


def test_a_young_platform_with_campaigns_gets_daily_forecasts_until_the_presale_model_can_learn():
    # 2 products × 2 warehouses a day: 16 windows closed in 4 days, under the 50 the nowcast needs
    frames = world(days=12, products=2, groups=4, seed=5)
    demand, info = build_demand(frames, at(START + timedelta(days=4)), FAST)
    check_rows(demand)
    assert info["mode"] == "daily" and demand["campaign_id"].is_null().all()
    assert info["presale_untrained"].startswith("only 16 campaign × warehouse windows closed in the 28 days")
    assert "daily forecasts per product and warehouse are published instead" in info["presale_untrained"]


def _panel(y: np.ndarray):
    from aggregation.timeseries import Panel

    n, days = y.shape
    series = pl.DataFrame({"product_id": [f"p{i}" for i in range(n)], "warehouse_id": ["w"] * n})
    return Panel(series, START, y.astype(np.float64), np.zeros((n, days)), np.arange(n), np.zeros(n, int),
                 np.zeros(n), np.zeros(n, int))


def test_a_shutdown_is_not_copied_forward_but_a_weekly_closing_day_is():
    """Seasonal naive read a shutdown (every series sold nothing Monday to Thursday) as next week's
    demand: every product was forecast zero for those days (WAPE 1.0, bias -1.0 at the next as-of).
    A weekday the platform never trades keeps its zero."""
    from aggregation.short_history import fit_short_history, short_history_quantiles

    days = 21
    y = np.tile(np.array([[4.0], [9.0]]), (1, days))
    y[:, 6::7] = 0.0  # closed every seventh day, always
    y[:, 14:18] = 0.0  # a shutdown of four days in the last week
    panel = _panel(y)
    fit = fit_short_history(panel, days, 7)
    _, p50, _ = short_history_quantiles(fit, panel, days, 7, np.arange(2))
    np.testing.assert_allclose(p50[:, :4], [[4.0] * 4, [9.0] * 4])  # read from the week before
    np.testing.assert_allclose(p50[:, 6], [0.0, 0.0])  # the closing day stays closed


def test_the_interval_is_never_a_point_where_the_forecast_is_a_unit_or_more():
    """Calibrated on days where most cells sold nothing, the multipliers were zero: P10 = P50 = P90 on
    every row with a point of a unit or more (Online Retail, 300 customers, 19 days of history)."""
    from aggregation.short_history import fit_short_history, short_history_quantiles

    rng = np.random.default_rng(0)
    days = 19
    y = np.where(rng.random((200, days)) < 0.08, rng.integers(5, 60, (200, days)), 0).astype(float)
    panel = _panel(y)
    fit = fit_short_history(panel, days, 7)
    rows = np.flatnonzero(y.sum(axis=1) > 0)
    p10, p50, p90 = short_history_quantiles(fit, panel, days, 7, rows)
    at_least_one = p50 >= 1
    assert at_least_one.any() and np.all(p10[at_least_one] < p90[at_least_one])
    assert np.all(p10 <= p50) and np.all(p50 <= p90)


def test_a_platform_whose_windows_closed_on_too_few_days_gets_daily_forecasts_not_a_nowcast():
    """On a platform's first days enough windows may close for the count (50) but all on a day or
    two: the nowcast learnt from them published P90s 52x its P50s. A week of closing days is needed."""
    frames = world(days=12, products=30, groups=4, seed=5)
    demand, info = build_demand(frames, at(START + timedelta(days=4)), FAST)
    check_rows(demand)
    assert info["mode"] == "daily" and demand["campaign_id"].is_null().all()
    assert "the pre-sale model needs 7 days of them" in info["presale_untrained"]


def test_one_products_quiet_weekday_is_no_shutdown_whichever_rows_are_asked_for():
    """The shutdown test reads the whole panel's sales: asked for one product alone, its own quiet
    weekday read as the platform shut, and was filled from an older week (a forecast that depended on
    which other rows were asked for)."""
    from aggregation.short_history import fit_short_history, short_history_quantiles

    days = 21
    y = np.zeros((2, days))
    y[0] = 3.0  # a sells every day
    y[1, 0::7] = 5.0  # b sells on weekday 0 ...
    y[1, [2, 9]] = 4.0  # ... and sold on weekday 2 in the first two weeks, not the last
    panel = _panel(y)
    fit = fit_short_history(panel, days, 7)
    _, both, _ = short_history_quantiles(fit, panel, days, 7, np.arange(2))
    _, alone, _ = short_history_quantiles(fit, panel, days, 7, np.array([1]))
    np.testing.assert_allclose(alone[0], both[1])
    np.testing.assert_allclose(alone[0], [5, 0, 0, 0, 0, 0, 0])
