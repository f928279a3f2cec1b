"""The daily forecast near 春节 reads last year's festival: the lull after the stock-up is forecast.

A generated history of 15 months with the same festival pattern each year (two weeks of stocking up
at twice the usual level, then twelve days at 0.4 of it), forecast from the day before CNY 2026: the
weeks before say "twice the level", the week ahead sells well under half of that.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from aggregation.daily import forecast_daily
from aggregation.event_analog import not_a_promotion, promotion_lift
from aggregation.timeseries import TimeSeriesConfig
from common.contract import TABLES
from common.festivals import CNY, occurrences_between

TZ = ZoneInfo("Asia/Shanghai")
START, AS_OF = date(2024, 11, 15), date(2026, 2, 16)  # the day before CNY 2026
PRODUCTS, LEVEL = 24, 6.0


def festival_multiplier(day: date, festival: bool = True) -> float:
    if not festival:
        return 1.0
    cny = CNY[day.year] if day >= CNY[day.year] - timedelta(days=20) else CNY[day.year - 1]
    offset = (day - cny).days
    return 2.0 if -14 <= offset <= -1 else 0.4 if 0 <= offset <= 11 else 1.0


def _frame(table: str, cols: dict) -> pl.DataFrame:
    schema = TABLES[table].polars_schema()
    n = len(next(iter(cols.values())))
    return pl.DataFrame({c: cols.get(c, [None] * n) for c in schema}, schema=schema)


def festival_frames(end: date, seed: int = 3, festival: bool = True, start: date = START,
                    multiplier: Callable[[date], float] | None = None) -> dict[str, pl.DataFrame]:
    """One warehouse, one group, PRODUCTS products ordered daily (Poisson) from `start` up to `end`
    (exclusive), at LEVEL times `multiplier` of the day (festival_multiplier by default)."""
    rng = np.random.default_rng(seed)
    multiplier = multiplier or (lambda day: festival_multiplier(day, festival))
    pids = [f"P{i:02d}" for i in range(PRODUCTS)]
    products = _frame("products", {
        "product_id": pids, "supplier_id": ["S"] * PRODUCTS, "name": pids,
        "category": [("fresh", "snacks")[i % 2] for i in range(PRODUCTS)], "price": [10.0] * PRODUCTS,
        "is_standard": [True] * PRODUCTS, "launched_on": [start] * PRODUCTS})
    groups = _frame("groups", {"group_id": ["G"], "shopkeeper_id": ["K"], "city": ["c"],
                               "warehouse_id": ["W"], "created_on": [start]})
    rows = []
    for d in range((end - start).days):
        day = start + timedelta(days=d)
        qty = rng.poisson(LEVEL * multiplier(day), PRODUCTS)
        at = datetime(day.year, day.month, day.day, 10, tzinfo=TZ)
        rows += [(f"o{d}-{p}", pids[p], int(q), at) for p, q in enumerate(qty) if q > 0]
    orders = _frame("orders", {
        "order_id": [r[0] for r in rows], "member_id": ["m"] * len(rows), "group_id": ["G"] * len(rows),
        "product_id": [r[1] for r in rows], "quantity": [r[2] for r in rows],
        "unit_price": [10.0] * len(rows), "ordered_at": [r[3] for r in rows],
        "status": ["paid"] * len(rows), "status_at": [r[3] for r in rows]})
    empty = {n: pl.DataFrame(schema=TABLES[n].polars_schema())
             for n in ("shopkeepers", "posts", "feedback", "memberships", "campaigns")}
    suppliers = _frame("suppliers", {"supplier_id": ["S"], "name": ["s"]})
    return {"suppliers": suppliers, "products": products, "groups": groups, "orders": orders, **empty}


CONFIG = TimeSeriesConfig(max_iter=40)
EXPECTED_WEEK = LEVEL * PRODUCTS * sum(festival_multiplier(AS_OF + timedelta(days=h)) for h in range(7))


def test_the_week_from_the_day_before_cny_is_forecast_from_last_years_festival():
    frames = festival_frames(AS_OF + timedelta(days=7))
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, AS_OF, CONFIG)
    run = forecast_daily(frames, AS_OF, CONFIG)
    [said] = run.info["event_analog"]
    assert said["applied"] and said["event"] == "cny" and said["analog_origin"] == "2025-01-28"
    assert said["days_corrected"] == 7 and run.method == plain.method  # whichever the gate publishes
    before, after = plain.forecasts["p50"].sum(), run.forecasts["p50"].sum()
    # the recent weeks say twice the level: uncorrected, the week is forecast far above what sells
    assert before > 1.8 * EXPECTED_WEEK
    assert abs(after / EXPECTED_WEEK - 1) < 0.25
    assert (run.forecasts["p10"] <= run.forecasts["p50"]).all()
    assert (run.forecasts["p50"] <= run.forecasts["p90"]).all()


def test_without_last_years_festival_in_the_history_the_forecast_is_unchanged_and_says_why():
    frames = festival_frames(AS_OF + timedelta(days=7))
    frames["orders"] = frames["orders"].filter(pl.col("ordered_at") >= datetime(2025, 6, 1, tzinfo=TZ))
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, AS_OF, CONFIG)
    run = forecast_daily(frames, AS_OF, CONFIG)
    [said] = run.info["event_analog"]
    assert not said["applied"]
    assert said["reason"] == ("the history before 2025-01-28 holds 0 day(s) of sales; "
                              "the correction needs 56 days")
    assert run.forecasts.equals(plain.forecasts)


def test_a_festival_that_did_not_move_sales_last_year_leaves_the_forecast_alone():
    # the same calendar without the festival's effect (a retailer for whom 春节 is a day like any other)
    frames = festival_frames(AS_OF + timedelta(days=7), festival=False)
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, AS_OF, CONFIG)
    run = forecast_daily(frames, AS_OF, CONFIG)
    [said] = run.info["event_analog"]
    assert not said["applied"] and "within the forecast's usual miss" in said["reason"]
    assert run.forecasts.equals(plain.forecasts)


def test_a_year_ago_with_nothing_on_sale_before_the_analog_origin_is_said_not_a_crash():
    # a seasonal business, or a long shutdown a year ago: sales before, nothing in the 56 days to it
    frames = festival_frames(AS_OF + timedelta(days=7))
    gap = (pl.col("ordered_at") >= datetime(2024, 11, 30, tzinfo=TZ)) & (
        pl.col("ordered_at") < datetime(2025, 6, 1, tzinfo=TZ))
    frames["orders"] = frames["orders"].filter(~gap)
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, AS_OF, CONFIG)
    run = forecast_daily(frames, AS_OF, CONFIG)
    [said] = run.info["event_analog"]
    assert not said["applied"] and said["reason"] == "nothing sold in the 56 days before 2025-01-28"
    assert run.forecasts.equals(plain.forecasts)


def shopping_multiplier(day: date) -> float:
    """A platform's shopping festival each 06-18 and 11-11: twelve days of promotion up to the day (2x),
    then eight days of lull (0.5x)."""
    for event in (date(day.year, 6, 18), date(day.year, 11, 11)):
        offset = (day - event).days
        if -12 <= offset <= 0:
            return 2.0
        if 1 <= offset <= 8:
            return 0.5
    return 1.0


FIRST_YEAR_START, DOUBLE11_EVE = date(2025, 3, 1), date(2025, 11, 10)  # no 双11 before this one


def test_a_first_double11_reads_the_platforms_first_618_instead_of_last_years():
    frames = festival_frames(DOUBLE11_EVE + timedelta(days=7), start=FIRST_YEAR_START,
                             multiplier=shopping_multiplier)
    expected = LEVEL * PRODUCTS * sum(shopping_multiplier(DOUBLE11_EVE + timedelta(days=h)) for h in range(7))
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, DOUBLE11_EVE, CONFIG)
    run = forecast_daily(frames, DOUBLE11_EVE, CONFIG)
    [said] = run.info["event_analog"]
    assert said["applied"] and said["event"] == "double11" and said["last_year"] == "2024-11-11"
    assert said["read_instead"]["event"] == "618" and said["read_instead"]["day"] == "2025-06-18"
    assert "holds 0 day(s) of sales" in said["read_instead"]["because"]  # last year's is not in the data
    assert said["analog_origin"] == "2025-06-17"  # the day before 618, as 11-10 is before 双11
    before, after = plain.forecasts["p50"].sum(), run.forecasts["p50"].sum()
    # the promotion's weeks say twice the level; five of the seven days are the lull after it
    assert before > 1.3 * expected
    assert abs(after / expected - 1) < 0.2
    assert (run.forecasts["p10"] <= run.forecasts["p50"]).all()
    assert (run.forecasts["p50"] <= run.forecasts["p90"]).all()



def test_a_platform_that_holds_no_618_is_not_corrected_by_the_weeks_after_it():
    # a dip after 06-18 with no promotion before it (a retailer's summer): no evidence of what 双11 does
    def summer_dip_then_double11(day: date) -> float:
        if date(day.year, 6, 19) <= day <= date(day.year, 6, 27):
            return 0.5
        return shopping_multiplier(day) if day.month == 11 else 1.0

    frames = festival_frames(DOUBLE11_EVE + timedelta(days=7), start=FIRST_YEAR_START,
                             multiplier=summer_dip_then_double11)
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain = forecast_daily(frames, DOUBLE11_EVE, CONFIG)
    run = forecast_daily(frames, DOUBLE11_EVE, CONFIG)
    [said] = run.info["event_analog"]
    assert not said["applied"] and "read_instead" not in said
    assert said["reason"].startswith("the history before 2024-11-10 holds 0 day(s) of sales")
    assert "nor 618 (2025-06-18): in the 10 days up to 2025-06-18 this platform sold" in said["reason"]
    assert said["reason"].endswith("no sign that it holds 618")
    assert run.forecasts.equals(plain.forecasts)


def test_a_promotions_lift_is_its_last_ten_days_over_the_four_weeks_before():
    frames = festival_frames(date(2025, 7, 1), start=FIRST_YEAR_START, multiplier=shopping_multiplier)
    [six18] = [o for o in occurrences_between(date(2025, 6, 1), date(2025, 6, 30)) if o.event.name == "618"]
    # ten days at 2x over 25 days at 1x and three at 2x: 2 / (31 / 28)
    assert abs(promotion_lift(frames, six18) - 2 / (31 / 28)) < 0.1
    assert not_a_promotion(frames, six18) is None
    flat = festival_frames(date(2025, 7, 1), start=FIRST_YEAR_START, multiplier=lambda day: 1.0)
    assert 0.9 < promotion_lift(flat, six18) < 1.1 and not_a_promotion(flat, six18) is not None
    # a platform shut in the ten days up to it (sales before, none then): no promotion, and no crash
    closed = (date(2025, 6, 9), date(2025, 6, 18))
    shut = festival_frames(date(2025, 7, 1), start=FIRST_YEAR_START,
                           multiplier=lambda day: 0.0 if closed[0] <= day <= closed[1] else 1.0)
    assert promotion_lift(shut, six18) == 0.0 and "sold 0.00x a day" in not_a_promotion(shut, six18)
