"""Daily demand inputs from contract frames: the pooled history, campaign plans, horizon actuals.

The series is product × warehouse × order day (platform zone). Campaign plans (which products are
on sale in which warehouse on which day) are known ahead and may be read for future days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from aggregation.pooling import TS, TZ, pool_daily
from aggregation.timeseries import Panel, build_panel

FAR_FUTURE = datetime(2200, 1, 1)


def history(frames: dict[str, pl.DataFrame], instant: datetime) -> pl.DataFrame:
    """Daily quantity before `instant`, as it stood at `instant` (product_id, warehouse_id, day, qty)."""
    orders = frames["orders"].filter(pl.col("ordered_at") < pl.lit(instant).cast(TS))
    return pool_daily(orders, frames["groups"], frames.get("campaigns"), instant)


def actuals(frames: dict[str, pl.DataFrame], start: datetime, days: int) -> pl.DataFrame:
    """Paid quantity (final status) ordered in [start, start + days), per product × warehouse × day."""
    t0, t1 = pl.lit(start).cast(TS), pl.lit(start + timedelta(days=days)).cast(TS)
    orders = frames["orders"].filter((pl.col("ordered_at") >= t0) & (pl.col("ordered_at") < t1))
    far = FAR_FUTURE.replace(tzinfo=start.tzinfo)
    return pool_daily(orders, frames["groups"], frames.get("campaigns"), far)


def campaign_days(campaigns: pl.DataFrame | None, groups: pl.DataFrame) -> pl.DataFrame:
    """product_id, warehouse_id, day, n_open: campaigns open on each day (null warehouse = all)."""
    schema = {"product_id": pl.String, "warehouse_id": pl.String, "day": pl.Date, "n_open": pl.Int64}
    if campaigns is None or campaigns.height == 0:
        return pl.DataFrame(schema=schema)
    local = lambda c: pl.col(c).dt.convert_time_zone(TZ).dt.date()  # noqa: E731
    days = campaigns.select(
        "product_id", "warehouse_id",
        pl.date_ranges(local("opens_at"), local("closes_at"), interval="1d").alias("day"),
    ).explode("day", empty_as_null=True)
    warehouses = groups.select("warehouse_id").unique().drop_nulls()
    fixed = days.filter(pl.col("warehouse_id").is_not_null())
    everywhere = days.filter(pl.col("warehouse_id").is_null()).drop("warehouse_id").join(
        warehouses, how="cross")
    both = pl.concat([fixed, everywhere.select(fixed.columns)])
    return both.group_by("product_id", "warehouse_id", "day").agg(pl.len().cast(pl.Int64).alias("n_open"))


def daily_panel(frames: dict[str, pl.DataFrame], origin: date, horizon: int, lookback_days: int = 182
                ) -> tuple[Panel, int]:
    """The dense panel for forecasting from `origin` (00:00 platform zone) and the origin's index."""
    from zoneinfo import ZoneInfo

    instant = datetime.combine(origin, datetime.min.time(), tzinfo=ZoneInfo(TZ))
    hist = history(frames, instant)
    first = hist["day"].min() if hist.height else origin - timedelta(days=lookback_days)
    start = max(first, origin - timedelta(days=lookback_days))
    plans = campaign_days(frames.get("campaigns"), frames["groups"])
    planned = plans.filter((pl.col("day") >= origin) & (pl.col("day") < origin + timedelta(days=horizon)))
    panel = build_panel(hist, frames["products"], start=start, end=origin, open_days=plans,
                        future_days=horizon, extra_series=planned)
    return panel, panel.day_index(origin)
