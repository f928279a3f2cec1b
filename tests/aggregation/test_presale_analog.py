"""Near an annual event, the pre-sale nowcast's growth still to come is corrected by how the same
nowcast missed the same days of the event's previous occurrence (aggregation.presale_analog)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from aggregation.nowcast import NowcastConfig
from aggregation.presale import PresaleConfig, PresaleForecaster, closing_between, finals, window_instants
from aggregation.presale_analog import (
    BAND_SHARES,
    AnalogCorrection,
    PresaleAnalogConfig,
    band_day_ratios,
    to_come,
    usual_weekly_miss,
)
from common.festivals import CNY
from tests.aggregation.synth import TZ, fitted_presale, world

CATS = ["fresh", "snacks"]
NEAR_ALL = np.ones(7, dtype=bool)


def states(band_rows: dict[int, tuple[float, float, float]], category: str = "fresh", day: int = 0):
    """One state per band: (booked, P50, final) -> arrays in band_day_ratios' order."""
    bands = sorted(band_rows)
    return (np.array([BAND_SHARES[b] for b in bands]), np.array([category] * len(bands)),
            np.full(len(bands), day), *(np.array([band_rows[b][i] for b in bands]) for i in range(3)))


def test_last_years_miss_before_the_windows_opened_corrects_every_band_by_its_own_ratio():
    # last year: the windows not open yet got 50 of the 100 forecast; read later, 20 of 40 still to come
    share, cat, day, booked, point, final = states({0: (0, 100, 50), 1: (10, 50, 30), 2: (20, 60, 40),
                                                    3: (30, 50, 40)})
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL, np.zeros(4), CATS,
                                   PresaleAnalogConfig(shrink=0.0))
    assert said["applied"]
    np.testing.assert_allclose(ratios[:, 0, 0], [0.5, 0.5, 0.5, 0.5])
    # a category last year had no window of, and the row for any other category, read the band's day
    np.testing.assert_allclose(ratios[:, 1, 0], ratios[:, 2, 0])
    assert [b["week_ratio"] for b in said["bands"]] == [0.5, 0.5, 0.5, 0.5]


def test_a_week_within_the_usual_miss_or_unreadable_is_no_evidence_of_the_event():
    share, cat, day, booked, point, final = states({0: (0, 100, 90), 1: (10, 50, 20)})
    # 90 of 100: |log| 0.104 is beyond min_shift (0.049) but within a usual weekly miss of 0.15
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL,
                                   np.array([0.15, 0.0, 0.0, 0.0]), CATS)
    assert not said["applied"] and "no sign of the event" in said["reason"] and np.all(ratios == 1.0)
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL, np.zeros(4), CATS)
    assert said["applied"] and ratios[0, 0, 0] < 1.0
    # a tenth of the forecast: a shutdown, not an event (event_analog.readable)
    share, cat, day, booked, point, final = states({0: (0, 100, 5)})
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL, np.zeros(4), CATS)
    assert not said["applied"] and "too far apart" in said["reason"] and np.all(ratios == 1.0)


def test_a_category_with_few_units_leans_on_its_band_and_days_outside_the_event_stay_at_one():
    rows = [(0.0, "fresh", 0, 0.0, 1000.0, 500.0), (0.0, "snacks", 0, 0.0, 2.0, 10.0),
            (0.0, "fresh", 1, 0.0, 1000.0, 500.0)]
    share, cat, day, booked, point, final = (np.array(c) for c in zip(*rows, strict=True))
    near = np.array([True, False] + [True] * 5)
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, near, np.zeros(4), CATS)
    assert said["applied"]
    week = (1010 + 50 * 1.0) / (2002 + 50)  # the band's week leans on 1
    band_day = (510 + 50 * week) / (1002 + 50)
    assert ratios[0, 1, 0] == pytest.approx((10 + 50 * band_day) / (2 + 50))  # snacks: near the band's
    assert 0.5 < ratios[0, 1, 0] < 1.0
    assert np.all(ratios[:, :, 1] == 1.0)  # another event's day (or none) is left alone


def test_only_what_is_still_to_come_is_scaled_and_nothing_goes_below_zero():
    np.testing.assert_allclose(to_come(np.array([30.0, 10.0, 4.0]), np.array([10.0, 10.0, 0.0]),
                                       np.array([0.5, 3.0, 2.0])), [20.0, 10.0, 8.0])
    assert to_come(np.array([2.0]), np.array([10.0]), np.array([5.0]))[0] == 0.0  # cancellations: 0 floor
    grid = to_come(np.array([[12.0, 0.0], [20.0, 4.0]]), np.array([10.0, 0.0]), np.array([2.0, 0.5]))
    np.testing.assert_allclose(grid, [[14.0, 0.0], [30.0, 2.0]])


