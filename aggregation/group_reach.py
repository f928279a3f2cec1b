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

from common.clock import TS

LEVELS: dict[str, list[str]] = {"prod": ["pi"], "cat": ["ci"], "all": []}  # keys (integer codes)
CODE = pl.UInt32


@dataclass(frozen=True)
class ReachConfig:
    prod_days: int = 28  # a group is a recent buyer of the product for this many days
    cat_days: int = 28
    all_days: int = 14  # ... and an active group for this many days after any order


@dataclass(frozen=True)
class Codes:
    """Integer codes of groups (with their warehouse), products (with their category), warehouses
    and categories, so that the heavy sorts and joins run on integers."""

    groups: pl.DataFrame  # group_id, gi, wi
    products: pl.DataFrame  # product_id, pi, ci
    warehouses: pl.DataFrame  # warehouse_id, wi
    categories: pl.DataFrame  # category, ci


def codes(groups: pl.DataFrame, products: pl.DataFrame) -> Codes:
    warehouses = groups.select(pl.col("warehouse_id").drop_nulls().unique().sort()).with_row_index("wi")
    cats = products.select(pl.col("category").fill_null("unknown"))
    categories = cats.select(pl.col("category").unique().sort()).with_row_index("ci")
    g = groups.select("group_id", "warehouse_id").unique("group_id").with_row_index("gi").join(
        warehouses, on="warehouse_id", how="inner").select("group_id", "gi", "wi")
    p = products.select("product_id", pl.col("category").fill_null("unknown")).unique("product_id")
    p = p.with_row_index("pi").join(categories, on="category", how="left").select("product_id", "pi", "ci")
    return Codes(g, p, warehouses, categories)


def order_days(orders: pl.DataFrame | pl.LazyFrame, c: Codes) -> pl.DataFrame:
    """gi, wi (the group's warehouse), pi, ci, day, first_at, last_at: one row per group × product ×
    order day (platform zone)."""
    lines = orders.lazy().select("group_id", "product_id", "ordered_at").join(
        c.groups.lazy(), on="group_id", how="inner").join(c.products.lazy(), on="product_id", how="inner")
    days = lines.group_by("gi", "wi", "pi", "ci", pl.col("ordered_at").dt.date().alias("day")).agg(
        pl.col("ordered_at").min().alias("first_at"), pl.col("ordered_at").max().alias("last_at"))
    return days.collect(engine="streaming")  # in batches: the order lines are never all held


def reach_events(days_frame: pl.DataFrame, level: str, days: int) -> pl.DataFrame:
    """wi, level key, at, n: recent groups of the warehouse and key from `at` on (a step function)."""
    keys = LEVELS[level]
    per_group = ["gi", *keys]
    d = days_frame if level == "prod" else days_frame.group_by("wi", *per_group, "day").agg(
        pl.col("first_at").min(), pl.col("last_at").max())
    d = d.sort(*per_group, "first_at")
    span = pl.duration(days=days)
    same_prev = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in per_group])
    same_next = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in per_group])
    d = d.with_columns(
        pl.when(same_prev).then(pl.col("last_at").shift(1) + span).alias("prev_end"),
        pl.when(same_next).then(pl.col("first_at").shift(-1)).alias("next_first"),
    )
    starts = d.filter(pl.col("prev_end").is_null() | (pl.col("first_at") >= pl.col("prev_end"))).select(
        "wi", *keys, pl.col("first_at").alias("at"), pl.lit(1, pl.Int32).alias("delta"))
    ends = d.filter(pl.col("next_first").is_null() | (pl.col("next_first") >= pl.col("last_at") + span)
                    ).select("wi", *keys, (pl.col("last_at") + span).alias("at"),
                             pl.lit(-1, pl.Int32).alias("delta"))
    by = ["wi", *keys]
    return pl.concat([starts, ends]).group_by(*by, "at").agg(pl.col("delta").sum()).sort(*by, "at").select(
        *by, "at", pl.col("delta").cum_sum().over(by).alias("n"))


def reach_at(events: pl.DataFrame, targets: pl.DataFrame, level: str, name: str) -> pl.DataFrame:
    """Attach `name` = recent groups at each target's `cutoff` (strictly before it) by warehouse and key."""
    by = ["wi", *LEVELS[level]]
    left = targets.with_columns((pl.col("as_of") - pl.duration(microseconds=1)).alias("_t")).sort("_t")
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
    c = codes(groups, products)
    first, last = targets["as_of"].min(), targets["as_of"].max()
    longest = max(config.prod_days, config.cat_days, config.all_days)
    since = pl.lit(first).cast(TS) - pl.duration(days=longest)
    recent = orders.lazy().filter((pl.col("ordered_at") < pl.lit(last).cast(TS))
                                  & (pl.col("ordered_at") >= since))
    days_frame = order_days(recent, c)
    out = targets.with_columns(pl.col("category").fill_null("unknown").alias("_cat")).join(
        c.warehouses, on="warehouse_id", how="left").join(
        c.products.select("product_id", "pi"), on="product_id", how="left").join(
        c.categories.rename({"category": "_cat"}), on="_cat", how="left")
    for level, days in (("prod", config.prod_days), ("cat", config.cat_days), ("all", config.all_days)):
        out = reach_at(reach_events(days_frame, level, days), out, level, f"reach_{level}")
    return out.drop("wi", "pi", "ci", "_cat")
