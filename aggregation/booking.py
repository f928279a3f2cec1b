"""Booking curves: of closed campaigns, the pooled state at a grid of window shares (set-based, for
training); of open ones, the cumulative paid quantity by hour as of an instant (the report's charts).

Each order line counts at share s when it was placed by s and still paid at s. In share units an
order placed at e_o and cancelled at e_c counts on grid points j/B with e_o <= j/B < e_c, so the
whole curve is a +quantity at the first point and a -quantity at the point of cancellation,
accumulated over the grid: O(order lines), no join of orders × instants.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from aggregation.pooling import campaign_units, order_lines, window_elapsed
from common import definitions
from common.clock import TS
from common.definitions import Runner

UNIT = ["campaign_id", "warehouse_id"]


def _share(col: str) -> pl.Expr:
    """Unclipped share of the window at timestamp `col`."""
    span = (pl.col("closes_at") - pl.col("opens_at")).dt.total_microseconds().cast(pl.Float64)
    return (pl.col(col) - pl.col("opens_at")).dt.total_microseconds().cast(pl.Float64) / span


def _cumulate(events: pl.DataFrame, grid: pl.DataFrame, value: str) -> pl.DataFrame:
    """Sum `value` deltas per unit × grid point and accumulate along the grid."""
    sums = events.group_by(*UNIT, "j").agg(pl.col(value).sum())
    dense = grid.join(sums, on=[*UNIT, "j"], how="left").with_columns(pl.col(value).fill_null(0))
    return dense.sort(*UNIT, "j").with_columns(pl.col(value).cum_sum().over(UNIT))


def booking_snapshots(
    orders: pl.DataFrame,
    campaigns: pl.DataFrame,
    groups: pl.DataFrame,
    products: pl.DataFrame,
    posts: pl.DataFrame | None = None,
    *,
    grid: int = 10,
) -> pl.DataFrame:
    """State of every campaign × warehouse of `campaigns` at shares j/grid, j = 0..grid.

    Columns: campaign_id, warehouse_id, j, share, instant, qty_at, groups_at, members_at,
    posts_at, post_groups_at, and final_qty (the pooled quantity at the cutoff, j = grid).
    """
    units = campaign_units(campaigns, groups, products).select(*UNIT, "opens_at", "closes_at")
    grid_frame = units.select(UNIT).join(pl.DataFrame({"j": range(grid + 1)}, schema={"j": pl.Int64}),
                                         how="cross")
    lines = order_lines(orders.lazy().join(campaigns.lazy().select("campaign_id"), on="campaign_id",
                                           how="semi"), groups, campaigns)
    lines = lines.join(units.lazy(), on=UNIT, how="inner").with_columns(
        (_share("ordered_at") * grid).ceil().clip(0, None).cast(pl.Int64).alias("j_start"),
        pl.when(pl.col("status") == "paid").then(grid + 1)
        .otherwise((_share("status_at") * grid).ceil().clip(0, grid + 1)).cast(pl.Int64).alias("j_end"),
    ).filter((pl.col("j_start") < pl.col("j_end")) & (pl.col("j_start") <= grid)).collect()
    starts = lines.select(*UNIT, pl.col("j_start").alias("j"), pl.col("quantity").alias("q"))
    ends = lines.filter(pl.col("j_end") <= grid).select(*UNIT, pl.col("j_end").alias("j"),
                                                         (-pl.col("quantity")).alias("q"))
    qty = _cumulate(pl.concat([starts, ends]), grid_frame, "q").rename({"q": "qty_at"})
    firsts = []
    for who in ("group_id", "member_id"):
        first = lines.group_by(*UNIT, who).agg(pl.col("j_start").min().alias("j")).with_columns(
            pl.lit(1, pl.Int64).alias("n"))
        firsts.append(_cumulate(first, grid_frame, "n").rename({"n": f"{who.split('_')[0]}s_at"}))
    out = qty.join(firsts[0], on=[*UNIT, "j"]).join(firsts[1], on=[*UNIT, "j"])
    if posts is not None and posts.height and "campaign_id" in posts.columns:
        p = posts.filter(pl.col("campaign_id").is_not_null()).join(
            groups.select("group_id", pl.col("warehouse_id").alias("group_wh")), on="group_id", how="left")
        p = p.join(campaigns.select("campaign_id", pl.col("warehouse_id").alias("cwh")), on="campaign_id")
        p = p.with_columns(pl.coalesce("cwh", "group_wh").alias("warehouse_id")).join(units, on=UNIT)
        p = p.with_columns((_share("posted_at") * grid).ceil().clip(0, None).cast(pl.Int64).alias("j"))
        p = p.filter(pl.col("j") <= grid)
        posts_at = _cumulate(p.with_columns(pl.lit(1, pl.Int64).alias("n")), grid_frame, "n")
        pg = p.group_by(*UNIT, "group_id").agg(pl.col("j").min()).with_columns(pl.lit(1, pl.Int64).alias("n"))
        post_groups = _cumulate(pg, grid_frame, "n")
        out = out.join(posts_at.rename({"n": "posts_at"}), on=[*UNIT, "j"]).join(
            post_groups.rename({"n": "post_groups_at"}), on=[*UNIT, "j"])
    else:
        out = out.with_columns(pl.lit(0, pl.Int64).alias("posts_at"),
                               pl.lit(0, pl.Int64).alias("post_groups_at"))
    final = out.filter(pl.col("j") == grid).select(*UNIT, pl.col("qty_at").alias("final_qty"))
    out = out.join(final, on=UNIT).join(units, on=UNIT).with_columns(
        (pl.col("j") / grid).alias("share"))
    span = pl.col("closes_at") - pl.col("opens_at")
    out = out.with_columns(
        (pl.col("opens_at") + span * pl.col("share")).alias("instant")
    ).with_columns(window_elapsed(pl.col("instant"), pl.col("opens_at"), pl.col("closes_at")).alias("share"))
    return out.select(*UNIT, "j", "share", "instant", "qty_at", "groups_at", "members_at", "posts_at",
                      "post_groups_at", "final_qty").sort(*UNIT, "j")


def exposure_at(
    posts: pl.DataFrame | None, campaigns: pl.DataFrame, groups: pl.DataFrame, instants: pl.DataFrame
) -> pl.DataFrame:
    """Posts and distinct groups posted per campaign × warehouse up to each campaign's instant."""
    schema = {"campaign_id": pl.String, "warehouse_id": pl.String, "posts_at": pl.Int64,
              "post_groups_at": pl.Int64}
    if posts is None or posts.height == 0 or "campaign_id" not in posts.columns:
        return pl.DataFrame(schema=schema)
    p = posts.join(instants, on="campaign_id", how="inner").filter(pl.col("posted_at") <= pl.col("instant"))
    p = p.join(groups.select("group_id", pl.col("warehouse_id").alias("group_wh")), on="group_id", how="left")
    p = p.join(campaigns.select("campaign_id", pl.col("warehouse_id").alias("cwh")), on="campaign_id")
    p = p.with_columns(pl.coalesce("cwh", "group_wh").alias("warehouse_id"))
    return p.group_by(UNIT).agg(
        pl.len().cast(pl.Int64).alias("posts_at"),
        pl.col("group_id").n_unique().cast(pl.Int64).alias("post_groups_at"),
    ).select([pl.col(k).cast(v) for k, v in schema.items()])


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
    frames = {"orders": orders, "groups": groups, "campaigns": campaigns}
    run = run or definitions.in_process({k: v for k, v in frames.items() if v is not None})
    return run(definitions.live_booking_curves(as_of), "live_curves", {"wanted": wanted})
