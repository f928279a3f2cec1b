"""The platform's clock: one zone, one day start, one way to read an instant's platform day.

The platform runs on China Standard Time: a "day" (a pick list's day, `evaluate --as-of`, the nightly's
`--date`) starts at 00:00 Asia/Shanghai, and every contract timestamp is stored in that zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import polars as pl

PLATFORM_TZ = "Asia/Shanghai"
TZ = ZoneInfo(PLATFORM_TZ)
TS = pl.Datetime("us", PLATFORM_TZ)  # the contract's timestamp type
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_DAY = re.compile(DAY_PATTERN)


def parse_iso_day(text: str) -> date:
    """A day written exactly YYYY-MM-DD (what DESIGN's interfaces take); ValueError otherwise.

    Not `date.fromisoformat` alone: since Python 3.11 it also reads 20261129 and 2026-W48-7, which
    the API refuses, so a script would get a date on the CLI that the service rejects."""
    if not _DAY.match(text):
        raise ValueError(f"expected a date as YYYY-MM-DD; got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:  # 2026-02-30: the right shape, no such day; say that, not "expected the shape"
        raise ValueError(f"{text!r} is not a day of the calendar ({exc})") from None


def day_start(day: date) -> datetime:
    """00:00 of `day` in the platform's zone: the as-of instant of a day."""
    return datetime.combine(day, time(0), tzinfo=TZ)


def platform_day(instant: pl.Expr) -> pl.Expr:
    """The platform day of a timestamp column (any zone; a naive one is read as platform time)."""
    return instant.dt.convert_time_zone(PLATFORM_TZ).dt.date()


def platform_today(now: datetime | None = None) -> date:
    """Today on the platform (now, or the instant given)."""
    return (now or datetime.now(TZ)).astimezone(TZ).date()


def platform_time(at: datetime | None) -> str | None:
    """An instant as people read it (`experiment list`, `keys list`): ISO 8601 to the second in the
    platform's zone (+08:00); None for None."""
    return at.astimezone(TZ).isoformat(timespec="seconds") if at else None
