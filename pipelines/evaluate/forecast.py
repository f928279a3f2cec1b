"""The `forecast` block of `circlebuy evaluate`: daily forecasts and pre-sale nowcasts, scored.

Daily: every model forecasts product × warehouse × day for the `horizon_days` after --as-of
(00:00 platform zone) from what happened before it; scored against paid orders in the horizon.
Pre-sale: for each campaign × warehouse closing in the horizon, nowcasts made at 0%, 25%, 50% and
75% of its window (by a model frozen at --as-of) are scored against the pooled total at cutoff.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from aggregation.daily import DailyForecast, actuals, forecast_daily, product_sample
from aggregation.forecasters import make_forecaster
from aggregation.metrics import head_scores, score
from aggregation.presale import (
    MODELS,
    PresaleForecaster,
    closing_between,
    finals,
    window_instants,
)
from aggregation.statistical import STAT_MODELS
from aggregation.timeseries import TimeSeriesConfig
from pipelines.evaluate.intervals import MIN_UNITS, N_BOOT, paired_difference, ratio_interval, too_few
from pipelines.warehouse import day_start

PRESALE_SHARES = (0.0, 0.25, 0.5, 0.75)
FORECAST_COLUMNS = ["product_id", "warehouse_id", "day", "p10", "p50", "p90"]
HEAD_THRESHOLD = 28.0  # units sold in the HEAD_WINDOW days before as-of: a series a supplier plans
HEAD_WINDOW = 28
HEAD_ONLY = ("auto_ets",)  # statistical models scored on the head series only (cost)
STAT_JOBS = 2  # statsforecast processes for the head-only models (the machine's cores)


def score_frame(forecasts: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Metrics of a daily forecast frame against actuals (missing actuals are zero days)."""
    joined = forecasts.join(truth.rename({"qty": "actual"}), on=["product_id", "warehouse_id", "day"],
                            how="left").with_columns(pl.col("actual").fill_null(0))
    return score(*(joined[c].to_numpy() for c in ("actual", "p10", "p50", "p90")))


def _matrix(frame: pl.DataFrame, keys: pl.DataFrame, start: date, horizon: int, column: str) -> np.ndarray:
    """series × horizon matrix of `column` (rows in `keys` order; missing cells are 0)."""
    out = np.zeros((keys.height, horizon))
    j = frame.join(keys.with_row_index("_s"), on=["product_id", "warehouse_id"], how="inner").with_columns(
        (pl.col("day") - pl.lit(start)).dt.total_days().alias("_h")).filter(
        (pl.col("_h") >= 0) & (pl.col("_h") < horizon))
    if j.height:
        np.add.at(out, (j["_s"].to_numpy(), j["_h"].to_numpy()), j[column].cast(pl.Float64).to_numpy())
    return out


def _head_block(y: np.ndarray, quantiles: dict[str, tuple], head: np.ndarray, threshold: float,
                seed: int) -> dict:
    """Head-series figures on their horizon totals (as many days as `y` has columns: --horizon-days)
    per model, with 90% intervals over series and production minus each model (paired; none below
    MIN_UNITS series, and `note` says so)."""
    yh = y[head]
    totals = yh.sum(axis=1)
    errors = {name: np.abs(q[1][head].sum(axis=1) - totals) for name, q in quantiles.items()}
    block = {
        "series": int(head.sum()), "threshold": threshold, "window_days": HEAD_WINDOW,
        "horizon_days": int(y.shape[1]), "volume": float(totals.sum()),
        "models": {name: head_scores(yh, q[0][head], q[1][head], q[2][head])
                   for name, q in quantiles.items()},
    }
    note = too_few(int(head.sum()), "series")
    block["intervals"] = {
        "level": 0.9, "unit": "series", "resamples": N_BOOT, "units": int(head.sum()), "min_units": MIN_UNITS,
        **({"note": note} if note else {}),
        "total_wape": {name: ratio_interval(e, totals, seed=seed) for name, e in errors.items()},
        "production_minus_model_total_wape": {
            name: paired_difference(errors["production"], e, totals, seed=seed)
            for name, e in errors.items() if name != "production"
        },
    }
    return block


def baseline(name: str, run: DailyForecast, rows: np.ndarray, settings: TimeSeriesConfig, **params) -> tuple:
    """(p10, p50, p90) of the forecaster `name` for panel `rows`, from production's panel and origin."""
    forecaster = make_forecaster(name, settings, **params).fit(run.panel, run.origin)
    q = forecaster.predict(run.panel, run.origin, rows)
    return q.p10, q.p50, q.p90


