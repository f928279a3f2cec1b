"""Set-based stages downstream of ingestion, each written once as DuckDB-dialect SQL.

Every definition reads the contract's relations by name (`orders`, `groups`, `campaigns`,
`products`, `posts`) as an engine registered them, and returns one SELECT; `run` executes it on an
engine and returns a polars frame with the contract's types. Instants are literals in the platform
zone; both engines run with that zone as their session zone, so `CAST(ts AS DATE)` is the platform
day on either.

- pooling as of an instant (`pool_daily`): the contract's "placed by t and still paid at t"
  (aggregation/pooling.valid_at), orders pooled to the campaign's warehouse, else the group's;
- the forecasting panels' inputs: `history` (before an instant, as it stood then) and `actuals`
  (final paid quantity in a window), per product x warehouse x day (aggregation/daily.py);
- the signal's aggregates at an as-of instant (`signal_daily`, `signal_exposures`): paid lines before the
  as-of instant per group x product x day (recsys/signal.py `_daily`) and posts with their responses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from common.clock import TZ
from pipelines.engine.base import Engine

FAR_FUTURE = datetime(2200, 1, 1, tzinfo=TZ)


def ts(instant: datetime) -> str:
    """An instant as a DuckDB TIMESTAMPTZ literal (ISO with its offset; naive means platform time)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=TZ)
    return f"'{instant.isoformat()}'::TIMESTAMPTZ"


def valid_at(t: str, alias: str = "o") -> str:
    """Placed by `t` and still paid at `t` (cancelled / refunded only after it)."""
    return (f"{alias}.ordered_at <= {t} AND ({alias}.status = 'paid' OR "
            f"COALESCE({alias}.status_at, {alias}.ordered_at) > {t})")


def _pooled(where: str) -> str:
    return f"""
    SELECT o.product_id, COALESCE(c.warehouse_id, g.warehouse_id) AS warehouse_id,
        CAST(o.ordered_at AS DATE) AS day, CAST(sum(o.quantity) AS BIGINT) AS qty
    FROM orders AS o
    LEFT JOIN (SELECT group_id, warehouse_id FROM groups) AS g ON o.group_id = g.group_id
    LEFT JOIN (SELECT campaign_id, warehouse_id FROM campaigns) AS c ON o.campaign_id = c.campaign_id
    WHERE {where}
    GROUP BY 1, 2, 3"""


def pool_daily(instant: datetime, *, without_campaign_only: bool = False) -> str:
    """Quantity per product x warehouse x order day (platform zone), as of `instant`."""
    where = valid_at(ts(instant))
    if without_campaign_only:
        where += " AND o.campaign_id IS NULL"
    return _pooled(where)


def history(instant: datetime) -> str:
    """Daily quantity before `instant`, as it stood at `instant`."""
    return _pooled(f"o.ordered_at < {ts(instant)} AND {valid_at(ts(instant))}")


def actuals(start: datetime, days: int) -> str:
    """Paid quantity (final status) ordered in [start, start + days)."""
    t0, t1 = ts(start), ts(start + timedelta(days=days))
    return _pooled(f"o.ordered_at >= {t0} AND o.ordered_at < {t1} AND {valid_at(ts(FAR_FUTURE))}")


def _paid_lines(as_of: datetime, history_days: int | None) -> str:
    """Paid lines before `as_of` of known groups and of products launched by the as_of's day."""
    since = f" AND o.ordered_at >= {ts(as_of - timedelta(days=history_days))}" if history_days else ""
    day = as_of.astimezone(TZ).date().isoformat()
    return f"""
    SELECT o.group_id, o.product_id, o.member_id, o.quantity, o.unit_price, o.ordered_at
    FROM orders AS o
    SEMI JOIN groups AS g ON o.group_id = g.group_id
    SEMI JOIN (SELECT product_id FROM products WHERE launched_on <= DATE '{day}') AS p
        ON o.product_id = p.product_id
    WHERE o.status = 'paid' AND o.ordered_at < {ts(as_of)}{since}"""


