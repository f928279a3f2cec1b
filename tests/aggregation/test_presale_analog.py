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
    horizon_day,
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


def test_a_week_within_a_level_shift_or_the_usual_miss_or_unreadable_is_no_evidence_of_the_event():
    # 85 of 100 (|log| 0.16): within the daily forecast's level shift (0.25, about 1.28x)
    share, cat, day, booked, point, final = states({0: (0, 100, 85), 1: (10, 50, 20)})
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL, np.zeros(4), CATS)
    assert not said["applied"] and "no sign of the event" in said["reason"] and np.all(ratios == 1.0)
    # 70 of 100 (|log| 0.35): a level shift, unless the nowcast's weeks usually miss by more (0.4)
    share, cat, day, booked, point, final = states({0: (0, 100, 70), 1: (10, 50, 20)})
    ratios, said = band_day_ratios(share, cat, day, booked, point, final, NEAR_ALL,
                                   np.array([0.4, 0.0, 0.0, 0.0]), CATS)
    assert not said["applied"] and said["bar"] == pytest.approx(math.exp(0.4), abs=1e-3)
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
    # a quantile below what is booked (cancellations to come) is not pushed further down
    assert to_come(np.array([7.0]), np.array([10.0]), np.array([5.0]))[0] == 7.0
    grid = to_come(np.array([[12.0, 0.0], [20.0, 4.0]]), np.array([10.0, 0.0]), np.array([2.0, 0.5]))
    np.testing.assert_allclose(grid, [[14.0, 0.0], [30.0, 2.0]])


def utc(*texts: str) -> np.ndarray:
    """Cutoffs given in platform time (UTC+8), as polars hands a zoned column to numpy (UTC)."""
    return np.array([np.datetime64(t) - np.timedelta64(8, "h") for t in texts], dtype="datetime64[us]")


def test_a_correction_applies_on_its_days_to_its_band_and_category_only():
    ratios = np.ones((4, 3, 7))
    ratios[0, 0, 2] = 0.5  # band 0, fresh, third day
    ratios[2, 2, 2] = 2.0  # band 2, a category last year did not have
    origin = datetime(2026, 2, 16, tzinfo=TZ)
    c = AnalogCorrection(origin, ["fresh", "snacks"], ratios)
    closes = utc("2026-02-18T23:00", "2026-02-18T23:00", "2026-02-18T23:00", "2026-02-25T23:00",
                 "2026-02-15T23:00")
    got = c.ratio(np.array([0.0, 0.1, 0.5, 0.0, 0.0]), np.array(["fresh", "fresh", "toys", "fresh", "fresh"]),
                  closes)
    np.testing.assert_allclose(got, [0.5, 1.0, 2.0, 1.0, 1.0])
    assert c.applied() and not AnalogCorrection(origin, [], np.ones((4, 1, 7))).applied()


def test_the_horizon_day_counts_whole_days_from_the_origin_whatever_the_hour():
    at_midnight, at_two_pm = datetime(2026, 2, 16, tzinfo=TZ), datetime(2026, 2, 16, 14, tzinfo=TZ)
    closes = utc("2026-02-16T00:00", "2026-02-16T23:00", "2026-02-17T00:00", "2026-02-22T23:00",
                 "2026-02-23T00:00", "2026-02-23T00:01")
    # a window closing at the as-of instant is closed already; one at as-of + 7 days is day 6
    assert horizon_day(closes, at_midnight).tolist() == [-1, 0, 0, 6, 6, 7]
    assert horizon_day(utc("2026-02-16T23:00", "2026-02-17T13:00", "2026-02-17T15:00"),
                       at_two_pm).tolist() == [0, 0, 1]


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
    assert not said["applied"] and said["reason"] == (
        "the campaigns before 2025-01-07 span 0 day(s); reading an earlier event needs 56 days")
    assert not model.analog_.applied()
    plain = PresaleForecaster(replace(model.config, analog=PresaleAnalogConfig(enabled=False))).fit(
        frames, origin)
    st = model.state_at(frames, window_instants(closing_between(frames["campaigns"], origin, 3), 0.0))
    for a, b in zip(model.predict(st)["production"], plain.predict(st)["production"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_year_back_too_short_to_read_or_an_error_there_is_said_and_changes_nothing(two_festivals,
                                                                                       monkeypatch):
    frames, config = two_festivals
    # history from 2024-12-20: 39 days before the analog origin 2025-01-28, under the 56 needed
    late = {**frames, "campaigns": frames["campaigns"].filter(
        pl.col("closes_at") >= datetime(2024, 12, 20, tzinfo=TZ))}
    as_of = datetime(2026, 2, 16, tzinfo=TZ)
    [said] = PresaleForecaster(config).fit(late, as_of).analog_.said
    assert not said["applied"] and "span 38 day(s)" in said["reason"]

    def broken(self, *args, **kwargs):
        raise RuntimeError("the engine lost a worker")

    monkeypatch.setattr(PresaleForecaster, "analog_states", broken)
    model = PresaleForecaster(config).fit(frames, as_of)
    [said] = model.analog_.said
    assert not said["applied"] and not model.analog_.applied()
    assert said["reason"] == ("the nowcast cannot be read as of 2025-01-28: RuntimeError: the engine lost "
                              "a worker")


def test_a_failed_gate_says_the_published_pickup_is_not_corrected(two_festivals, monkeypatch):
    import aggregation.demand as demand

    frames, config = two_festivals
    scores = iter([2.0, 1.0])  # the nowcast's held-out WAPE, then seasonal naive's: the gate fails
    monkeypatch.setattr(demand, "wape", lambda *a: next(scores))
    rows, info = demand.build_demand(frames, datetime(2026, 2, 16, tzinfo=TZ),
                                     demand.DemandConfig(presale=config))
    assert not info["gate"]["passed"] and set(rows["method"]) == {"pickup_multiplicative"}
    [said] = info["event_analog"]
    assert not said["applied"]
    assert "multiplicative pickup published instead is not corrected" in said["reason"]


def shopping_demand(day: date) -> float:
    """A week of promotion up to each 618 and 双11, then ten days of lull."""
    for event in (date(day.year, 6, 18), date(day.year, 11, 11)):
        if event - timedelta(days=7) <= day < event:
            return 1.8
        if event <= day < event + timedelta(days=10):
            return 0.4
    return 1.0


def test_a_first_double11_reads_the_first_618_where_last_years_is_not_in_the_history():
    start = date(2025, 3, 1)  # a platform's first year: no 双11 before this one
    frames = world(days=(date(2025, 11, 20) - start).days, products=4, groups=8, seed=5, start=start,
                   demand=shopping_demand)
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=30), max_train_units=2000, train_days=14,
                           reach=None)
    as_of = datetime(2025, 11, 11, tzinfo=TZ)  # 双11: the week ahead is the lull after the promotion
    plain = PresaleForecaster(replace(config, analog=PresaleAnalogConfig(enabled=False))).fit(frames, as_of)
    model = PresaleForecaster(config).fit(frames, as_of)
    [said] = model.analog_.said
    assert said["event"] == "double11" and said["last_year"] == "2024-11-11" and said["applied"]
    assert said["read_instead"]["event"] == "618" and said["analog_origin"] == "2025-06-18"
    assert "span 0 day(s)" in said["read_instead"]["because"]
    plain_bias, _ = share0_bias(frames, plain, as_of)
    bias, _ = share0_bias(frames, model, as_of)
    assert plain_bias > 0.3  # the promotion read into the lull
    assert abs(bias) < plain_bias / 3
