"""Pool community orders as of an instant: per campaign × warehouse, or per product × warehouse × day.

As-of semantics are exact: an order counts at instant t when it was placed at or before t and was
still paid at t (status paid, or cancelled / refunded with `status_at` after t). Nothing placed or
cancelled after t leaks in. A campaign without a warehouse serves every warehouse: its orders pool
by the ordering group's warehouse. The pooling itself is defined once, as SQL in
common/definitions.py (`valid_at`, `pool_campaigns_at`, `pool_daily`), run in-process on DuckDB here
or on an engine's (Spark) by the caller's `run`; this module adds the campaigns' units around it.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from common import definitions
from common.clock import TS
from common.contract import serving_warehouses
from common.definitions import Runner

POOL_SCHEMA: dict[str, pl.DataType] = {
    "campaign_id": pl.String(),
    "product_id": pl.String(),
    "supplier_id": pl.String(),
    "warehouse_id": pl.String(),
    "delivery_on": pl.Date(),
    "opens_at": TS,
    "closes_at": TS,
    "price": pl.Float64(),
    "max_qty": pl.Int64(),
    "instant": TS,
    "ordered_qty": pl.Int64(),
    "groups_ordering": pl.Int64(),
    "members_ordering": pl.Int64(),
    "first_order_at": TS,
    "last_order_at": TS,
    "window_elapsed": pl.Float64(),
}

DAILY_SCHEMA: dict[str, pl.DataType] = definitions.SCHEMAS["daily"]


def window_elapsed(instant: pl.Expr, opens: pl.Expr, closes: pl.Expr) -> pl.Expr:
    """Share of the pre-sale window elapsed at `instant`, clipped to [0, 1]."""
    span = (closes - opens).dt.total_microseconds().cast(pl.Float64)
    done = (instant - opens).dt.total_microseconds().cast(pl.Float64)
    return pl.when(span > 0).then(done / span).otherwise(1.0).clip(0.0, 1.0)


def campaign_units(campaigns: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """One row per campaign × warehouse it serves (a campaign without a warehouse serves all)."""
    base = campaigns.select(
        "campaign_id", "product_id", "price", "opens_at", "closes_at", "delivery_on", "warehouse_id",
        (pl.col("max_qty") if "max_qty" in campaigns.columns else pl.lit(None, pl.Int64)).alias("max_qty"),
    )
    units = serving_warehouses(base, groups)
    return units.join(products.select("product_id", "supplier_id"), on="product_id", how="left")


def pool_campaigns_at(
    orders: pl.DataFrame,
    campaigns: pl.DataFrame,
    groups: pl.DataFrame,
    products: pl.DataFrame,
    instants: pl.DataFrame,
    *,
    detail: bool = True,
    run: Runner | None = None,
) -> pl.DataFrame:
    """Pool every campaign of `instants` (campaign_id, instant) as of its own instant: the definition
    of common/definitions.py, run by `run` (an engine's; by default in-process DuckDB).

    One row per campaign × warehouse served, zero-order units included, columns POOL_SCHEMA.
    detail=False computes only ordered_qty and groups_ordering (members and first / last order
    times are null; the history's final totals over many campaigns need no more).
    """
    # each row of `instants` is a state of its own (a campaign may be asked for at several instants)
    instants = instants.select("campaign_id", pl.col("instant").cast(TS)).with_row_index("j").with_columns(
        pl.col("j").cast(pl.Int64))
    units = campaign_units(campaigns.join(instants, on="campaign_id", how="semi"), groups, products)
    units = units.join(instants, on="campaign_id", how="inner")
    run = run or definitions.in_process({"orders": orders, "groups": groups, "campaigns": campaigns})
    schema = "campaign_pool" if detail else "campaign_totals"
    pooled = run(definitions.pool_campaigns_at(detail=detail), schema, {"instants": instants})
    if not detail:
        pooled = pooled.with_columns(pl.lit(None, pl.Int64).alias("members_ordering"),
                                     *[pl.lit(None, TS).alias(c) for c in ("first_order_at",
                                                                           "last_order_at")])
    out = units.join(pooled, on=["campaign_id", "warehouse_id", "j"], how="left").with_columns(
        pl.col("ordered_qty", "groups_ordering", *(["members_ordering"] if detail else [])).fill_null(0),
        window_elapsed(pl.col("instant"), pl.col("opens_at"), pl.col("closes_at")).alias("window_elapsed"),
    )
    return out.select([pl.col(c).cast(t) for c, t in POOL_SCHEMA.items()]).sort("campaign_id", "warehouse_id")


def pool_campaigns(
    orders: pl.DataFrame,
    campaigns: pl.DataFrame,
    groups: pl.DataFrame,
    products: pl.DataFrame,
    instant: datetime,
    *,
    open_only: bool = True,
) -> pl.DataFrame:
    """Pool campaigns as of one instant; by default only those open then (opens_at <= t < closes_at)."""
    t = pl.lit(instant).cast(TS)
    chosen = campaigns.filter((pl.col("opens_at") <= t) & (pl.col("closes_at") > t)) if open_only else (
        campaigns.filter(pl.col("opens_at") <= t))
    instants = chosen.select("campaign_id", t.alias("instant"))
    return pool_campaigns_at(orders, campaigns, groups, products, instants)


def pool_daily(
    orders: pl.DataFrame,
    groups: pl.DataFrame,
    campaigns: pl.DataFrame | None,
    instant: datetime,
    *,
    without_campaign_only: bool = False,
) -> pl.DataFrame:
    """Quantity per product × warehouse × order day (platform zone), as of `instant`: the definition of
    common/definitions.py, run in-process (DAILY_SCHEMA, sorted by product, warehouse, day)."""
    sql = definitions.pool_daily(instant, without_campaign_only=without_campaign_only)
    return definitions.in_process({"orders": orders, "groups": groups, "campaigns": campaigns})(sql, "daily")