def evaluate_daily(frames: dict[str, pl.DataFrame], config) -> tuple[dict, pl.DataFrame]:
    """Scores of production and the statistical baselines on the horizon; production's forecasts.

    `production` is exactly what the nightly publishes for this as-of (aggregation.daily
    .forecast_daily: the learned model, or its fallback); the baselines forecast the same series
    from the same history. The head series (sold at least HEAD_THRESHOLD units in the HEAD_WINDOW
    days before as-of) are also scored on their horizon totals."""
    horizon = config.horizon_days
    settings = replace(config.forecast, horizon_days=horizon, seed=config.seed)
    sampled = getattr(config, "max_products", None)
    if sampled is not None:
        frames = product_sample(frames, sampled, config.seed)
    run = forecast_daily(frames, config.as_of_day, settings)
    production = run.forecasts.select(FORECAST_COLUMNS)
    truth = actuals(frames, day_start(config.as_of_day), horizon)
    keys = production.select("product_id", "warehouse_id").unique(maintain_order=True)
    rows = keys.join(run.panel.series.select("product_id", "warehouse_id").with_row_index("_r"),
                     on=["product_id", "warehouse_id"], how="left")["_r"].to_numpy().astype(np.int64)
    history = run.panel.y[rows, :run.origin]
    y = _matrix(truth, keys, config.as_of_day, horizon, "qty")
    quantiles = {"production": tuple(_matrix(production, keys, config.as_of_day, horizon, c)
                                     for c in ("p10", "p50", "p90"))}
    recent = history[:, max(history.shape[1] - HEAD_WINDOW, 0):].sum(axis=1)
    head = recent >= HEAD_THRESHOLD
    tick = time.perf_counter()
    cheap = [m for m in STAT_MODELS if m not in HEAD_ONLY]
    quantiles.update({name: baseline(name, run, rows, settings) for name in cheap})
    order = [*cheap, "production"]
    models = {name: score(y.ravel(), *(q.ravel() for q in quantiles[name])) for name in order}
    # AutoETS costs ~65 ms a series (three fits with the conformal windows), 80x the others
    # together: it is scored where a supplier reads it, on the head series only.
    head_rows = np.flatnonzero(head)
    for name in HEAD_ONLY:
        p10, p50, p90 = baseline(name, run, rows[head_rows], settings, n_jobs=STAT_JOBS)
        full = [np.zeros_like(y) for _ in range(3)]
        for m, q in zip(full, (p10, p50, p90), strict=True):
            m[head_rows] = q
        quantiles[name] = tuple(full)
    stats_s = time.perf_counter() - tick
    head_order = [*cheap, *HEAD_ONLY, "production"]
    covered = truth.join(keys, on=["product_id", "warehouse_id"], how="semi")["qty"].sum()
    total = truth["qty"].sum()
    block = {
        "series_evaluated": keys.height,
        **({"products_sampled": frames["products"].height} if sampled is not None else {}),
        "days": horizon,
        "volume": int(total),
        "volume_in_evaluated_series": round(float(covered) / total, 4) if total else None,
        "training_rows": run.info.get("training_rows", 0),
        "production_is": {"method": run.method, "model": run.info.get("production_is"),
                          "gate": run.info.get("gate"), "level_shift": run.info.get("level_shift"),
                          "event_analog": run.info.get("event_analog")},
        "head": _head_block(y, {n: quantiles[n] for n in head_order}, head, HEAD_THRESHOLD, config.seed),
        "models": models,
        "seconds_statistical": round(stats_s, 2),
    }
    if run.model is None:
        block["note"] = (f"not enough history to train the daily model; production is the short-history "
                         f"fallback: {run.info['gate']['reason']}")
    return block, production


def evaluate_presale(frames: dict[str, pl.DataFrame], config) -> dict:
    """Nowcasts at shares of each window closing in the horizon, per model."""
    campaigns = frames.get("campaigns")
    if campaigns is None or campaigns.height == 0:
        return {"campaigns_evaluated": 0, "note": "no campaigns in the data: pre-sale nowcasts not evaluated"}
    as_of = day_start(config.as_of_day)
    try:
        model = PresaleForecaster(replace(config.presale, seed=config.seed)).fit(frames, as_of)
    except ValueError as exc:
        return {"campaigns_evaluated": 0, "note": f"pre-sale model not trained: {exc}"}
    target = closing_between(campaigns, as_of, config.horizon_days)
    if target.height == 0:
        return {"campaigns_evaluated": 0, "note": "no campaign closes in the horizon"}
    final = finals(frames["orders"], target, frames["groups"], frames["products"])
    block: dict = {"campaigns_evaluated": target.height, "windows_evaluated": final.height,
                   "volume": int(final["final_qty"].sum()), "training_windows": model.train_units_,
                   "at_share": {}}
    if model.analog_ is not None:
        block["event_analog"] = model.analog_.said
    for share in PRESALE_SHARES:
        states = model.state_at(frames, window_instants(target, share))
        states = states.join(final, on=["campaign_id", "warehouse_id"], how="left")
        preds = model.predict(states)
        y = states["final_qty"].fill_null(0).to_numpy().astype(np.float64)
        block["at_share"][f"{share:.2f}"] = {m: score(y, *preds[m]) for m in MODELS}
    return block


def evaluate_forecast(
    frames: dict[str, pl.DataFrame], config
) -> tuple[dict, pl.DataFrame]:
    """The design's `forecast` block and production's daily forecasts over the horizon."""
    started = time.perf_counter()
    block, production = evaluate_daily(frames, config)
    daily_s = time.perf_counter() - started
    block["presale"] = evaluate_presale(frames, config)
    presale_s = time.perf_counter() - started - daily_s
    block["seconds"] = {"daily": round(daily_s, 2), "presale": round(presale_s, 2)}
    block["horizon_end"] = (config.as_of_day + timedelta(days=config.horizon_days)).isoformat()
    return block, production
