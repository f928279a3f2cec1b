"""What a supplier's analyst would run instead of our model: Nixtla statsforecast on the daily history.

Input is the dense series × day matrix of `aggregation.timeseries.Panel.y` (days strictly before the
origin, zeros = no sales); output is P10 / P50 / P90 per model, series and step. Pure: arrays in,
arrays out, no I/O.

Models (names are the keys of the result):

- `seasonal_naive` — SeasonalNaive(season_length): the same weekday one week earlier;
- `window_average_28` — WindowAverage(28): the mean of the last 28 days;
- `historic_average` — HistoricAverage: the mean of the whole (trimmed, see below) history;
- `auto_ets` — AutoETS(season_length): exponential smoothing, error / trend / season chosen by AICc;
- `adida`, `imapa` — temporal aggregation for intermittent demand (ADIDA, IMAPA);
- `tsb` — Teunter-Syntetos-Babai with fixed alpha_d = alpha_p = 0.1 (TSB_ALPHA_D / TSB_ALPHA_P),
  the customary value in the intermittent-demand literature (smooth, slow to react to one lumpy
  order; statsforecast has no optimised TSB, and tuning it per series would be our model, not the
  analyst's);
- `croston_optimized` — Croston with SES parameters optimised per series.

Choices:

- **Leading zeros are trimmed.** Each series starts at its first non-zero day, as an analyst would
  load it (the zeros before a product's first sale are "not listed yet", not "sold nothing").
  Zeros after the first sale are kept (they are real days with no sales). So `historic_average`
  is the mean since the first sale, and the intermittent models see the real demand intervals.
  (`min_history` reads young series further back, for a caller that is not the analyst: the
  ensemble's members, aggregation.ensemble.)
- **Intervals** are the central `level`% interval (80: P10 / P90) from statsforecast's
  ConformalIntervals(h=horizon, n_windows=n_windows), the same method for every model (the
  intermittent models have no native intervals). statsforecast itself reduces the number of
  windows for a series shorter than n_windows × horizon + 1 days, down to 2.
- **Short histories** (fewer than 2 × horizon + 1 days after trimming: conformal needs two
  windows) are still forecast: statsforecast gives the point forecast without intervals, and the
  interval is symmetric around it, ± the `level` quantile of the in-sample absolute residuals of the
  history's mean (|y - mean(y)|). The same band replaces any interval that comes back NaN (e.g.
  WindowAverage(28) when a conformal training window is shorter than 28 days).
- **NaN point forecasts** (statsforecast gives NaN where a model needs more days than the trimmed
  history has: WindowAverage(28) on a product first sold 20 days ago, SeasonalNaive on one first
  sold 5 days ago) are read from the untrimmed history, the days before the first sale counting as
  no sales, as on a dense panel: SeasonalNaive the same weekday one week earlier (0 before the first
  sale), WindowAverage(28) the mean of the last 28 days. (Filling them with the mean of the trimmed
  history, as before 2026-12-01, forecast a product sold once, yesterday, 100 units, at 700 for
  the week — a handicap no analyst's run has.) Any other model's NaN becomes the trimmed history's
  mean. A model that raises on a series falls back to HistoricAverage for that series
  (statsforecast's `fallback_model`), so one bad series never kills the batch.
- **All-zero series** (nothing sold in the history) forecast 0 for every model and quantile.
- Finally every quantile is clipped at 0 and made monotone: P50 >= 0, P10 in [0, P50], P90 >= P50.

statsforecast 2.x has no numba: its kernels are a compiled C++ extension (`statsforecast._lib`),
so there is no JIT warm-up to cache (NIXTLA_NUMBA_CACHE was for the 1.x numba versions). n_jobs=1
(the default) runs in this process with no multiprocessing pool. The first call pays only the
import of statsforecast.models (about 1 s, mostly statsmodels).

Cost: AutoETS is nearly all of it — about 65 ms per series of 182 days (three fits: the forecast and
two conformal windows; default model search "ZZZ" with damped trends) against under 1 ms for
every other model together: 3,000 × 182 days take ~195 s for AutoETS and ~2.5 s for the other
seven. AutoETS(damped=False) is about 2.5x cheaper, model="ZZN" (no season) about 6x.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

STAT_MODELS: tuple[str, ...] = (
    "seasonal_naive", "window_average_28", "historic_average", "auto_ets", "adida", "imapa", "tsb",
    "croston_optimized",
)
WINDOW = 28
TSB_ALPHA_D = 0.1
TSB_ALPHA_P = 0.1

Quantiles = tuple[np.ndarray, np.ndarray, np.ndarray]


def _model(name: str, season_length: int, intervals):
    """The statsforecast model behind `name`, aliased to it, with `intervals` (or None)."""
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        CrostonOptimized,
        HistoricAverage,
        SeasonalNaive,
        WindowAverage,
    )

    kw = {"alias": name, "prediction_intervals": intervals}
    if name == "seasonal_naive":
        return SeasonalNaive(season_length=season_length, **kw)
    if name == "window_average_28":
        return WindowAverage(window_size=WINDOW, **kw)
    if name == "historic_average":
        return HistoricAverage(**kw)
    if name == "auto_ets":
        return AutoETS(season_length=season_length, **kw)
    if name == "adida":
        return ADIDA(**kw)
    if name == "imapa":
        return IMAPA(**kw)
    if name == "tsb":
        return TSB(alpha_d=TSB_ALPHA_D, alpha_p=TSB_ALPHA_P, **kw)
    if name == "croston_optimized":
        return CrostonOptimized(**kw)
    raise ValueError(f"unknown statistical model {name!r}; expected one of {', '.join(STAT_MODELS)}")


def _frame(y: np.ndarray, rows: np.ndarray, starts: np.ndarray) -> pd.DataFrame:
    """Long unique_id / ds / y frame of `rows`, each from its `starts` day (ds = day index)."""
    n_days = y.shape[1]
    lengths = n_days - starts[rows]
    uid = np.repeat(rows, lengths)
    # day index of every kept cell: start of its row plus its offset within the row
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ds = np.repeat(starts[rows], lengths) + offsets
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": y[uid, ds]})


def _run(y, rows, starts, names, horizon, season_length, level, intervals, n_jobs, timings):
    """statsforecast on `rows`: {name: (lo, mean, hi)} each (len(rows), horizon); lo/hi NaN without
    intervals."""
    from statsforecast import StatsForecast
    from statsforecast.models import HistoricAverage

    models = [_model(name, season_length, intervals) for name in names]
    fallback = HistoricAverage(prediction_intervals=intervals)
    sf = StatsForecast(models=models, freq=1, n_jobs=n_jobs, fallback_model=fallback)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = sf.forecast(df=_frame(y, rows, starts), h=horizon,
                          level=[level] if intervals is not None else None)
    out = out.sort_values(["unique_id", "ds"], kind="stable")
    order = out["unique_id"].to_numpy()[::horizon]
    if not np.array_equal(order, rows):  # statsforecast sorts ids; rows are sorted already
        raise RuntimeError("statsforecast returned series in an unexpected order")
    res = {}
    nan = np.full((rows.size, horizon), np.nan)
    for name in names:
        mean = out[name].to_numpy(np.float64).reshape(rows.size, horizon)
        if intervals is not None:
            lo = out[f"{name}-lo-{level}"].to_numpy(np.float64).reshape(rows.size, horizon)
            hi = out[f"{name}-hi-{level}"].to_numpy(np.float64).reshape(rows.size, horizon)
        else:
            lo = hi = nan
        res[name] = (lo, mean, hi)
    if timings is not None:
        for name, seconds in getattr(sf, "forecast_times_", {}).items():
            timings[name] = timings.get(name, 0.0) + float(seconds)
    return res


def _untrimmed_point(name: str, y: np.ndarray, rows: np.ndarray, horizon: int, season_length: int,
                     hist_mean: np.ndarray) -> np.ndarray:
    """(len(rows), horizon) points where statsforecast had too few trimmed days: seasonal naive and the
    28-day window read the untrimmed panel (no sales before the first sale); others the trimmed mean."""
    n_days = y.shape[1]
    if name == "seasonal_naive" and n_days >= season_length:
        return y[np.ix_(rows, n_days - season_length + np.arange(horizon) % season_length)]
    if name == "window_average_28":
        return np.repeat(y[rows, -WINDOW:].mean(axis=1, keepdims=True), horizon, axis=1)
    return np.repeat(hist_mean[rows, None], horizon, axis=1)


def statistical_forecasts(
    y: np.ndarray,
    horizon: int,
    *,
    season_length: int = 7,
    models: Sequence[str] = STAT_MODELS,
    level: int = 80,
    n_windows: int = 2,
    n_jobs: int = 1,
    timings: dict[str, float] | None = None,
    intervals: bool = True,
    min_history: int | np.ndarray = 0,
) -> dict[str, Quantiles]:
    """y: (n_series, n_days) float history, days strictly before the origin (zeros = no sales).

    Returns per model name (p10, p50, p90), each (n_series, horizon), non-negative, finite,
    p10 <= p50 <= p90 (P10 / P90 being the central `level`% interval). When `timings` is a dict it
    receives the seconds statsforecast spent per model (conformal windows included) and
    `"total"`, the wall time of the call. `intervals=False` fits each series once, without the
    conformal windows (a third of the cost), and returns the point as P10 and P90 too.

    `min_history` (days; one for all series or one per series) reads a series first sold fewer days
    before the origin from that many days back, the days before its first sale counting as no sales
    (0, the default: every series from its first sale, as an analyst loads it).
    """
    from statsforecast.utils import ConformalIntervals

    started = time.perf_counter()
    names = list(dict.fromkeys(models))
    for name in names:
        if name not in STAT_MODELS:
            raise ValueError(f"unknown statistical model {name!r}; expected one of {', '.join(STAT_MODELS)}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 day, got {horizon}")
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100, got {level}")
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if y.ndim != 2:
        raise ValueError(f"y must be a series × days matrix, got shape {y.shape}")
    n_series, n_days = y.shape
    zeros = np.zeros((n_series, horizon))
    result = {name: (zeros.copy(), zeros.copy(), zeros.copy()) for name in names}
    if n_series == 0 or n_days == 0 or not names:
        return result

    nonzero = y != 0
    sold = nonzero.any(axis=1)
    days_back = np.asarray(min_history)
    if days_back.shape not in ((), (n_series,)) or not np.issubdtype(days_back.dtype, np.integer) \
            or np.any(days_back < 0):
        raise ValueError(f"min_history must be a whole number of days >= 0, one for all series or one per "
                         f"series ({n_series}); got {days_back.dtype} of shape {days_back.shape}")
    first_sale = nonzero.argmax(axis=1)
    floor = np.clip(n_days - np.broadcast_to(days_back, (n_series,)), 0, n_days)
    starts = np.where(sold, np.minimum(first_sale, floor), n_days)  # read from (n_days: never sold)
    lengths = n_days - starts
    min_conformal = 2 * horizon + 1  # statsforecast needs two windows of `horizon` + one day
    long_rows = np.flatnonzero(sold & (lengths >= min_conformal))
    short_rows = np.flatnonzero(sold & (lengths < min_conformal))

    # trimmed-history mean and the fallback band: the `level` quantile of |y - mean| per series
    trimmed = np.where(np.arange(n_days)[None, :] >= starts[:, None], y, np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        hist_mean = np.nan_to_num(np.nanmean(trimmed, axis=1))
        band = np.nan_to_num(np.nanquantile(np.abs(trimmed - hist_mean[:, None]), level / 100, axis=1))

    n_windows = max(2, int(n_windows))
    want_intervals = intervals
    if want_intervals:
        groups = [(long_rows, ConformalIntervals(h=horizon, n_windows=n_windows)), (short_rows, None)]
    else:
        groups = [(np.flatnonzero(sold), None)]
    for rows, intervals in groups:
        if rows.size == 0:
            continue
        out = _run(y, rows, starts, names, horizon, season_length, level, intervals, n_jobs, timings)
        for name, (lo, mean, hi) in out.items():
            mean = np.where(np.isfinite(mean), mean, _untrimmed_point(name, y, rows, horizon, season_length,
                                                                      hist_mean))
            width = band[rows, None]
            if not want_intervals:
                width = 0.0
            lo = np.where(np.isfinite(lo), lo, mean - width)
            hi = np.where(np.isfinite(hi), hi, mean + width)
            p10, p50, p90 = result[name]
            p10[rows], p50[rows], p90[rows] = lo, mean, hi

    for name in names:
        p10, p50, p90 = result[name]
        p50 = np.maximum(p50, 0.0)
        p10 = np.clip(np.minimum(p10, p50), 0.0, None)
        p90 = np.maximum(p90, p50)
        result[name] = (p10, p50, p90)
    if timings is not None:
        timings["total"] = time.perf_counter() - started
    return result
