"""One rule for "placed by t and still paid at t": the report's booking curves read the same rule as
pooling, so a curve ends at the ordered quantity the demand table publishes, even for an order
placed, or cancelled, exactly at the as-of instant (the two copies disagreed there: renovation)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from aggregation.booking import live_booking_curves
from aggregation.pooling import pool_campaigns_at
from common.clock import TS
from tests.pipelines.conftest import build_tiny_tables


def test_the_curves_end_at_the_pooled_quantity_with_events_at_the_instant():
    tables = build_tiny_tables()
    camps = tables["campaigns"]
    campaign = camps.row(0, named=True)
    t = campaign["opens_at"] + (campaign["closes_at"] - campaign["opens_at"]) / 2
    orders = tables["orders"].filter(pl.col("campaign_id") == campaign["campaign_id"]).head(1)
    assert orders.height == 1
    extra = pl.DataFrame({
        "order_id": ["at-t", "cancel-at-t", "before"],
        "ordered_at": [t, t - timedelta(hours=2), t - timedelta(hours=1)],
        "status": ["paid", "cancelled", "paid"],
        "status_at": [t, t, t - timedelta(hours=1)],
        "quantity": [3, 5, 2],
    }).with_columns(pl.col("ordered_at", "status_at").cast(TS))
    lines = pl.concat([orders.drop(c for c in extra.columns if c in orders.columns).join(extra, how="cross")
                       .select(tables["orders"].columns)], how="vertical_relaxed")
    pooled = pool_campaigns_at(lines, camps, tables["groups"], tables["products"],
                               pl.DataFrame({"campaign_id": [campaign["campaign_id"]], "instant": [t]}))
    demand = pooled.select("campaign_id", "warehouse_id", "ordered_qty")
    curves = live_booking_curves(lines, tables["groups"], camps, demand.get_column("campaign_id"), t)
    ends = curves.group_by("campaign_id", "warehouse_id").agg(pl.col("cum_qty").max())
    both = ends.join(demand, on=["campaign_id", "warehouse_id"])
    assert both.height == 1
    # placed at t counts, cancelled at t does not: 3 + 2
    assert both["ordered_qty"].to_list() == [5] and both["cum_qty"].to_list() == [5]


def test_a_campaign_bound_to_a_warehouse_pools_the_orders_of_other_warehouses_groups_in_its_curve():
    """Orders placed by a group of another warehouse for a campaign bound to a warehouse pool to the
    campaign's warehouse, in the demand table and so in the curve (the curves once pooled them to the
    group's warehouse, a curve that ended nowhere near the demand's quantity)."""
    from tests.aggregation.test_nowcast_split import AS_OF, mixed_world

    frames = mixed_world()
    camps, groups = frames["campaigns"], frames["groups"]
    live = camps.filter((pl.col("opens_at") <= AS_OF) & (pl.col("closes_at") > AS_OF))
    pooled = pool_campaigns_at(frames["orders"], camps, groups, frames["products"],
                               live.select("campaign_id", pl.lit(AS_OF).cast(TS).alias("instant")))
    curves = live_booking_curves(frames["orders"], groups, camps, live["campaign_id"], AS_OF)
    ends = curves.group_by("campaign_id", "warehouse_id").agg(pl.col("cum_qty").max())
    ordered = pooled.filter(pl.col("ordered_qty") > 0).select("campaign_id", "warehouse_id", "ordered_qty")
    both = ordered.join(ends, on=["campaign_id", "warehouse_id"], how="full", coalesce=True)
    bound = live.filter(pl.col("warehouse_id").is_not_null())["campaign_id"]
    assert both.filter(pl.col("campaign_id").is_in(bound.implode())).height > 0
    assert both["ordered_qty"].to_list() == both["cum_qty"].to_list()
    assert curves.filter(pl.col("campaign_id").is_in(bound.implode())).join(
        live.select("campaign_id", pl.col("warehouse_id").alias("bound_to")), on="campaign_id").filter(
        pl.col("warehouse_id") != pl.col("bound_to")).height == 0
