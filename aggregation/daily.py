"""Daily demand inputs from contract frames: the pooled history, campaign plans, horizon actuals.

The series is product × warehouse × order day (platform zone). Campaign plans (which products are
on sale in which warehouse on which day) are known ahead and may be read for future days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from aggregation.ensemble import TooFewFoldsError
from aggregation.event_analog import (
    MIN_HISTORY_DAYS,
    Analog,
    NoHistory,
    analog_ratios,
    analogs_for,
    corrected,
    moved,
    ratio_frame,
    read_evidence,
    readable,
)
from aggregation.forecasters import Forecaster, make_forecaster
from aggregation.metrics import wape
from aggregation.timeseries import (
    HEAD_UNITS_28D,
    DailyForecaster,
    Panel,
    TimeSeriesConfig,
    active_rows,
    build_panel,
)
from common import definitions
from common.clock import PLATFORM_TZ as TZ
from common.clock import day_start
from common.contract import sample_frames, serving_warehouses
from common.definitions import Runner, in_process
from common.errors import InsufficientHistoryError


def history(frames: Mapping[str, pl.DataFrame], instant: datetime, run: Runner | None = None) -> pl.DataFrame:
    """Daily quantity before `instant`, as it stood at `instant` (product_id, warehouse_id, day, qty), by
    `run` (an engine's; by default in-process DuckDB over `frames`)."""
    return (run or in_process(frames))(definitions.history(instant), "daily")


def actuals(frames: Mapping[str, pl.DataFrame], start: datetime, days: int, run: Runner | None = None
            ) -> pl.DataFrame:
    """Paid quantity (final status) ordered in [start, start + days), per product × warehouse × day."""
    return (run or in_process(frames))(definitions.actuals(start, days), "daily")


def campaign_days(campaigns: pl.DataFrame | None, groups: pl.DataFrame) -> pl.DataFrame:
    """product_id, warehouse_id, day, n_open: campaigns open on each day (null warehouse = all)."""
    schema = {"product_id": pl.String, "warehouse_id": pl.String, "day": pl.Date, "n_open": pl.Int64}
    if campaigns is None or campaigns.height == 0:
        return pl.DataFrame(schema=schema)
    local = lambda c: pl.col(c).dt.convert_time_zone(TZ).dt.date()  # noqa: E731
    days = campaigns.select(
        "product_id", "warehouse_id",
        pl.date_ranges(local("opens_at"), local("closes_at"), interval="1d").alias("day"),
    ).explode("day", empty_as_null=True)
    both = serving_warehouses(days, groups)
    return both.group_by("product_id", "warehouse_id", "day").agg(pl.len().cast(pl.Int64).alias("n_open"))


def daily_panel(frames: dict[str, pl.DataFrame], as_of_day: date, horizon: int, lookback_days: int = 182,
                run: Runner | None = None) -> tuple[Panel, int]:
    """The dense panel for forecasting from `as_of_day` (00:00 platform zone) and that day's index in it
    (the forecast origin); the history pooled by `run` (default: in-process)."""
    hist = history(frames, day_start(as_of_day), run)
    first = hist["day"].min() if hist.height else as_of_day - timedelta(days=lookback_days)
    start = max(first, as_of_day - timedelta(days=lookback_days))
    plans = campaign_days(frames.get("campaigns"), frames["groups"])
    end = as_of_day + timedelta(days=horizon)
    planned = plans.filter((pl.col("day") >= as_of_day) & (pl.col("day") < end))
    panel = build_panel(hist, frames["products"], start=start, end=as_of_day, open_days=plans,
                        future_days=horizon, extra_series=planned)
    return panel, panel.day_index(as_of_day)


SHORT_METHOD_WORDS = {
    "seasonal_naive": "the same weekday one week earlier (seasonal naive, 7 days)",
    "moving_average": "the mean of every day there is (moving average)",
    "last_value": "the one day there is (last value)",
}


@dataclass
class DailyForecast:
    """What the nightly publishes for data without campaigns, and how it was chosen.

    `forecasts` (product_id, warehouse_id, day, p10, p50, p90) is the one frame that the demand
    table, `evaluate --dump-forecasts` and the evaluation's `production` scores all read."""

    forecasts: pl.DataFrame
    method: str  # daily_gbm | seasonal_naive | short_history_<method>
    version: str  # gbm | fallback | fallback-<method>
    info: dict
    panel: Panel
    origin: int
    model: Forecaster | None = None  # the fitted forecaster (None on short history)
    candidates: dict[str, pl.DataFrame] = field(default_factory=dict)  # every model's forecasts


def _ensemble(panel: Panel, origin: int, config: TimeSeriesConfig) -> DailyForecast | None:
    """The ensemble's forecast, or its fallback by the fold-mean gate; None without enough folds or
    without a sale before the origin (the short-history path names that)."""
    if not panel.y[:, :origin].any():
        return None
    try:
        forecaster = make_forecaster("ensemble", config).fit(panel, origin)
    except TooFewFoldsError:
        return None
    preds = forecaster.candidates(panel, origin)
    model = forecaster.model_
    ens, naive = model.fold_mean("ensemble"), model.fold_mean("seasonal_naive")
    passed = ens is not None and (naive is None or ens <= naive)
    folds = len(model.folds_)
    gate = {"production_wape": None if ens is None else round(ens, 4),
            "seasonal_naive_wape": None if naive is None else round(naive, 4), "passed": passed,
            "scored_on": f"mean over {folds} weekly folds, head series' {config.horizon_days}-day totals",
            "reason": (f"mean over the last {folds} weekly folds (weights fitted without the fold scored), "
                       f"head series' totals: WAPE {ens if ens is not None else float('nan'):.3f} vs "
                       f"seasonal naive {naive if naive is not None else float('nan'):.3f}")}
    candidates = {n: q.frame(panel, origin) for n, q in preds.items()}
    frame = candidates["ensemble" if passed else "seasonal_naive"]
    info = {"gate": gate, "training_rows": getattr(model.booster_, "train_rows_", 0),
            "production_is": "ensemble", "ensemble": model.describe(),
            # said only of the forecast that is published (not of one the gate set aside)
            "level_shift": model.level_shift() if passed else None}
    return DailyForecast(frame, "daily_ensemble" if passed else "seasonal_naive",
                         "ensemble" if passed else "fallback", info, panel, origin, forecaster, candidates)


def with_event_analog(forecast: DailyForecast, frames: dict[str, pl.DataFrame], day: date,
                      config: TimeSeriesConfig, run: Runner | None = None) -> DailyForecast:
    """The ensemble's published forecast, corrected near an annual event by how the same forecaster
    missed the same days of its previous occurrence (aggregation.event_analog), where the history
    reaches back that far and last year's days show the event; unchanged otherwise. A shopping
    festival whose previous occurrence the history does not reach (a platform's first 双11) reads the
    latest other one instead (its first 618: common.festivals.sibling_occurrences), by the same rules.
    `info["event_analog"]` lists, per event near the horizon, whether it was applied and why."""
    horizon = config.horizon_days
    said_all, runs = [], {}

    def read(analog: Analog) -> dict | str:
        """The analog's run, or why its history cannot be read."""
        then = analog.origin(day)
        if then not in runs:  # 双11 and Christmas share last year's origin (365 days back)
            runs[then] = _analog_run(forecast, frames, then, horizon, run)
        return runs[then].get("reason", runs[then])

    for near in analogs_for(day, horizon):
        analog, got, skipped = read_evidence(near, frames, read, run)
        then = analog.origin(day)
        said = {**analog.said(), "analog_origin": then.isoformat(), "applied": False}
        if skipped:
            said["read_instead"]["because"] = "; ".join(skipped)
        said_all.append(said)
        if isinstance(got, str):
            said["reason"] = got
            continue
        reason, ratios = _analog_ratios(got, forecast.model.model_.usual_miss(), analog.when())
        if ratios is not None:
            said.update(ratios["said"])
        if reason is not None:
            said["reason"] = reason
            continue
        by_category, overall = ratios["by_category"], ratios["overall"]
        frame = ratio_frame(by_category, overall, day, analog.days)
        forecast.forecasts = corrected(forecast.forecasts, frames["products"], frame)
        days = np.flatnonzero(analog.days)
        said.update(applied=True, days_corrected=int(days.size),
                    days_from=(day + timedelta(days=int(days[0]))).isoformat(),
                    sold_over_forecast=[round(float(overall[h]), 3) for h in days],
                    by_category={c: [round(float(r[h]), 3) for h in days]
                                 for c, r in sorted(by_category.items())})
    if said_all:
        forecast.info["event_analog"] = said_all
        forecast.candidates[_published_candidate(forecast)] = forecast.forecasts
    return forecast


def _published_candidate(forecast: DailyForecast) -> str:
    """The ensemble's candidate that `forecast` published: itself, or seasonal naive where its
    fold-mean gate failed (_ensemble)."""
    return "ensemble" if forecast.method == "daily_ensemble" else "seasonal_naive"


def _analog_run(forecast: DailyForecast, frames: dict[str, pl.DataFrame], then: date, horizon: int,
                run: Runner | None) -> dict:
    """The published forecaster run at the analog origin `then` on the history as it stood a horizon
    later: {"reason"} where it cannot be, else the analog series' categories, point forecasts, sales
    and head mask (the best-selling series; all of them where none is)."""
    panel, end = daily_panel(frames, then + timedelta(days=horizon), horizon, run=run)
    t = end - horizon  # the analog origin's index: its horizon's outcomes are in the panel
    sold_on = np.flatnonzero(panel.y[:, :max(t, 0)].any(axis=0))
    held = t - int(sold_on[0]) if sold_on.size else 0  # days from the first sale to the analog origin
    if held < MIN_HISTORY_DAYS:
        return {"reason": NoHistory(f"the history before {then} holds {held} day(s) of sales; the "
                                    f"correction needs {MIN_HISTORY_DAYS} days")}
    ensemble = forecast.model.model_
    rows = active_rows(panel, t, horizon, ensemble.ts_config.active_days)
    if rows.size == 0:
        days = ensemble.ts_config.active_days
        return {"reason": NoHistory(f"nothing sold in the {days} days before {then}")}
    rows, preds = ensemble.predict(panel, t, rows)
    head = panel.y[rows, max(t - 28, 0):t].sum(axis=1) >= HEAD_UNITS_28D
    return {"category": panel.series["category"].to_numpy()[rows],
            "point": preds[_published_candidate(forecast)][1],
            "sold": panel.y[rows, t:t + horizon], "head": head if head.any() else np.ones_like(head)}


def _analog_ratios(analog: dict, usual_miss: float, when: str = "last year"
                   ) -> tuple[str | None, dict | None]:
    """(reason it is not applied, None) or (None, {"by_category", "overall", "said"}). Read on the
    analog's whole horizon (the scale of the folds' usual miss): its head series (`when`: last year,
    or at another festival) must have sold a readable ratio of the forecast (event_analog.readable)
    that broke from it as a level shift (event_analog.moved)."""
    if "reason" in analog:
        return analog["reason"], None
    head = analog["head"]
    sold, point = float(analog["sold"][head].sum()), float(analog["point"][head].sum())
    said = {"head_sold": round(sold, 1), "head_forecast": round(point, 1),
            "usual_miss_ratio": round(math.exp(usual_miss), 3)}
    ratios = {"said": said}
    if not readable(sold, point):
        return (f"{when} the best-selling products sold {sold:,.0f} units in the week from the analog "
                f"origin against {point:,.0f} forecast: too far apart to read as the event's doing (a "
                "shutdown or a reopening?)"), ratios
    if not moved(sold, point, usual_miss):
        return (f"{when} the best-selling products sold {sold:,.0f} units in the week from the analog "
                f"origin against {point:,.0f} forecast: within the forecast's usual miss, no sign of the "
                "event"), ratios
    by_category, overall = analog_ratios(analog["category"], analog["point"], analog["sold"])
    return None, {**ratios, "by_category": by_category, "overall": overall}


def held_out_gate(model: DailyForecaster, horizon: int) -> dict:
    """Production against seasonal naive on the held-out horizon before the origin: on the head
    series' horizon totals (what a supplier plans on) when there are any, else on the daily cells."""
    y_cal, prod_center = model.calibration_["production"]
    _, naive_center = model.calibration_["seasonal_naive"]
    head = model.calibration_head_.reshape(-1, horizon)[:, 0]
    if head.any():
        def totals(v: np.ndarray) -> np.ndarray:
            return v.reshape(-1, horizon)[head].sum(axis=1)
        y, prod, naive = totals(y_cal), totals(prod_center), totals(naive_center)
        what = f"{int(head.sum())} head series, {horizon}-day totals"
    else:
        y, prod, naive = y_cal, prod_center, naive_center
        what = "daily cells (no head series)"
    prod_wape, naive_wape = wape(y, prod), wape(y, naive)
    passed = bool(np.isfinite(prod_wape) and prod_wape <= naive_wape)
    return {"production_wape": round(prod_wape, 4), "seasonal_naive_wape": round(naive_wape, 4),
            "passed": passed, "scored_on": what,
            "reason": (f"last {horizon} days before the run, {what}: WAPE {prod_wape:.3f} "
                       f"vs seasonal naive {naive_wape:.3f}")}


def forecast_daily(frames: dict[str, pl.DataFrame], day: date, config: TimeSeriesConfig,
                   run: Runner | None = None) -> DailyForecast:
    """Daily forecasts for the `config.horizon_days` from `day` (00:00 platform zone).

    With enough history for its rolling folds, production is the validated ensemble
    (aggregation.ensemble), published when its mean over the folds (each scored with weights that
    never saw it) beats seasonal naive's on the head series' horizon totals, seasonal naive
    otherwise. With less history, the single learned model against seasonal naive on the last
    horizon; with too little for that, the simplest baseline the history supports
    (aggregation.short_history). Raises NoHistoryError when nothing was ever ordered. Every model
    is fitted and predicted through aggregation.forecasters. `run`: the engine that pools the history
    (common/definitions.py; default in-process DuckDB)."""
    horizon = config.horizon_days
    panel, origin = daily_panel(frames, day, horizon, run=run)
    ensemble = _ensemble(panel, origin, config)
    if ensemble is not None:
        return with_event_analog(ensemble, frames, day, config, run)
    try:
        booster = make_forecaster("booster", config).fit(panel, origin)
    except InsufficientHistoryError as exc:
        fallback = make_forecaster("short_history", config).fit(panel, origin)
        forecasts = fallback.predict(panel, origin).frame(panel, origin)
        short = fallback.info_
        method, days = short["method"], short["history_days"]
        interval = (f"interval calibrated on the last {short['held_out_days']} day(s)" if short["calibrated"]
                    else "interval from each series' own daily spread (too few days to calibrate it)")
        need = 2 * horizon + 14
        why = (f"only {days} day(s) of order history before {day}; the daily model needs at least "
               f"{need}" if days < need else f"the daily model could not be trained ({exc})")
        gate = {"passed": False, "trained": False, "fallback": method, "history_days": days,
                "held_out_wape": short.get("held_out_wape"),
                "reason": f"{why}; forecasts are {SHORT_METHOD_WORDS[method]}, {interval}"}
        info = {"gate": gate, "training_rows": 0, "production_is": method}
        return DailyForecast(forecasts, f"short_history_{method}", f"fallback-{method}", info, panel, origin)
    model = booster.model_
    gate = held_out_gate(model, horizon)
    passed = gate["passed"]
    candidates = {n: q.frame(panel, origin) for n, q in booster.candidates(panel, origin).items()}
    chosen = candidates["production" if passed else "seasonal_naive"]
    info = {"gate": gate, "training_rows": model.train_rows_, "production_is": model.production_}
    return DailyForecast(chosen, "daily_gbm" if passed else "seasonal_naive", "gbm" if passed else "fallback",
                         info, panel, origin, booster, candidates)


def product_sample(frames: dict[str, pl.DataFrame], max_products: int, seed: int) -> dict[str, pl.DataFrame]:
    """The frames of at most `max_products` products (sampled with `seed`; all when fewer): every
    table with a product_id keeps its rows of them, the rest is shared. Each series is a product in a
    warehouse, so the sample keeps whole series."""
    return sample_frames(frames, "products", "product_id", max_products, seed)
