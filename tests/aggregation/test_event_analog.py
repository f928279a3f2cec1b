"""Near an annual event, the forecast is corrected by last year's miss on the same days."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from aggregation.event_analog import (
    RATIO_BOUNDS,
    analog_ratios,
    analogs_for,
    corrected,
    moved,
    ratio_frame,
    readable,
)


def test_the_day_before_cny_reads_last_years_cny_shifted_by_the_lunar_gap():
    [analog] = analogs_for(date(2026, 2, 16), 7)
    assert analog.near.event.name == "cny" and analog.previous.day == date(2025, 1, 29)
    assert analog.shift == 384
    assert analog.origin(date(2026, 2, 16)) == date(2025, 1, 28)  # the day before last year's CNY
    assert analog.days.all()


def test_only_days_near_an_event_are_corrected_and_a_quiet_week_has_no_analog():
    assert analogs_for(date(2026, 4, 20), 7) == []  # no event within three weeks
    [analog] = analogs_for(date(2026, 1, 21), 7)  # 27 to 21 days before CNY 2026
    assert analog.near.event.name == "cny"
    assert analog.days.tolist() == [False] * 6 + [True]


def test_each_day_goes_to_its_nearest_event_when_two_are_close():
    # 2011-11-28 to 12-04: up to 12-02 within 21 days after 双11, 12-04 within 21 days before Christmas
    double11, christmas = analogs_for(date(2011, 11, 28), 7)
    assert double11.near.event.name == "double11" and christmas.near.event.name == "christmas"
    assert double11.days.tolist() == [True] * 5 + [False, False]
    assert christmas.days.tolist() == [False] * 6 + [True]
    assert double11.shift == christmas.shift == 365


def test_ratios_per_category_lean_on_all_series_where_a_category_sold_little():
    category = np.array(["fresh", "fresh", "snacks", "tiny"])
    forecast = np.array([[100.0, 100.0], [100.0, 100.0], [50.0, 50.0], [1.0, 1.0]])
    sold = np.array([[40.0, 60.0], [40.0, 60.0], [50.0, 25.0], [5.0, 5.0]])
    by_category, overall = analog_ratios(category, forecast, sold)
    np.testing.assert_allclose(overall, [135 / 251, 150 / 251])
    # fresh: (80 + 50 × overall) / (200 + 50)
    np.testing.assert_allclose(by_category["fresh"], (np.array([80.0, 120.0]) + 50 * overall) / 250)
    # a category with one unit forecast a day reads close to the platform, not 5x
    assert np.all(np.abs(by_category["tiny"] - overall) < 0.1)
    assert all(np.all((r >= RATIO_BOUNDS[0]) & (r <= RATIO_BOUNDS[1])) for r in by_category.values())


def test_a_day_nothing_was_forecast_on_reads_one_in_every_category_and_ratios_are_clipped():
    by_category, overall = analog_ratios(np.array(["a", "b"]), np.array([[0.0, 1.0], [0.0, 1.0]]),
                                         np.array([[60.0, 1000.0], [0.0, 1000.0]]))
    assert overall.tolist() == [1.0, RATIO_BOUNDS[1]]
    assert by_category["a"][0] == by_category["b"][0] == 1.0  # not (60 + 50) / 50


def test_a_ratio_too_far_out_to_read_is_not_the_events():
    assert readable(35.0, 100.0) and readable(180.0, 100.0)
    assert not readable(530.0, 0.5)  # a forecast of nothing after a shutdown: 1,060x
    assert not readable(530.0, 0.0) and not readable(1.0, 100.0)


def test_the_correction_scales_each_categorys_quantiles_on_the_near_days_only():
    start = date(2026, 2, 16)
    days = [start, date(2026, 2, 17)]
    by_category = {"fresh": np.array([0.5, 0.4])}
    ratios = ratio_frame(by_category, np.array([0.8, 0.6]), start, np.array([False, True]))
    forecasts = pl.DataFrame({
        "product_id": ["f", "f", "s", "s"], "warehouse_id": ["w"] * 4, "day": days * 2,
        "p10": [1.0] * 4, "p50": [10.0] * 4, "p90": [20.0] * 4})
    products = pl.DataFrame({"product_id": ["f", "s"], "category": ["fresh", None]})
    out = corrected(forecasts, products, ratios)
    assert out.columns == forecasts.columns and out.height == 4
    # the first day is not near the event: unchanged; the second: fresh 0.4, the other 0.6 (all series)
    assert out["p50"].to_list() == [10.0, 4.0, 10.0, 6.0]
    assert out["p90"].to_list() == [20.0, 8.0, 20.0, 12.0]


def test_only_a_miss_beyond_a_level_shift_and_the_usual_one_counts_as_the_events():
    assert moved(35.0, 100.0, usual_miss=0.1)  # the lull: 0.36x
    assert moved(180.0, 100.0, usual_miss=0.1)  # the stock-up: 1.8x
    assert not moved(120.0, 100.0, usual_miss=0.1)  # 1.2x: a week like any other
    assert not moved(160.0, 100.0, usual_miss=0.6)  # 1.6x where weeks usually miss by 1.8x
