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
    curves = live_booking_curves(lines, tables["groups"], demand.get_column("campaign_id"), t)
    ends = curves.group_by("campaign_id", "warehouse_id").agg(pl.col("cum_qty").max())
    both = ends.join(demand, on=["campaign_id", "warehouse_id"])
    assert both.height == 1
    # placed at t counts, cancelled at t does not: 3 + 2
    assert both["ordered_qty"].to_list() == [5] and both["cum_qty"].to_list() == [5]