def test_a_correction_applies_on_its_days_to_its_band_and_category_only():
    ratios = np.ones((4, 3, 7))
    ratios[0, 0, 2] = 0.5  # band 0, fresh, third day
    ratios[2, 2, 2] = 2.0  # band 2, a category last year did not have
    c = AnalogCorrection(date(2026, 2, 16), ["fresh", "snacks"], ratios)
    days = np.array(["2026-02-18", "2026-02-18", "2026-02-18", "2026-02-25", "2026-02-15"],
                    dtype="datetime64[D]")
    got = c.ratio(np.array([0.0, 0.1, 0.5, 0.0, 0.0]), np.array(["fresh", "fresh", "toys", "fresh", "fresh"]),
                  days)
    np.testing.assert_allclose(got, [0.5, 1.0, 2.0, 1.0, 1.0])
    assert c.applied() and not AnalogCorrection(date(2026, 2, 16), [], np.ones((4, 1, 7))).applied()


def test_the_usual_weekly_miss_is_the_median_of_the_weeks_per_band():
    band = np.zeros(6, dtype=int)
    week = np.array([0, 0, 1, 1, 2, 2])
    booked = np.zeros(6)
    point = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    final = np.array([10.0, 10.0, 15.0, 15.0, 4.0, 4.0])  # weeks: 20/20, 30/20, 8/20
    got = usual_weekly_miss(band, week, booked, point, final)
    assert got[0] == pytest.approx(abs(math.log(31 / 21)))
    assert np.all(got[1:] == 0.0)


# --- end to end: a world where 春节 is a lull, two years running ---------------------------------

FIRST = date(2024, 11, 1)


def festival_demand(day: date) -> float:
    """A week of stocking up before 春节, then ten days of lull, every year."""
    cny = CNY[day.year]
    if cny - timedelta(days=7) <= day < cny:
        return 1.8
    if cny <= day < cny + timedelta(days=10):
        return 0.4
    return 1.0


@pytest.fixture(scope="module")
def two_festivals():
    frames = world(days=(date(2026, 2, 27) - FIRST).days, products=4, groups=8, seed=5, start=FIRST,
                   demand=festival_demand)
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=30), max_train_units=2000, train_days=14,
                           reach=None)
    return frames, config


def share0_bias(frames, model: PresaleForecaster, as_of: datetime) -> tuple[float, pl.DataFrame]:
    target = closing_between(frames["campaigns"], as_of, 7)
    final = finals(frames["orders"], target, frames["groups"], frames["products"])
    st = model.state_at(frames, window_instants(target, 0.0)).join(final, on=["campaign_id", "warehouse_id"])
    p50 = model.predict(st)["production"][1]
    y = st["final_qty"].to_numpy().astype(np.float64)
    return float(p50.sum() / y.sum() - 1.0), st


def test_the_day_before_cny_reads_last_years_lull_instead_of_the_stock_up(two_festivals):
    frames, config = two_festivals
    as_of = datetime(2026, 2, 16, tzinfo=TZ)  # the day before 春节 2026: the week ahead is the lull
    plain = PresaleForecaster(replace(config, analog=PresaleAnalogConfig(enabled=False))).fit(frames, as_of)
    model = PresaleForecaster(config).fit(frames, as_of)
    [said] = model.analog_.said
    assert said["event"] == "cny" and said["analog_origin"] == "2025-01-28" and said["applied"]
    plain_bias, _ = share0_bias(frames, plain, as_of)
    bias, st = share0_bias(frames, model, as_of)
    assert plain_bias > 0.3  # the stock-up read into the lull
    assert abs(bias) < plain_bias / 3
    # the supplier's distribution reads the same corrected total as the point forecast
    _, _, mean = model.distribution(st)
    np.testing.assert_allclose(mean, model.predict(st)["production"][1])
    quantile, _, _ = model.distribution(st)
    np.testing.assert_allclose(quantile(0.9), model.predict(st)["production"][2], rtol=1e-9)


def test_away_from_every_event_nothing_is_fitted_or_changed(two_festivals):
    frames, config = two_festivals
    as_of = datetime(2025, 5, 5, tzinfo=TZ)  # no event within three weeks of the week ahead
    model = PresaleForecaster(config).fit(frames, as_of)
    plain = PresaleForecaster(replace(config, analog=PresaleAnalogConfig(enabled=False))).fit(frames, as_of)
    assert model.analog_ is None
    _, st = share0_bias(frames, model, as_of)
    for a, b in zip(model.predict(st)["production"], plain.predict(st)["production"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_last_years_campaigns_the_nowcast_says_so_and_is_unchanged():
    frames, origin, model = fitted_presale()
    # 2026-01-26: 春节 2026 is near, but the world begins 2026-01-01: nothing to fit a year back
    [said] = model.analog_.said
    assert not said["applied"] and "cannot be fitted as of 2025-01-07" in said["reason"]
    assert not model.analog_.applied()
    plain = PresaleForecaster(replace(model.config, analog=PresaleAnalogConfig(enabled=False))).fit(
        frames, origin)
    st = model.state_at(frames, window_instants(closing_between(frames["campaigns"], origin, 3), 0.0))
    for a, b in zip(model.predict(st)["production"], plain.predict(st)["production"], strict=True):
        np.testing.assert_array_equal(a, b)
