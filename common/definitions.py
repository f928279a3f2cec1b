"""Set-based stages downstream of ingestion, each written once as DuckDB-dialect SQL.

Every definition reads the contract's relations by name (`orders`, `groups`, `campaigns`,
`products`, `posts`, `memberships`) as an engine registered them, and returns one SELECT. The
embedded default runs it in-process on DuckDB over the contract frames (`in_process`); the Spark
engine runs the same text transpiled by SQLGlot (pipelines/engine). Instants are literals in the
platform zone; both engines run with that zone as their session zone, so `CAST(ts AS DATE)` is the
platform day on either.

- pooling as of an instant (`pool_daily`; per campaign as of each of its states' instants,
  `pool_campaigns_at`, the live nowcast's state and the presale fit's training states alike): the
  contract's "placed by t and still paid at t", orders (and posts, `campaign_exposure_at`) pooled to
  the campaign's warehouse, else the group's;
- the forecasting panels' inputs: `history` (before an instant, as it stood then) and `actuals`
  (final paid quantity in a window), per product x warehouse x day (aggregation/daily.py);
- the signal's sources up to an instant (recsys/signal.py derives the signal at any day start up to
  it from these, so that a training's folds and label windows share one aggregation):
  `signal_days` (paid lines per group x product x day), `post_answers` (each post and the first
  paid line of its pair that answered it) and `member_lines` (paid lines of members of several
  groups, per member x group x product x day).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import duckdb
import polars as pl

from common.clock import PLATFORM_TZ, TS, TZ

FAR_FUTURE = datetime(2200, 1, 1, tzinfo=TZ)



class Runner(Protocol):
    """How the pure layers run a definition: its SQL, the name of its result's schema, and the small
    relations of this call (a campaign's instant, the campaigns asked for) beside the contract's."""

    def __call__(self, sql: str, schema: str, relations: Mapping[str, pl.DataFrame] | None = None
                 ) -> pl.DataFrame: ...


def ts(instant: datetime) -> str:
    """An instant as a DuckDB TIMESTAMPTZ literal (ISO with its offset; naive means platform time)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=TZ)
    return f"'{instant.isoformat()}'::TIMESTAMPTZ"


def valid_at(t: str, alias: str = "o") -> str:
    """Placed by `t` and still paid at `t` (cancelled / refunded only after it)."""
    return (f"{alias}.ordered_at <= {t} AND ({alias}.status = 'paid' OR "
            f"COALESCE({alias}.status_at, {alias}.ordered_at) > {t})")


def still_paid_at(orders: pl.LazyFrame | pl.DataFrame, t: datetime) -> pl.LazyFrame | pl.DataFrame:
    """`valid_at`'s "still paid at t" as a polars filter of order lines (any placing time): paid, or
    cancelled / refunded only after `t`. Orders without `status_at` (the column is optional) have
    their final status only."""
    paid = pl.col("status") == "paid"
    names = orders.collect_schema().names() if isinstance(orders, pl.LazyFrame) else orders.columns
    if "status_at" in names:
        paid = paid | (pl.coalesce("status_at", "ordered_at") > t)
    return orders.filter(paid)


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


def _day(instant: datetime) -> str:
    return f"DATE '{instant.astimezone(TZ).date().isoformat()}'"


def _paid_lines(until: datetime) -> str:
    """Lines placed before `until` and still paid at it (`valid_at`: a cancellation after `until` is
    not known then), of known groups and products. Not only of products launched by then: an order
    proves the product was on sale, whatever its `launched_on` says (an export that writes the day a
    product was listed, or migrated, lost every earlier order of it, and the picks of a whole
    catalogue, without a word)."""
    return f"""
    SELECT o.group_id, o.product_id, o.member_id, o.quantity, o.unit_price, o.ordered_at
    FROM orders AS o
    SEMI JOIN groups AS g ON o.group_id = g.group_id
    SEMI JOIN products AS p ON o.product_id = p.product_id
    WHERE o.ordered_at < {ts(until)} AND {valid_at(ts(until))}"""


def signal_days(until: datetime) -> str:
    """Per group x product x order day (platform zone): lines, distinct members, quantity and amount
    of the paid lines before `until`."""
    return f"""
    SELECT group_id, product_id, CAST(ordered_at AS DATE) AS day, count(*) AS lines,
        count(DISTINCT member_id) AS members, CAST(sum(quantity) AS BIGINT) AS qty,
        sum(quantity * unit_price) AS amount
    FROM ({_paid_lines(until)}) AS o
    GROUP BY 1, 2, 3"""


