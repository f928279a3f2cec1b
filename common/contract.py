"""The raw data contract (DESIGN.md, "Data contract") as data: tables, columns, keys, rules.

Every part that reads or writes raw tables (generator, importers, ingestion, tests) takes the
names, types and rules from here, so there is one place to change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from common.clock import PLATFORM_TZ

Kind = Literal["str", "int", "float", "bool", "date", "timestamp"]

POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", PLATFORM_TZ),
}

DUCKDB_TYPES: dict[str, str] = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    allowed: tuple[str, ...] | None = None  # accepted values, for enumerations


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    target: str
    optional: bool = False  # null allowed (e.g. orders.campaign_id)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: POLARS_TYPES[c.kind] for c in self.columns}


ORDER_STATUSES = ("paid", "cancelled", "refunded")
FEEDBACK_ACTIONS = ("skip", "posted", "not_interested")
GROUP_KINDS = ("hot_items", "deals", "training", "other")
SHOPKEEPER_TIERS = ("a", "b", "c")
CATEGORIES = ("fresh", "snacks", "household", "baby", "beauty", "health")
# a campaign opening within this many days of an instant is upcoming (DESIGN: "an open or upcoming
# campaign"): the demand table forecasts it, the ranker reads when it opens (upcoming_until)
UPCOMING_DAYS = 2

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "suppliers",
            (Column("supplier_id", "str"), Column("name", "str")),
            key=("supplier_id",),
        ),
        Table(
            "products",
            (
                Column("product_id", "str"),
                Column("supplier_id", "str"),
                Column("name", "str"),
                Column("category", "str"),
                Column("subcategory", "str", required=False),
                Column("brand", "str", required=False),
                Column("price", "float"),
                Column("cost", "float", required=False),
                Column("is_standard", "bool"),
                Column("launched_on", "date"),
            ),
            key=("product_id",),
            foreign_keys=(ForeignKey("supplier_id", "suppliers", "supplier_id"),),
        ),
        Table(
            "shopkeepers",
            (
                Column("shopkeeper_id", "str"),
                Column("joined_on", "date"),
                Column("tier", "str", required=False, allowed=SHOPKEEPER_TIERS),
                Column("invited_by", "str", required=False),
            ),
            key=("shopkeeper_id",),
            required=False,
            foreign_keys=(
                ForeignKey("invited_by", "shopkeepers", "shopkeeper_id", optional=True),
            ),
        ),
        Table(
            "groups",
            (
                Column("group_id", "str"),
                Column("shopkeeper_id", "str"),
                Column("city", "str"),
                Column("warehouse_id", "str"),
                Column("kind", "str", required=False, allowed=GROUP_KINDS),
                Column("created_on", "date"),
                # what the shopkeeper calls the group ("杭州西湖宝妈团"); pages show the id without it.
                # Last, so that a warehouse created before it gains it at the end (create_tables).
                Column("name", "str", required=False),
            ),
            key=("group_id",),
            # checked only when a shopkeepers table exists
            foreign_keys=(ForeignKey("shopkeeper_id", "shopkeepers", "shopkeeper_id"),),
        ),
        Table(
            "memberships",
            (
                Column("member_id", "str"),
                Column("group_id", "str"),
                Column("joined_on", "date"),
                Column("left_on", "date", required=False),
            ),
            key=("member_id", "group_id"),
            foreign_keys=(ForeignKey("group_id", "groups", "group_id"),),
        ),
        Table(
            "campaigns",
            (
                Column("campaign_id", "str"),
                Column("product_id", "str"),
                Column("price", "float"),
                Column("opens_at", "timestamp"),
                Column("closes_at", "timestamp"),
                Column("delivery_on", "date"),
                Column("warehouse_id", "str", required=False),
                Column("max_qty", "int", required=False),
            ),
            key=("campaign_id",),
            required=False,
            foreign_keys=(ForeignKey("product_id", "products", "product_id"),),
        ),
        Table(
            "posts",
            (
                Column("post_id", "str"),
                Column("group_id", "str"),
                Column("product_id", "str"),
                Column("campaign_id", "str", required=False),
                Column("posted_at", "timestamp"),
            ),
            key=("post_id",),
            required=False,
            foreign_keys=(
                ForeignKey("group_id", "groups", "group_id"),
                ForeignKey("product_id", "products", "product_id"),
                ForeignKey("campaign_id", "campaigns", "campaign_id", optional=True),
            ),
        ),
        Table(
            "orders",
            (
                Column("order_id", "str"),
                Column("member_id", "str"),
                Column("group_id", "str"),
                Column("product_id", "str"),
                Column("campaign_id", "str", required=False),
                Column("quantity", "int"),
                Column("unit_price", "float"),
                Column("ordered_at", "timestamp"),
                Column("status", "str", allowed=ORDER_STATUSES),
                # when the status was last set; defaults to ordered_at. A later file may carry
                # the same order_id with status paid -> cancelled/refunded and a later status_at:
                # that is an update, not a conflict.
                Column("status_at", "timestamp", required=False),
            ),
            key=("order_id",),
            foreign_keys=(
                ForeignKey("group_id", "groups", "group_id"),
                ForeignKey("product_id", "products", "product_id"),
                ForeignKey("campaign_id", "campaigns", "campaign_id", optional=True),
            ),
        ),
        Table(
            "feedback",
            (
                Column("feedback_id", "str", required=False),  # idempotency key from the API
                Column("group_id", "str"),
                Column("product_id", "str"),
                Column("action", "str", allowed=FEEDBACK_ACTIONS),
                Column("at", "timestamp"),
            ),
            key=("group_id", "product_id", "action", "at"),
            required=False,
            foreign_keys=(
                ForeignKey("group_id", "groups", "group_id"),
                ForeignKey("product_id", "products", "product_id"),
            ),
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required)
# load order: parents before children, so foreign keys can be checked against what is loaded
LOAD_ORDER = (
    "suppliers",
    "products",
    "shopkeepers",
    "groups",
    "memberships",
    "campaigns",
    "posts",
    "orders",
    "feedback",
)

# Quarantine rules: name -> what it means. Ingestion writes these names to `quarantine.rule`;
# the generator's --dirty plants rows for each and lists them in _truth/dirty_rows.csv.
RULES: dict[str, str] = {
    "null_required": "a required field is empty",
    "bad_type": "a value cannot be read as the column's type",
    "bad_value": ("a value is outside the column's accepted set (status, action, kind, tier), a date outside "
                  "the years 2000-2100, an order line above 1,000,000 units, or an id a spreadsheet turned "
                  "into a number (1.23E+11), or a membership left before it was joined"),
    "non_positive_quantity": "quantity must be an integer > 0",
    "negative_price": "a price must be >= 0",
    "unknown_foreign_key": "an id refers to a row that does not exist (product, group, ...)",
    "future_timestamp": "a timestamp lies after the run's date",
    "closes_before_opens": "a campaign's closes_at is not after its opens_at",
    "duplicate_id_conflict": "an id seen before with different content",
    "ordered_outside_campaign": "an order with a campaign was placed outside that window",
}

QUARANTINE_COLUMNS = ("table_name", "source_file", "row_number", "rule", "detail", "raw")


def upcoming_until(instant: datetime, days: int = UPCOMING_DAYS) -> datetime:
    """The last opening instant of a campaign that is upcoming at `instant`: one rule for the demand
    table's lookahead and the ranker's `opens_in`. The contract has no announcement time, so a campaign
    in the table is taken as known this far ahead of its opening, and no further."""
    return instant + timedelta(days=days)


def serving_warehouses(frame: pl.DataFrame, warehouses: pl.DataFrame, column: str = "warehouse_id"
                       ) -> pl.DataFrame:
    """The contract's rule for campaigns: one without a warehouse (`column` null) serves every
    warehouse. Rows with a warehouse stay as they are; each row without one is repeated once per
    warehouse of `warehouses` (a frame with a `warehouse_id` column, nulls ignored), in `column`."""
    fixed = frame.filter(pl.col(column).is_not_null())
    wh = warehouses.select(pl.col("warehouse_id").alias(column)).drop_nulls().unique()
    everywhere = frame.filter(pl.col(column).is_null()).drop(column).join(wh, how="cross")
    return pl.concat([fixed, everywhere.select(fixed.columns)], how="vertical")


def sample_frames(frames: dict[str, pl.DataFrame], table: str, key: str, at_most: int, seed: int
                  ) -> dict[str, pl.DataFrame]:
    """The frames of at most `at_most` rows of `table` (its `key`s sampled with `seed`; all when
    fewer): every table with a `key` column keeps its rows of the sample, the rest is shared."""
    ids = frames[table][key]
    if ids.len() <= at_most:
        return frames
    keep = ids.sample(at_most, seed=seed).to_frame()
    return {name: frame.join(keep, on=key, how="semi") if key in frame.columns else frame
            for name, frame in frames.items()}
