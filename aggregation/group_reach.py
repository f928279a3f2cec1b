"""Bottom-up group evidence for a campaign × warehouse, exactly as of an instant: how many of the
warehouse's groups ordered the product, its category, or anything in the last days before it.

These are the group × product facts the recsys signal is built from (recent orders of the item,
of its category, group activity), counted per group, so they say how many groups are ready to
order, which the warehouse's past totals alone do not (new, returning or lapsed groups).

A group ordering at t is "recent" on [t, t + days). Per group and key the intervals are merged, so
the number of recent groups at any instant is (merged starts so far) - (merged ends so far): one
as-of join, O(order days), no groups × instants product. Only orders placed strictly before the
instant count (a later cancellation is not known then, so placement is what counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

TS = pl.Datetime("us", "Asia/Shanghai")
LEVELS: dict[str, list[str]] = {"prod": ["product_id"], "cat": ["category"], "all": []}


@dataclass(frozen=True)
class ReachConfig:
    prod_days: int = 28  # a group is a recent buyer of the product for this many days
    cat_days: int = 28
    all_days: int = 14  # ... and an active group for this many days after any order


def order_days(orders: pl.DataFrame | pl.LazyFrame, groups: pl.DataFrame, products: pl.DataFrame
               ) -> pl.DataFrame:
    """group_id, warehouse_id (the group's), product_id, category, first_at, last_at per order day."""
    lines = orders.lazy().select("group_id", "product_id", "ordered_at").join(
        groups.lazy().select("group_id", "warehouse_id"), on="group_id", how="inner").join(
        products.lazy().select("product_id", pl.col("category").fill_null("unknown")), on="product_id",
        how="left")
    return lines.group_by("group_id", "warehouse_id", "product_id", "category",
                          pl.col("ordered_at").dt.date().alias("day")).agg(
        pl.col("ordered_at").min().alias("first_at"), pl.col("ordered_at").max().alias("last_at")).collect()


def reach_events(days_frame: pl.DataFrame, level: str, days: int) -> pl.DataFrame:
    """warehouse_id, level keys, at, n: recent groups of the key from `at` on (a step function)."""
    keys = LEVELS[level]
    per_group = ["group_id", "warehouse_id", *keys]
    d = days_frame.group_by(*per_group, "day").agg(pl.col("first_at").min(), pl.col("last_at").max())
    d = d.sort(*per_group, "first_at")
    span = pl.duration(days=days)
    d = d.with_columns(
        (pl.col("last_at").shift(1).over(per_group) + span).alias("prev_end"),
        pl.col("first_at").shift(-1).over(per_group).alias("next_first"),
    )
    starts = d.filter(pl.col("prev_end").is_null() | (pl.col("first_at") >= pl.col("prev_end"))).select(
        "warehouse_id", *keys, pl.col("first_at").alias("at"), pl.lit(1, pl.Int64).alias("delta"))
    ends = d.filter(pl.col("next_first").is_null() | (pl.col("next_first") >= pl.col("last_at") + span)
                    ).select("warehouse_id", *keys, (pl.col("last_at") + span).alias("at"),
                             pl.lit(-1, pl.Int64).alias("delta"))
    by = ["warehouse_id", *keys]
    return pl.concat([starts, ends]).group_by(*by, "at").agg(pl.col("delta").sum()).sort(*by, "at").select(
        *by, "at", pl.col("delta").cum_sum().over(by).alias("n"))


def reach_at(events: pl.DataFrame, targets: pl.DataFrame, level: str, name: str) -> pl.DataFrame:
    """Attach `name` = recent groups at each target's `cutoff` (strictly before it) by warehouse and key."""
    by = ["warehouse_id", *LEVELS[level]]
    left = targets.with_columns((pl.col("cutoff") - pl.duration(microseconds=1)).alias("_t")).sort("_t")
    right = events.rename({"n": name}).sort("at")
    out = left.join_asof(right, left_on="_t", right_on="at", by=by, strategy="backward",
                         check_sortedness=False)
    return out.drop("_t", "at").with_columns(pl.col(name).fill_null(0).cast(pl.Float64))


def group_reach(orders: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame, targets: pl.DataFrame,
                config: ReachConfig = ReachConfig()) -> pl.DataFrame:
    """targets (campaign_id, warehouse_id, product_id, category, cutoff) with reach_prod, reach_cat,
    reach_all: groups of the warehouse that ordered the product / its category / anything in the
    configured days before `cutoff`. Orders at or after the latest cutoff are never read."""
    if targets.height == 0:
        return targets.with_columns([pl.lit(None, pl.Float64).alias(f"reach_{lv}") for lv in LEVELS])
    first, last = targets["cutoff"].min(), targets["cutoff"].max()
    longest = max(config.prod_days, config.cat_days, config.all_days)
    since = pl.lit(first).cast(TS) - pl.duration(days=longest)
    recent = orders.lazy().select("group_id", "product_id", "ordered_at").filter(
        (pl.col("ordered_at") < pl.lit(last).cast(TS)) & (pl.col("ordered_at") >= since))
    days_frame = order_days(recent, groups, products)
    out = targets
    for level, days in (("prod", config.prod_days), ("cat", config.cat_days), ("all", config.all_days)):
        out = reach_at(reach_events(days_frame, level, days), out, level, f"reach_{level}")
    return out
