"""The demand table: pool, forecast and decide for every open and upcoming campaign (or, on data
without campaigns, every product × warehouse × coming day), with the forecast's gate and fallback.
Pure: frames in, the table and its info out (the nightly stores it: pipelines.demand_stage).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import polars as pl

from aggregation.daily import forecast_daily
from aggregation.decision import DecisionConfig, suggest
from aggregation.metrics import wape
from aggregation.pooling import TS, campaign_units
from aggregation.presale import PresaleConfig, PresaleForecaster
from aggregation.timeseries import TimeSeriesConfig
from common.contract import UPCOMING_DAYS, upcoming_until
from common.definitions import Runner
from common.errors import InsufficientHistoryError
from common.settings import DEFAULT_SEED

MODEL_VERSION = "agg-1.0"

DEMAND_SCHEMA: dict[str, pl.DataType] = {
    "as_of": TS,
    "campaign_id": pl.String(),
    "product_id": pl.String(),
    "supplier_id": pl.String(),
    "warehouse_id": pl.String(),
    "delivery_on": pl.Date(),
    "ordered_qty": pl.Int64(),
    "groups_ordering": pl.Int64(),
    "forecast_p10": pl.Float64(),
    "forecast_p50": pl.Float64(),
    "forecast_p90": pl.Float64(),
    "suggested_qty": pl.Int64(),
    "method": pl.String(),
    "model_version": pl.String(),
    # extra columns the API shows
    "members_ordering": pl.Int64(),
    "first_order_at": TS,
    "last_order_at": TS,
    "window_elapsed": pl.Float64(),
    "closes_at": TS,
    "max_qty": pl.Int64(),
    "critical_ratio": pl.Float64(),
    "expected_fill_rate": pl.Float64(),
    "expected_leftover": pl.Float64(),
}


@dataclass(frozen=True)
class DemandConfig:
    horizon_days: int = 7  # daily rows (data without campaigns) cover these coming days
    lookahead_days: int = UPCOMING_DAYS  # campaigns opening within this many days get a forecast too
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    presale: PresaleConfig = field(default_factory=PresaleConfig)
    timeseries: TimeSeriesConfig = field(default_factory=TimeSeriesConfig)


def empty_demand() -> pl.DataFrame:
    return pl.DataFrame(schema=DEMAND_SCHEMA)


def _decide(rows: pl.DataFrame, products: pl.DataFrame, config: DecisionConfig, distribution=None
            ) -> pl.DataFrame:
    """Attach suggested_qty, critical ratio, expected fill rate and leftover.

    distribution: (quantile function, grid, mean) of each row's total, in the rows' order (the
    pre-sale nowcast's calibrated distribution); else the two-piece normal through the forecast
    columns."""
    cost = products.select("product_id", (pl.col("cost") if "cost" in products.columns
                                          else pl.lit(None, pl.Float64)).alias("_cost"))
    rows = rows.join(cost, on="product_id", how="left", maintain_order="left")
    quantile, grid, mean = distribution if distribution is not None else (None, None, None)
    out = suggest(
        rows["forecast_p10"].to_numpy(), rows["forecast_p50"].to_numpy(), rows["forecast_p90"].to_numpy(),
        price=rows["_price"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        cost=rows["_cost"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        max_qty=rows["max_qty"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        ordered_qty=rows["ordered_qty"].cast(pl.Float64).fill_null(0).to_numpy(), config=config,
        quantile=quantile, grid=grid, mean=mean,
    )
    return rows.with_columns(*[pl.Series(k, v) for k, v in out.items()]).drop("_cost", "_price")


def live_campaigns(campaigns: pl.DataFrame, as_of: datetime, config: DemandConfig) -> pl.DataFrame:
    """The campaigns the demand table nowcasts: open at `as_of`, or opening within the lookahead."""
    t = pl.lit(as_of).cast(TS)
    return campaigns.filter((pl.col("closes_at") > t) & (
        pl.col("opens_at") <= pl.lit(upcoming_until(as_of, config.lookahead_days)).cast(TS)))


def nowcast_rows(model: PresaleForecaster, frames: dict[str, pl.DataFrame], live: pl.DataFrame,
                 as_of: datetime, passed: bool, decision: DecisionConfig) -> pl.DataFrame:
    """The per-campaign part of the demand table: the booking state of every `live` campaign ×
    warehouse at `as_of` (model.state_at), its forecast (the production nowcast when the gate
    `passed`, else the multiplicative pickup) and the supplier's quantity (_decide).

    `frames` needs only what those states read (see nowcast_routes): the live campaigns, the groups
    and products they touch, their orders and posts up to `as_of`, and the orders of the groups of
    their warehouses in the group-reach window. Row-wise in the units: the rows of any split of the
    campaign × warehouse units by warehouse are the rows of the whole (the Spark nowcast's split)."""
    t = pl.lit(as_of).cast(TS)
    instants = live.select("campaign_id", t.alias("instant"))
    states = model.state_at(frames, instants)
    preds = model.predict(states)
    chosen = "production" if passed else "multiplicative"
    p10, p50, p90 = preds[chosen]
    not_open = (states["share"].to_numpy() <= 0.0) & (states["qty_at"].to_numpy() == 0)
    method = np.where(not_open, "bottom_up" if passed else "pickup_multiplicative",
                      "nowcast_gbm" if passed else "pickup_multiplicative")
    pooled = states.select(
        "campaign_id", "product_id", "supplier_id", "warehouse_id", "max_qty", "closes_at",
        pl.col("qty_at").alias("ordered_qty"), pl.col("groups_at").alias("groups_ordering"),
        pl.col("members_at").alias("members_ordering"), pl.col("share").alias("window_elapsed"),
        pl.col("price").alias("_price"), "first_order_at", "last_order_at",
    ).join(live.select("campaign_id", "delivery_on"), on="campaign_id", how="left", maintain_order="left")
    rows = pooled.with_columns(
        pl.Series("forecast_p10", np.maximum(p10, 0.0)), pl.Series("forecast_p50", np.maximum(p50, 0.0)),
        pl.Series("forecast_p90", np.maximum(p90, 0.0)), pl.Series("method", method),
        pl.lit(f"{MODEL_VERSION}:{'gbm' if passed else 'fallback'}@{as_of:%Y-%m-%d}").alias("model_version"),
        pl.lit(as_of).cast(TS).alias("as_of"),
    )
    # the supplier's quantity from the calibrated distribution of the total (the fallback's: P10-P90)
    return _decide(rows, frames["products"], decision, model.distribution(states) if passed else None)


KEY = "_key"  # the warehouse a routed row is shipped to (nowcast_routes)
NOWCAST_TABLES = ("campaigns", "groups", "products", "orders", "posts")


def nowcast_routes(model: PresaleForecaster, frames: dict[str, pl.DataFrame], live: pl.DataFrame,
                   as_of: datetime) -> dict[str, pl.DataFrame]:
    """What nowcast_rows reads for each warehouse's live campaign × warehouse units, as the rows of
    the tables in NOWCAST_TABLES (those present), each with KEY, the warehouse of the units it is
    for; a row needed by several warehouses is there once per warehouse.

    Pooling and exposure read, for a unit (campaign, w), the campaign's orders and posts up to `as_of`
    that pool to w (the campaign's warehouse, else the ordering group's); group reach reads the
    orders of w's groups (any campaign) in the reach window before the units' cutoffs (the priors,
    the groups' counts and the codes come with the fitted model). A campaign without a warehouse
    serves every warehouse with groups: each warehouse gets it with its own groups only, so it
    expands to that warehouse's unit alone. The keys are the units' warehouses (never null)."""
    groups, products = frames["groups"], frames["products"]
    units = campaign_units(live, groups, products).select("campaign_id", pl.col("warehouse_id").alias(KEY))
    keys = units.select(KEY).unique()
    out = {
        "campaigns": live.join(units, on="campaign_id", how="inner"),
        "groups": groups.filter(pl.col("warehouse_id").is_not_null()).with_columns(
            pl.col("warehouse_id").alias(KEY)).join(keys, on=KEY, how="semi"),
        "products": products.join(live.select("product_id", "campaign_id").join(units, on="campaign_id")
                                  .select("product_id", KEY).unique(), on="product_id", how="inner"),
    }
    t = pl.lit(as_of).cast(TS)
    group_wh = groups.select("group_id", pl.col("warehouse_id").alias("_group_wh")).unique("group_id")
    campaign_wh = live.select("campaign_id", pl.col("warehouse_id").alias("_campaign_wh"))

    def pooled_to(frame: pl.DataFrame, at: str) -> pl.DataFrame:
        """Rows of the live campaigns placed by `as_of`, keyed by the warehouse they pool to."""
        rows = frame.with_row_index("_row").filter(pl.col(at) <= t).join(campaign_wh, on="campaign_id")
        rows = rows.join(group_wh, on="group_id", how="left")
        return rows.select("_row", pl.coalesce("_campaign_wh", "_group_wh").alias(KEY))

    orders = frames["orders"]
    routed = [pooled_to(orders, "ordered_at")]
    reach = model.config.reach
    if reach is not None and live.height:
        longest = max(reach.prod_days, reach.cat_days, reach.all_days)
        first = live.select(pl.min_horizontal(pl.col("opens_at").min(), t)).item()
        since = pl.lit(first).cast(TS) - pl.duration(days=longest)
        at = pl.col("ordered_at")
        recent = orders.with_row_index("_row").filter((at < t) & (at >= since))
        routed.append(recent.join(group_wh, on="group_id", how="inner").select(
            "_row", pl.col("_group_wh").alias(KEY)))
    rows = pl.concat(routed).unique().join(keys, on=KEY, how="semi")
    out["orders"] = orders.with_row_index("_row").join(rows, on="_row", how="inner").drop("_row")
    posts = frames.get("posts")
    if posts is not None:
        if "campaign_id" in posts.columns and posts.height:
            rows = pooled_to(posts, "posted_at").join(keys, on=KEY, how="semi")
            out["posts"] = posts.with_row_index("_row").join(rows, on="_row", how="inner").drop("_row")
        else:
            out["posts"] = posts.clear().with_columns(pl.lit(None, pl.String).alias(KEY))
    return out


NowcastFn = Callable[[PresaleForecaster, dict, pl.DataFrame, datetime, bool, DecisionConfig],
                     tuple[pl.DataFrame, dict]]


def _campaign_demand(frames, as_of: datetime, config: DemandConfig, seed: int,
                     nowcast: NowcastFn | None = None, run: Runner | None = None
                     ) -> tuple[pl.DataFrame, dict]:
    campaigns = frames["campaigns"]
    model = PresaleForecaster(replace(config.presale, seed=seed)).fit(frames, as_of, run)
    cal = model.calibration_states_
    y_cal = cal["final_qty"].to_numpy().astype(np.float64)
    prod_wape = wape(y_cal, model.predict(cal)["production"][1])
    naive = cal.select(pl.coalesce("prior_prod_wh", "prior_cat_wh").fill_null(0.0)).to_series().to_numpy()
    naive_wape = wape(y_cal, naive)
    passed = bool(np.isfinite(prod_wape) and prod_wape <= naive_wape)
    gate = {"production_wape": round(prod_wape, 4), "seasonal_naive_wape": round(naive_wape, 4),
            # not the evaluation's forecast.production.wape (the daily cells of the horizon)
            "production_wape_scope": "held-out recent campaigns' totals at cutoff",
            "passed": passed,
            "reason": (f"held-out recent campaigns: nowcast WAPE {prod_wape:.3f} vs {naive_wape:.3f} for "
                       "the product's recent campaign totals in the warehouse (seasonal naive)")}
    live = live_campaigns(campaigns, as_of, config)
    # near an annual event: whether the nowcast was corrected by last year's (presale_analog), and why;
    # a failed gate publishes the pickup, which is not
    said = {"event_analog": model.analog_.said if passed else [
        {**one, "applied": False, "reason": "the nowcast failed its gate; the multiplicative pickup "
                                            "published instead is not corrected"}
        for one in model.analog_.said]} if model.analog_ is not None else {}
    if live.height == 0:
        return empty_demand(), {"gate": gate, "campaigns": 0, **said}
    info = {"gate": gate, "campaigns": live.height, "training_windows": model.train_units_, **said}
    if nowcast is None:
        rows = nowcast_rows(model, frames, live, as_of, passed, config.decision)
    else:
        rows, where = nowcast(model, frames, live, as_of, passed, config.decision)
        info["nowcast"] = where
    return rows, info


def _daily_demand(frames, as_of: datetime, config: DemandConfig, seed: int, run: Runner | None = None
                  ) -> tuple[pl.DataFrame, dict]:
    ts_config = replace(config.timeseries, horizon_days=config.horizon_days, seed=seed)
    daily = forecast_daily(frames, as_of.date(), ts_config, run)
    rows = _daily_rows(frames, daily.forecasts, as_of, daily.method, daily.version)
    return rows, {**daily.info, "series": rows.select("product_id", "warehouse_id").n_unique()}


def _daily_rows(frames, forecasts: pl.DataFrame, as_of: datetime, method: str, version: str) -> pl.DataFrame:
    """Demand rows from daily forecasts (product_id, warehouse_id, day, p10, p50, p90)."""
    products = frames["products"].select("product_id", "supplier_id", pl.col("price").alias("_price"))
    return forecasts.join(products, on="product_id", how="left").with_columns(
        pl.lit(None, pl.String).alias("campaign_id"),
        pl.col("day").alias("delivery_on"),
        pl.lit(0, pl.Int64).alias("ordered_qty"), pl.lit(0, pl.Int64).alias("groups_ordering"),
        pl.lit(0, pl.Int64).alias("members_ordering"), pl.lit(None, pl.Int64).alias("max_qty"),
        pl.col("p10").alias("forecast_p10"), pl.col("p50").alias("forecast_p50"),
        pl.col("p90").alias("forecast_p90"),
        pl.lit(method).alias("method"),
        pl.lit(f"{MODEL_VERSION}:{version}@{as_of.date()}").alias("model_version"),
        pl.lit(as_of).cast(TS).alias("as_of"),
    )


def build_demand(
    frames: dict[str, pl.DataFrame],
    as_of: datetime,
    config: DemandConfig | None = None,
    seed: int = DEFAULT_SEED,
    nowcast: NowcastFn | None = None,
    run: Runner | None = None,
) -> tuple[pl.DataFrame, dict]:
    """The demand table of DESIGN.md "Outputs" as of `as_of`, and info (quality gate, timings).

    The bottom-up group evidence (recent buyers of the product / category in the warehouse, see
    aggregation.group_reach) is computed from the orders themselves, as of each state's instant in
    training and at prediction, so the model reads the same input in both; there is no separate
    recsys signal argument (one that only exists at prediction time cannot be learned from).

    `nowcast` (optional) replaces nowcast_rows for the live campaigns (same arguments; returns the
    rows and a dict kept as info["nowcast"]): the Spark engine's runs it on the executors
    (pipelines.spark_stages.nowcast_on_spark). The fit and its gate stay here. `run` (optional) runs
    the pooling (common/definitions.py) over the engine's orders, groups, campaigns and posts: the
    closed campaigns' final totals and booking states the fit learns from, or the daily history of
    data without campaigns (default: in-process DuckDB over `frames`).
    """
    config = config or DemandConfig()
    started = time.perf_counter()
    campaigns = frames.get("campaigns")
    if campaigns is not None and campaigns.height:
        try:
            rows, info = _campaign_demand(frames, as_of, config, seed, nowcast, run)
            info["mode"] = "campaigns"
        except InsufficientHistoryError as exc:  # a young or quiet platform: too few closed windows
            rows, info = _daily_demand(frames, as_of, config, seed, run)
            info["mode"] = "daily"
            info["presale_untrained"] = (f"{exc}: daily forecasts per product and warehouse are published "
                                         "instead of the campaigns' nowcasts (this demand table has no "
                                         "per-campaign rows or pooled orders)")
    else:
        rows, info = _daily_demand(frames, as_of, config, seed, run)
        info["mode"] = "daily"
    forecast_s = time.perf_counter() - started
    if rows.height:
        if "suggested_qty" not in rows.columns:
            rows = _decide(rows, frames["products"], config.decision)
        missing = [c for c in DEMAND_SCHEMA if c not in rows.columns]
        rows = rows.with_columns(*[pl.lit(None).alias(c) for c in missing])
        rows = rows.select([pl.col(c).cast(t) for c, t in DEMAND_SCHEMA.items()])
        rows = rows.sort("supplier_id", "product_id", "warehouse_id", "delivery_on", "campaign_id",
                         nulls_last=True)
    else:
        rows = empty_demand()
    info["rows"] = rows.height
    info["seconds"] = {"forecast": round(forecast_s, 2), "total": round(time.perf_counter() - started, 2)}
    return rows, info
