"""The platform's day for the API: which calendar day (Asia/Shanghai) an instant belongs to.

Every date the service shows or matches (as-of dates of demand rows, download file names, the
day of a feedback line, "today" on the pages) is the platform's day, never the UTC date: a run
as of 2026-11-29 00:00+08:00 is the 29th, although it is still the 28th in UTC. This is the
inverse of `pipelines.warehouse.day_start` (a day -> its 00:00 in the platform's zone).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from api.errors import Invalid, clip
from common.clock import PLATFORM_TZ, TZ, parse_iso_day


def platform_now() -> datetime:
    return datetime.now(TZ)


def platform_today() -> date:
    return platform_now().date()


def platform_day(value: datetime | date) -> date:
    """The platform's day of a datetime (a naive one is taken to be platform time); a date as is."""
    if isinstance(value, datetime):
        return (value.astimezone(TZ) if value.tzinfo else value).date()
    return value


def platform_day_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """Polars: the platform's day of a Date / Datetime column (a naive Datetime is platform time).

    Not `cast(pl.Date)`: on a zoned Datetime that gives the UTC date, one day early before 08:00.
    """
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return (col.dt.convert_time_zone(PLATFORM_TZ) if dtype.time_zone else col).dt.date()
    if dtype == pl.Date:
        return col
    return col.cast(pl.Date)


def parse_day_param(raw: str | None, where: str) -> date | None:
    """A query parameter that must be exactly YYYY-MM-DD (not 20261129, not 2026-W48-7), or 422."""
    if raw is None:
        return None
    try:
        return parse_iso_day(raw)
    except ValueError as exc:  # a value longer than a day is never one: echoed clipped
        said = exc if len(raw) <= len("YYYY-MM-DD") else f"expected a date as YYYY-MM-DD; got {clip(raw)!r}"
        raise Invalid(f"{where}: {said}", code="invalid_request") from None
