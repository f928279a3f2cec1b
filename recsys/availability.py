"""What is on sale: one definition for the ranker's `on_sale` feature and the pick rules.

On the as-of day a group can buy an item when a campaign for its warehouse (or for every warehouse)
is open or opens that day, has not closed and is not sold out by the as-of instant (paid quantity before
the as-of instant below `max_qty`); where several do, the one that stays open longest. Without campaign
data (Online Retail): what sold anywhere in the last RECENT_DAYS.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from common.contract import UPCOMING_DAYS, serving_warehouses, upcoming_until
from recsys.signal import Signal, day_start, paid_orders

RECENT_DAYS = 21  # without campaign data: available = sold in the last N days


def has_campaigns(frames: dict[str, pl.DataFrame]) -> bool:
    c = frames.get("campaigns")
    return c is not None and c.height > 0


def on_sale_offers(frames: dict[str, pl.DataFrame], signal: Signal) -> pl.DataFrame:
    """Per warehouse and item, the campaign on sale on the as-of day (not sold out by then)."""
    sold = (
        frames["orders"]
        .lazy()
        .pipe(paid_orders, signal.as_of, known_at=signal.as_of)
        .group_by("campaign_id")
        .agg(sold_qty=pl.col("quantity").sum())
        .collect()
    )
    return available_offers(frames["campaigns"], signal, sold)


def recently_sold(signal: Signal, days: int = RECENT_DAYS) -> pl.DataFrame:
    """(i) sold anywhere in the last `days` before the as-of instant: the available set without campaigns."""
    return signal.daily.filter(pl.col("age") <= days).select("i").unique()


def on_sale_items(frames: dict[str, pl.DataFrame], signal: Signal, days: int = RECENT_DAYS) -> pl.DataFrame:
    """What is on sale on the as-of day: (warehouse_id, i) with a null warehouse for every
    warehouse; without campaign data, (i) recently sold."""
    if not has_campaigns(frames):
        return recently_sold(signal, days)
    return on_sale_offers(frames, signal).select("warehouse_id", "i")


def upcoming_items(frames: dict[str, pl.DataFrame], signal: Signal, days: int = UPCOMING_DAYS
                   ) -> pl.DataFrame:
    """Campaigns upcoming at the as-of instant (00:00 of the as-of day) and not opening that day (those
    are on sale: on_sale_items), by the demand table's rule (common.contract.upcoming_until), per
    warehouse (null = every warehouse) and item: warehouse_id, i, opens_in (whole days from the as-of
    day's start to the earliest opening: 1 = tomorrow). Empty without campaign data."""
    schema = {"warehouse_id": pl.String, "i": pl.Int64, "opens_in": pl.Int32}
    if not has_campaigns(frames) or days < 1:
        return pl.DataFrame(schema=schema)
    start = day_start(signal.as_of_day)
    first, last = start + timedelta(days=1), upcoming_until(start, days)
    c = frames["campaigns"].filter((pl.col("opens_at") >= first) & (pl.col("opens_at") <= last))
    c = signal.items.encode_column(c, "product_id", "i").filter(pl.col("i").is_not_null())
    days_after = ((pl.col("opens_at") - pl.lit(start)).dt.total_seconds() // 86_400).cast(pl.Int32)
    return (c.group_by("warehouse_id", "i").agg(opens_in=days_after.min())
            .select(pl.col("warehouse_id").cast(pl.String), pl.col("i").cast(pl.Int64), "opens_in"))


def campaigns_open_on(campaigns: pl.DataFrame, day) -> pl.DataFrame:
    """The campaigns whose window meets the platform day `day`: open, or opening that day, and not
    closed by its start (sold-out or not)."""
    start = day_start(day)
    return campaigns.filter((pl.col("opens_at") < start + timedelta(days=1)) & (pl.col("closes_at") > start))


def available_campaigns(
    campaigns: pl.DataFrame, signal: Signal, sold: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Campaigns on sale on the as-of day (open, or opening that day; not closed; not sold out):
    campaign_id, i, warehouse_id (null = every warehouse), closes_at."""
    c = campaigns_open_on(campaigns, signal.as_of_day)
    if sold is not None and sold.height:
        c = c.join(sold, on="campaign_id", how="left").filter(
            pl.col("max_qty").is_null() | (pl.col("sold_qty").fill_null(0) < pl.col("max_qty"))
        )
    c = signal.items.encode_column(c, "product_id", "i").filter(pl.col("i").is_not_null())
    return c.select("campaign_id", "i", "warehouse_id", "closes_at", "opens_at")


def _longest_open(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per `keys`, the campaign that stays open longest (ties: the smaller campaign id)."""
    return frame.sort(["closes_at", "campaign_id"], descending=[True, False]).unique(
        keys, keep="first", maintain_order=True
    )


def available_offers(
    campaigns: pl.DataFrame, signal: Signal, sold: pl.DataFrame | None = None
) -> pl.DataFrame:
    """What is on sale on the as-of day, per warehouse (null = every warehouse) and item: the
    campaign that stays open longest. Small (warehouses x items), whatever the number of groups."""
    c = available_campaigns(campaigns, signal, sold)
    return _longest_open(c, ["warehouse_id", "i"]).select("warehouse_id", "i", "campaign_id", "closes_at")


def offers_for_groups(offers: pl.DataFrame, signal: Signal, g_rows: np.ndarray) -> pl.DataFrame:
    """(g, i, campaign_id) on sale for each of `g_rows` in its warehouse: one campaign per pair."""
    wanted = pl.DataFrame({"g": pl.Series(g_rows, dtype=pl.Int64)})
    gw = signal.group_meta.select("g", "warehouse_id").join(wanted, on="g", how="semi")
    # a group is served by its one warehouse: the longest-open campaign per (warehouse, item) is the
    # group's, chosen on the warehouses' few rows before they are copied to every group
    served = serving_warehouses(offers, gw).select("warehouse_id", "i", "campaign_id", "closes_at")
    per_warehouse = _longest_open(served, ["warehouse_id", "i"])
    return per_warehouse.join(gw, on="warehouse_id").select("g", "i", "campaign_id")