def post_answers(until: datetime, response_window_days: int = 3) -> str:
    """Per group x product x post instant before `until`: the posts then, and the first paid line of
    the pair (before `until`) in [posted_at, posted_at + the response window): the post's answer."""
    return f"""
    WITH p AS (
        SELECT group_id, product_id, posted_at, count(*) AS n
        FROM posts
        WHERE posted_at < {ts(until)} AND group_id IN (SELECT group_id FROM groups)
            AND product_id IN (SELECT product_id FROM products)
        GROUP BY 1, 2, 3)
    SELECT p.group_id, p.product_id, p.posted_at, CAST(p.n AS BIGINT) AS posts,
        min(o.ordered_at) AS answered_at
    FROM p LEFT JOIN ({_paid_lines(until)}) AS o
        ON o.group_id = p.group_id AND o.product_id = p.product_id AND o.ordered_at >= p.posted_at
        AND o.ordered_at < p.posted_at + INTERVAL {int(response_window_days)} DAY
    GROUP BY 1, 2, 3, 4"""


def member_lines(until: datetime) -> str:
    """Per member x group x product x order day: paid lines before `until` of the members who joined
    more than one known group by its day (the orders a group's members place in their other groups)."""
    return f"""
    WITH multi AS (
        SELECT member_id FROM memberships
        WHERE joined_on <= {_day(until)} AND group_id IN (SELECT group_id FROM groups)
        GROUP BY 1 HAVING count(*) > 1)
    SELECT o.member_id, o.group_id, o.product_id, CAST(o.ordered_at AS DATE) AS day, count(*) AS lines
    FROM ({_paid_lines(until)}) AS o SEMI JOIN multi AS m ON o.member_id = m.member_id
    GROUP BY 1, 2, 3, 4"""


def _pooled_to(alias: str = "o") -> str:
    """The joins that give an order line the warehouse it pools to: the campaign's, else the group's."""
    return f"""
    LEFT JOIN (SELECT group_id, warehouse_id FROM groups) AS g ON {alias}.group_id = g.group_id
    LEFT JOIN (SELECT campaign_id, warehouse_id FROM campaigns) AS c ON {alias}.campaign_id = c.campaign_id"""


def pool_campaigns_at(*, detail: bool = True) -> str:
    """Per campaign state (relation `instants`: campaign_id, j, instant; several states of a campaign
    are told apart by j) x warehouse its orders pool to, as of the state's instant: quantity and groups
    ordering; with `detail`, members ordering and the first and last order's time too."""
    more = (", count(DISTINCT o.member_id) AS members_ordering, min(o.ordered_at) AS first_order_at, "
            "max(o.ordered_at) AS last_order_at") if detail else ""
    return f"""
    SELECT o.campaign_id, COALESCE(c.warehouse_id, g.warehouse_id) AS warehouse_id, i.j,
        CAST(sum(o.quantity) AS BIGINT) AS ordered_qty, count(DISTINCT o.group_id) AS groups_ordering{more}
    FROM orders AS o
    JOIN instants AS i ON o.campaign_id = i.campaign_id{_pooled_to()}
    WHERE {valid_at("i.instant")}
    GROUP BY 1, 2, 3"""


def campaign_exposure_at() -> str:
    """Per campaign state (relation `instants`: campaign_id, j, instant) x warehouse its posts pool to
    (the campaign's, else the posting group's): the posts placed by the state's instant and the
    distinct groups posted."""
    return f"""
    SELECT p.campaign_id, COALESCE(c.warehouse_id, g.warehouse_id) AS warehouse_id, i.j,
        count(*) AS posts_at, count(DISTINCT p.group_id) AS post_groups_at
    FROM posts AS p
    JOIN instants AS i ON p.campaign_id = i.campaign_id{_pooled_to("p")}
    WHERE p.posted_at <= i.instant
    GROUP BY 1, 2, 3"""


def live_booking_curves(as_of: datetime) -> str:
    """Per campaign (relation `wanted`: campaign_id) x warehouse its orders pool to x hour: the
    quantity pooled as of `as_of` that was ordered by the end of that hour (cumulative)."""
    return f"""
    SELECT campaign_id, warehouse_id, "at",
        CAST(sum(qty) OVER (PARTITION BY campaign_id, warehouse_id ORDER BY "at") AS BIGINT) AS cum_qty
    FROM (
        SELECT o.campaign_id, COALESCE(c.warehouse_id, g.warehouse_id) AS warehouse_id,
            date_trunc('hour', o.ordered_at) AS "at", sum(o.quantity) AS qty
        FROM orders AS o
        SEMI JOIN wanted AS w ON o.campaign_id = w.campaign_id{_pooled_to()}
        WHERE {valid_at(ts(as_of))}
        GROUP BY 1, 2, 3) AS hourly"""