def signal_daily(as_of: datetime, history_days: int | None = None) -> str:
    """Per group x product x age (whole platform days before the as_of's day): lines, distinct
    members, quantity and amount of paid lines before `as_of`."""
    day = as_of.astimezone(TZ).date().isoformat()
    return f"""
    SELECT group_id, product_id, date_diff('day', CAST(ordered_at AS DATE), DATE '{day}') AS age,
        count(*) AS lines, count(DISTINCT member_id) AS members, CAST(sum(quantity) AS BIGINT) AS qty,
        sum(quantity * unit_price) AS amount
    FROM ({_paid_lines(as_of, history_days)}) AS o
    GROUP BY 1, 2, 3"""


def signal_exposures(as_of: datetime, response_window_days: int = 3, history_days: int | None = None
                     ) -> str:
    """Per group x product: posts before `as_of`, those answered by a paid line of the pair within
    the response window, the youngest post's age in days and posts in the last 14 days."""
    t = ts(as_of)
    day = as_of.astimezone(TZ).date().isoformat()
    return f"""
    WITH p AS (
        SELECT group_id, product_id, posted_at, count(*) AS n
        FROM posts
        WHERE posted_at < {t} AND group_id IN (SELECT group_id FROM groups)
            AND product_id IN (SELECT product_id FROM products WHERE launched_on <= DATE '{day}')
        GROUP BY 1, 2, 3),
    answered AS (
        SELECT p.group_id, p.product_id, p.posted_at
        FROM p SEMI JOIN ({_paid_lines(as_of, history_days)}) AS o
            ON o.group_id = p.group_id AND o.product_id = p.product_id AND o.ordered_at >= p.posted_at
            AND o.ordered_at < p.posted_at + INTERVAL {int(response_window_days)} DAY),
    aged AS (
        SELECT p.*, a.posted_at IS NOT NULL AS hit,
            CAST(date_diff('second', p.posted_at, {t}) AS DOUBLE) / 86400 AS age
        FROM p LEFT JOIN answered AS a
            ON a.group_id = p.group_id AND a.product_id = p.product_id AND a.posted_at = p.posted_at)
    SELECT group_id, product_id, CAST(sum(n) AS BIGINT) AS posts,
        CAST(sum(CASE WHEN hit THEN n ELSE 0 END) AS BIGINT) AS responded, min(age) AS last_post_age,
        CAST(sum(CASE WHEN age <= 14 THEN n ELSE 0 END) AS BIGINT) AS posts_recent
    FROM aged
    GROUP BY 1, 2"""


SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "daily": {"product_id": pl.String(), "warehouse_id": pl.String(), "day": pl.Date(), "qty": pl.Int64()},
    "signal_daily": {"group_id": pl.String(), "product_id": pl.String(), "age": pl.Int64(),
                     "lines": pl.Int64(), "members": pl.Int64(), "qty": pl.Int64(), "amount": pl.Float64()},
    "signal_exposures": {"group_id": pl.String(), "product_id": pl.String(), "posts": pl.Int64(),
                         "responded": pl.Int64(), "last_post_age": pl.Float64(), "posts_recent": pl.Int64()},
}


def run(engine: Engine, sql: str, schema: str) -> pl.DataFrame:
    """One definition's result as a polars frame with the schema named, rows sorted by its keys."""
    types = SCHEMAS[schema]
    frame = engine.frame(sql)
    if frame.height == 0:
        return pl.DataFrame(schema=types)
    keys = [c for c, t in types.items() if t in (pl.String(), pl.Date()) or c == "age"]
    return frame.select([pl.col(c).cast(t) for c, t in types.items()]).sort(keys)


def register_frames(engine: Engine, frames: dict[str, pl.DataFrame]) -> None:
    """Make the contract frames (as `pipelines.warehouse.load_frames` reads them) relations of `engine`."""
    for name, frame in frames.items():
        engine.register(name, frame)
