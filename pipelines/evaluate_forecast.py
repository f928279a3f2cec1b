"""The `forecast` block of `circlebuy evaluate`: daily forecasts and pre-sale nowcasts, scored.

Daily: every model forecasts product × warehouse × day for the `horizon_days` after --as-of
(00:00 platform zone) from what happened before it; scored against paid orders in the horizon.
Pre-sale: for each campaign × warehouse closing in the horizon, nowcasts made at 0%, 25%, 50% and
75% of its window (by a model frozen at --as-of) are scored against the pooled total at cutoff.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl

from aggregation.daily import actuals, daily_panel
from aggregation.metrics import score
from aggregation.presale import (
    MODELS,
    PresaleConfig,
    PresaleForecaster,
    closing_between,
    finals,
    window_instants,
)
from aggregation.timeseries import BASELINES, DailyForecaster, TimeSeriesConfig
from pipelines.warehouse import day_start

PRESALE_SHARES = (0.0, 0.25, 0.5, 0.75)
TS_CONFIG = TimeSeriesConfig()  # horizon and seed come from the evaluation's config
PRESALE_CONFIG = PresaleConfig()
FORECAST_COLUMNS = ["product_id", "warehouse_id", "day", "p10", "p50", "p90"]


def score_frame(forecasts: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Metrics of a daily forecast frame against actuals (missing actuals are zero days)."""
    joined = forecasts.join(truth.rename({"qty": "actual"}), on=["product_id", "warehouse_id", "day"],
                            how="left").with_columns(pl.col("actual").fill_null(0))
    return score(*(joined[c].to_numpy() for c in ("actual", "p10", "p50", "p90")))


def evaluate_daily(frames: dict[str, pl.DataFrame], config) -> tuple[dict, pl.DataFrame]:
    """Scores of production and baselines on the horizon; production's daily forecasts."""
    horizon = config.horizon_days
    panel, origin = daily_panel(frames, config.as_of, horizon)
    model = DailyForecaster(replace(TS_CONFIG, horizon_days=horizon, seed=config.seed)).fit(panel, origin)
    preds = model.predict(panel, origin)
    truth = actuals(frames, day_start(config.as_of), horizon)
    production = preds["production"].select(FORECAST_COLUMNS)
    models = {name: score_frame(preds[name], truth) for name in (*BASELINES, "production")}
    keys = production.select("product_id", "warehouse_id").unique()
    covered = truth.join(keys, on=["product_id", "warehouse_id"], how="semi")["qty"].sum()
    total = truth["qty"].sum()
    block = {
        "series_evaluated": keys.height,
        "days": horizon,
        "volume": int(total),
        "volume_in_evaluated_series": round(float(covered) / total, 4) if total else None,
        "training_rows": model.train_rows_,
        "production_is": {"model": model.production_, "sharpen": model.sharpen_,
                          "point_quantile_lift": round(model.lift_, 3)},
        "models": models,
    }
    return block, production


def evaluate_presale(frames: dict[str, pl.DataFrame], config) -> dict:
    """Nowcasts at shares of each window closing in the horizon, per model."""
    campaigns = frames.get("campaigns")
    if campaigns is None or campaigns.height == 0:
        return {"campaigns_evaluated": 0, "note": "no campaigns in the data: pre-sale nowcasts not evaluated"}
    origin = day_start(config.as_of)
    try:
        model = PresaleForecaster(replace(PRESALE_CONFIG, seed=config.seed)).fit(frames, origin)
    except ValueError as exc:
        return {"campaigns_evaluated": 0, "note": f"pre-sale model not trained: {exc}"}
    target = closing_between(campaigns, origin, config.horizon_days)
    if target.height == 0:
        return {"campaigns_evaluated": 0, "note": "no campaign closes in the horizon"}
    final = finals(frames["orders"], target, frames["groups"], frames["products"])
    block: dict = {"campaigns_evaluated": target.height, "windows_evaluated": final.height,
                   "volume": int(final["final_qty"].sum()), "training_windows": model.train_units_,
                   "at_share": {}}
    for share in PRESALE_SHARES:
        states = model.state_at(frames, window_instants(target, share))
        states = states.join(final, on=["campaign_id", "warehouse_id"], how="left")
        preds = model.predict(states)
        y = states["final_qty"].fill_null(0).to_numpy().astype(np.float64)
        block["at_share"][f"{share:.2f}"] = {m: score(y, *preds[m]) for m in MODELS}
    return block


def evaluate_forecast(
    frames: dict[str, pl.DataFrame], config, progress: bool = False
) -> tuple[dict, pl.DataFrame]:
    """The design's `forecast` block and production's daily forecasts over the horizon."""
    started = time.perf_counter()
    block, production = evaluate_daily(frames, config)
    daily_s = time.perf_counter() - started
    block["presale"] = evaluate_presale(frames, config)
    presale_s = time.perf_counter() - started - daily_s
    block["seconds"] = {"daily": round(daily_s, 2), "presale": round(presale_s, 2)}
    block["horizon_end"] = (config.as_of + timedelta(days=config.horizon_days)).isoformat()
    return block, production
