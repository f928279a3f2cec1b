"""The platform's clock: one zone, one day start, one way to read an instant's platform day.

The platform runs on China Standard Time: a "day" (a pick list's day, `evaluate --as-of`, the nightly's
`--date`) starts at 00:00 Asia/Shanghai, and every contract timestamp is stored in that zone.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import polars as pl

PLATFORM_TZ = "Asia/Shanghai"
TZ = ZoneInfo(PLATFORM_TZ)
TS = pl.Datetime("us", PLATFORM_TZ)  # the contract's timestamp type


def day_start(day: date) -> datetime:
    """00:00 of `day` in the platform's zone: the as-of instant of a day."""
    return datetime.combine(day, time(0), tzinfo=TZ)


def platform_day(instant: pl.Expr) -> pl.Expr:
    """The platform day of a timestamp column (any zone; a naive one is read as platform time)."""
    return instant.dt.convert_time_zone(PLATFORM_TZ).dt.date()


def platform_today(now: datetime | None = None) -> date:
    """Today on the platform (now, or the instant given)."""
    return (now or datetime.now(TZ)).astimezone(TZ).date()