_S, _I, _F, _D = pl.String(), pl.Int64(), pl.Float64(), pl.Date()
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "daily": {"product_id": _S, "warehouse_id": _S, "day": _D, "qty": _I},
    "signal_days": {"group_id": _S, "product_id": _S, "day": _D, "lines": _I, "members": _I, "qty": _I,
                    "amount": _F},
    "post_answers": {"group_id": _S, "product_id": _S, "posted_at": TS, "posts": _I, "answered_at": TS},
    "member_lines": {"member_id": _S, "group_id": _S, "product_id": _S, "day": _D, "lines": _I},
    "campaign_pool": {"campaign_id": _S, "warehouse_id": _S, "j": _I, "ordered_qty": _I,
                      "groups_ordering": _I, "members_ordering": _I, "first_order_at": TS,
                      "last_order_at": TS},
    "campaign_totals": {"campaign_id": _S, "warehouse_id": _S, "j": _I, "ordered_qty": _I,
                        "groups_ordering": _I},
    "campaign_exposure": {"campaign_id": _S, "warehouse_id": _S, "j": _I, "posts_at": _I,
                          "post_groups_at": _I},
    "live_curves": {"campaign_id": _S, "warehouse_id": _S, "at": TS, "cum_qty": _I},
}
# what each definition reads: the relations an in-process run registers
READS: dict[str, tuple[str, ...]] = {
    "daily": ("orders", "groups", "campaigns"),
    "signal_days": ("orders", "groups", "products"),
    "post_answers": ("orders", "groups", "products", "posts"),
    "member_lines": ("orders", "groups", "products", "memberships"),
    "campaign_pool": ("orders", "groups", "campaigns"),
    "campaign_totals": ("orders", "groups", "campaigns"),
    "campaign_exposure": ("posts", "groups", "campaigns"),
    "live_curves": ("orders", "groups", "campaigns"),
}



def reads(*schemas: str) -> list[str]:
    """The contract tables the definitions named by `schemas` read (an engine exports these)."""
    return list(dict.fromkeys(t for name in schemas for t in READS[name]))


SIGNAL_TABLES = reads("signal_days", "post_answers", "member_lines")  # a training's aggregation
DEMAND_TABLES = reads("campaign_totals", "campaign_pool", "campaign_exposure", "daily")  # the forecast's

_KEYS = ("campaign_id", "group_id", "product_id", "warehouse_id", "j", "member_id", "day", "posted_at", "at")


def typed(frame: pl.DataFrame, schema: str) -> pl.DataFrame:
    """A definition's result with the schema named, rows sorted by its keys (either engine's)."""
    types = SCHEMAS[schema]
    if frame.height == 0:
        return pl.DataFrame(schema=types)
    out = frame.select([pl.col(c).cast(t) for c, t in types.items()])
    out = out.with_columns(pl.col(c).dt.convert_time_zone(PLATFORM_TZ) for c, t in types.items() if t == TS)
    return out.sort([c for c in types if c in _KEYS])


def in_process(frames: Mapping[str, pl.DataFrame | None]) -> Runner:
    """Run definitions on an in-memory DuckDB over the contract frames (the embedded default): the
    frames are handed to DuckDB as Arrow (not copied), one connection per call."""

    def run(sql: str, schema: str, relations: Mapping[str, pl.DataFrame] | None = None) -> pl.DataFrame:
        con = duckdb.connect()
        try:
            con.execute(f"SET TimeZone = '{PLATFORM_TZ}'")
            for name in READS[schema]:
                con.register(name, _relation(frames, name))
            for name, frame in (relations or {}).items():
                con.register(name, frame.to_arrow())
            return typed(con.execute(sql).pl(), schema)
        finally:
            con.close()

    return run


_EMPTY = {
    "campaigns": {"campaign_id": pl.String, "warehouse_id": pl.String},
    "posts": {"group_id": pl.String, "product_id": pl.String, "campaign_id": pl.String, "posted_at": TS},
    "memberships": {"member_id": pl.String, "group_id": pl.String, "joined_on": pl.Date},
}


def _relation(frames: Mapping[str, pl.DataFrame | None], name: str):
    """A contract frame as Arrow; an optional table that is absent is an empty one, an optional
    column that is absent a null one."""
    frame = frames.get(name)
    if frame is None:
        frame = pl.DataFrame(schema=_EMPTY[name])
    if name == "orders" and "status_at" not in frame.columns:  # optional: a status never changed
        frame = frame.with_columns(pl.lit(None, TS).alias("status_at"))
    return frame.to_arrow()
