"""Booking curves: of closed campaigns, the pooled state at a grid of window shares (set-based, for
training); of open ones, the cumulative paid quantity by hour as of an instant (the report's charts).

Every state is pooled by the definitions of common/definitions.py, with the rule live pooling uses:
an order line counts at the state's instant when it was placed by then and still paid then
(`pool_campaigns_at`), a post when it was placed by then (`campaign_exposure_at`); both pooled to the
campaign's warehouse, else the group's. So a training state and a live one are counted alike.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from aggregation.pooling import campaign_units, window_elapsed
from common import definitions
from common.clock import TS
from common.definitions import Runner

UNIT = ["campaign_id", "warehouse_id"]


def _in_process(orders: pl.DataFrame | None, groups: pl.DataFrame, campaigns: pl.DataFrame,
                posts: pl.DataFrame | None) -> Runner:
    """The in-process runner over the frames given; posts without campaigns (the column is optional)
    are no campaign's exposure, so they are left out (an absent table reads as an empty one)."""
    with_posts = posts is not None and "campaign_id" in posts.columns
    return definitions.in_process({"orders": orders, "groups": groups, "campaigns": campaigns,
                                   "posts": posts if with_posts else None})


def booking_snapshots(
    orders: pl.DataFrame,
    campaigns: pl.DataFrame,
    groups: pl.DataFrame,
    products: pl.DataFrame,
    posts: pl.DataFrame | None = None,
    *,
    grid: int = 10,
    run: Runner | None = None,
) -> pl.DataFrame:
    """State of every campaign × warehouse of `campaigns` at shares j/grid, j = 0..grid, pooled by
    `run` (an engine's, over its own orders, groups, campaigns and posts tables; by default in-process
    DuckDB over the frames given, which only that default reads).

    Columns: campaign_id, warehouse_id, j, share, instant, qty_at, groups_at, members_at,
    posts_at, post_groups_at, and final_qty (the pooled quantity at the cutoff, j = grid).
    """
    units = campaign_units(campaigns, groups, products).select(*UNIT, "opens_at", "closes_at")
    steps = pl.DataFrame({"j": range(grid + 1)}, schema={"j": pl.Int64})
    span = pl.col("closes_at") - pl.col("opens_at")
    states = campaigns.select("campaign_id", "opens_at", "closes_at").unique("campaign_id").join(
        steps, how="cross").select(
        "campaign_id", "j", (pl.col("opens_at") + span * (pl.col("j") / grid)).cast(TS).alias("instant"))
    run = run or _in_process(orders, groups, campaigns, posts)
    pooled = run(definitions.pool_campaigns_at(detail=True), "campaign_pool", {"instants": states})
    exposed = run(definitions.campaign_exposure_at(), "campaign_exposure", {"instants": states})
    keys = [*UNIT, "j"]
    counts = ["qty_at", "groups_at", "members_at", "posts_at", "post_groups_at"]
    out = units.join(states, on="campaign_id").join(pooled.select(
        *keys, pl.col("ordered_qty").alias("qty_at"), pl.col("groups_ordering").alias("groups_at"),
        pl.col("members_ordering").alias("members_at")), on=keys, how="left").join(
        exposed, on=keys, how="left").with_columns(pl.col(counts).fill_null(0))
    final = out.filter(pl.col("j") == grid).select(*UNIT, pl.col("qty_at").alias("final_qty"))
    out = out.join(final, on=UNIT).with_columns(
        window_elapsed(pl.col("instant"), pl.col("opens_at"), pl.col("closes_at")).alias("share"))
    return out.select(*UNIT, "j", "share", "instant", "qty_at", "groups_at", "members_at", "posts_at",
                      "post_groups_at", "final_qty").sort(*UNIT, "j")


def exposure_at(posts: pl.DataFrame | None, campaigns: pl.DataFrame, groups: pl.DataFrame,
                instants: pl.DataFrame, run: Runner | None = None) -> pl.DataFrame:
    """Posts and distinct groups posted per campaign × warehouse up to each campaign's instant
    (campaign_id, instant): the definition of common/definitions.py, run by `run` (an engine's, over
    its own tables) or in-process over the frames given."""
    run = run or _in_process(None, groups, campaigns, posts)
    states = instants.select("campaign_id", pl.lit(0, pl.Int64).alias("j"), pl.col("instant").cast(TS))
    return run(definitions.campaign_exposure_at(), "campaign_exposure", {"instants": states}).drop("j")


LIVE_CURVE_SCHEMA = {"campaign_id": pl.String, "warehouse_id": pl.String, "at": TS, "cum_qty": pl.Int64}


def live_booking_curves(orders: pl.DataFrame, groups: pl.DataFrame, campaigns: pl.DataFrame | None,
                        campaign_ids: pl.Series | None, as_of: datetime, run: Runner | None = None
                        ) -> pl.DataFrame:
    """Cumulative paid quantity per campaign × warehouse by hour, as of `as_of`, for the campaigns in
    `campaign_ids` (campaign_id, warehouse_id, at, cum_qty): the definition of common/definitions.py,
    which pools with the rules pooling uses ("placed by t and still paid at t"; the campaign's
    warehouse, else the group's), so a curve ends at the demand table's ordered_qty."""
    if campaign_ids is None or campaign_ids.len() == 0:
        return pl.DataFrame(schema=LIVE_CURVE_SCHEMA)
    wanted = campaign_ids.drop_nulls().unique().to_frame("campaign_id")
    run = run or definitions.in_process({"orders": orders, "groups": groups, "campaigns": campaigns})
    return run(definitions.live_booking_curves(as_of), "live_curves", {"wanted": wanted})
