"""Daily forecasts when the history is too short for the learned model: the simplest baseline the
history supports, with an interval calibrated on the last days where there are enough of them.

- 7 days or more: seasonal naive (the same weekday one week earlier; a day the whole platform sold
  nothing, a shutdown, is read from the same weekday before it);
- 2 to 6 days: the moving average of every day there is;
- 1 day: that day's value (last value).

The interval is conformalised on a held-out stretch at the end of the history (the same method
applied from an earlier origin) when one exists beside enough history for the method; otherwise it
is ±1.28 standard deviations, the larger of the series' own day-to-day spread and an overdispersed
count's, sqrt(m (1 + m)) at the series' mean daily quantity m (a day or two cannot show the spread).
Either way the interval is never narrower than a Poisson count's around the point
(aggregation.timeseries.count_floor), so P10 < P90 wherever the point is at least one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from aggregation.calibration import IntervalCalibrator
from aggregation.timeseries import InsufficientHistoryError, Panel, count_floor, forecast_frame

Z90 = 1.2816  # standard normal quantile at 0.9


class NoHistoryError(InsufficientHistoryError):
    """There is no order at all before the forecast origin: nothing to forecast from."""


@dataclass(frozen=True)
class ShortChoice:
    method: str  # seasonal_naive | moving_average | last_value
    days: int  # days of history the method reads


def choose(history_days: int) -> ShortChoice:
    """The simplest baseline that `history_days` days support."""
    if history_days <= 0:
        raise NoHistoryError("no daily history before the forecast origin")
    if history_days >= 7:
        return ShortChoice("seasonal_naive", 7)
    if history_days >= 2:
        return ShortChoice("moving_average", history_days)
    return ShortChoice("last_value", 1)


def _source_days(platform: np.ndarray, t: int) -> list[int]:
    """For each weekday of the week before t, the day seasonal naive copies: that day, or where the
    whole platform sold nothing on it, the latest same weekday before it that sold something. A
    shutdown of a few days (a strike, a move, a holiday) is not next week's demand: copied as it was,
    every series was forecast zero for those weekdays. A weekday the platform is always closed sold
    nothing on every week there is, so it keeps its zero. `platform`: units sold per day, every series
    of the panel (not only the rows asked for: one product's quiet weekday is no shutdown)."""
    daily = platform[:t]
    days = []
    for d in range(t - 7, t):
        back = next((e for e in range(d, -1, -7) if daily[e] > 0), d)
        days.append(back)
    return days


def _point(y: np.ndarray, t: int, horizon: int, method: str, platform: np.ndarray) -> np.ndarray:
    """series × horizon point forecasts from days [0, t) of `y` (rows already selected); `platform`:
    the units every series of the panel sold each day."""
    if method == "seasonal_naive":
        week = y[:, _source_days(platform, t)]
        return np.stack([week[:, h % 7] for h in range(horizon)], axis=1)
    level = y[:, :t].mean(axis=1)  # every day there is (one day: the last value)
    return np.repeat(level[:, None], horizon, axis=1)


def _spread(y: np.ndarray, t: int, horizon: int) -> np.ndarray:
    """series × horizon half-width: the series' daily spread, at least an overdispersed count's
    (variance m + m², m the mean daily quantity), at least one unit."""
    sd = y[:, :t].std(axis=1) if t > 1 else np.zeros(y.shape[0])
    m = y[:, :t].mean(axis=1)
    sd = np.maximum(sd, np.sqrt(m * (1.0 + m)))
    return np.repeat(np.maximum(Z90 * sd, 1.0)[:, None], horizon, axis=1)


@dataclass
class ShortHistoryFit:
    """What `fit_short_history` learns at an origin: the method and, where the history holds a
    held-out stretch, the interval's calibration (info: method, history_days, calibrated and, when
    calibrated, held_out_days and that stretch's WAPE)."""

    choice: ShortChoice
    calibrator: IntervalCalibrator | None
    info: dict


def forecast_rows(panel: Panel, t: int) -> np.ndarray:
    """The series the short-history forecast covers at day index t: those that sold before it."""
    return np.flatnonzero(panel.y[:, :t].sum(axis=1) > 0)


def fit_short_history(panel: Panel, t: int, horizon: int) -> ShortHistoryFit:
    """Choose the method for the `t` days before the origin and calibrate its interval on the last
    of them (every series that sold before t); NoHistoryError when none did."""
    rows = forecast_rows(panel, t)
    if t <= 0 or rows.size == 0:
        raise NoHistoryError(f"no order before {panel.day0 + timedelta(days=max(t, 0))}: the daily "
                             "forecast needs at least one day of product × warehouse history")
    y = panel.y[rows, :t]
    choice = choose(t)
    info: dict = {"method": choice.method, "history_days": int(t), "calibrated": False}
    # the held-out origin must still support the method (a week for seasonal naive, two days for a
    # moving average, so that the spread is measured)
    held = min(horizon, t - (7 if choice.method == "seasonal_naive" else 2))
    if held < 1:
        return ShortHistoryFit(choice, None, info)
    tc = t - held
    c_point = _point(y, tc, held, choice.method, panel.y[:, :t].sum(axis=0)).reshape(-1)
    c_spread = _spread(y, tc, held).reshape(-1)
    actual = y[:, tc:t].reshape(-1)
    cal = IntervalCalibrator(min_width=0.5).fit(actual, c_point, c_point - c_spread, c_point + c_spread)
    total = actual.sum()
    info.update(calibrated=True, held_out_days=int(held),
                held_out_wape=round(float(np.abs(actual - c_point).sum() / total), 4) if total else None)
    return ShortHistoryFit(choice, cal, info)


def short_history_quantiles(fit: ShortHistoryFit, panel: Panel, t: int, horizon: int, rows: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p10, p50, p90), each rows × horizon, for days t..t+horizon-1 from days [0, t)."""
    y = panel.y[rows, :t]
    point = _point(y, t, horizon, fit.choice.method, panel.y[:, :t].sum(axis=0))
    lo, hi = point - _spread(y, t, horizon), point + _spread(y, t, horizon)
    if fit.calibrator is not None:
        lo, hi = (v.reshape(point.shape)
                  for v in fit.calibrator.apply(point.reshape(-1), lo.reshape(-1), hi.reshape(-1)))
    p50 = np.maximum(point, 0.0)
    # never narrower than a count's interval around the point: calibrated on a stretch where most
    # cells sold nothing, the multipliers were zero and P10 = P50 = P90 on every row (Online Retail,
    # 300 customers, 19 days: 952 rows with a point of at least one unit)
    p10, p90 = count_floor(p50, np.clip(lo, 0.0, p50), np.maximum(hi, p50))
    return p10, p50, p90


def short_history_forecast(panel: Panel, t: int, horizon: int) -> tuple[pl.DataFrame, dict]:
    """P10/P50/P90 per series that sold before day index t, for days t..t+horizon-1.

    Returns (product_id, warehouse_id, day, p10, p50, p90) and the fit's info (ShortHistoryFit).
    """
    fit = fit_short_history(panel, t, horizon)
    rows = forecast_rows(panel, t)
    return forecast_frame(panel, rows, t, *short_history_quantiles(fit, panel, t, horizon, rows)), fit.info
