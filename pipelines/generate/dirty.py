"""`--dirty`: plant a known number of bad rows of every quarantine rule, plus exact duplicates.

Each table gets `<table>/part-dirty.csv` (all columns as text): bad rows, exact copies of clean
rows and a few good rows moved out of the clean part. Every bad row breaks exactly ONE rule of
`common.contract.RULES` (it gets a fresh id, so nothing else refers to it), and is listed in
`_truth/dirty_rows.csv` with its 1-based row number in that file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from common.contract import RULES, TABLES
from pipelines.generate.writer import Ids, TableSource, to_text, ts

DIRTY_FILE = "part-dirty.csv"
ID_KIND = {"suppliers": "supplier", "products": "product", "shopkeepers": "shopkeeper", "groups": "group",
           "memberships": "member", "campaigns": "campaign", "posts": "post", "orders": "order",
           "feedback": "feedback"}


@dataclass
class DirtyPart:
    table: str
    frame: pl.DataFrame  # text columns, contract order, rows already shuffled
    truth: pl.DataFrame  # table, source_file, row_number, rule
    duplicates: int
    moved: int  # good rows taken from the end of the clean part


@dataclass
class Context:
    """What a mutation needs: fresh ids and the windows of the campaigns of order rows."""

    ids: Ids
    counts: dict[str, int]
    order_opens_at: Callable[[np.ndarray], np.ndarray]
    n: int = 0

    def fresh(self, kind: str, k: int) -> list[str]:
        """k ids of `kind` never used by the world."""
        start = self.counts[kind] + self.n
        self.n += k
        return [self.ids.text(kind, start + j) for j in range(k)]


def lit(values: list[str | None] | str | None, k: int) -> pl.Series:
    vals = values if isinstance(values, list) else [values] * k
    return pl.Series([vals[j % len(vals)] for j in range(k)], dtype=pl.String)


def future(col: str) -> pl.Expr:
    return pl.lit("2031") + pl.col(col).str.slice(4)


def shift_text(t: pl.Series, seconds: int) -> pl.Series:
    """ISO text timestamps shifted by `seconds`, back to text."""
    from pipelines.generate.writer import TS_FORMAT

    parsed = t.str.to_datetime(TS_FORMAT, time_zone=TABLES["orders"].polars_schema()["ordered_at"].time_zone)
    return (parsed + pl.duration(seconds=seconds)).dt.strftime(TS_FORMAT)


# table -> rule -> mutation(text rows, source indices, context) -> text rows breaking that rule only
Mutation = Callable[[pl.DataFrame, np.ndarray, Context], pl.DataFrame]


def _fresh_key(df: pl.DataFrame, table: str, ctx: Context) -> pl.DataFrame:
    """A never-used id (memberships: a new member in the same group), so no other row is touched."""
    kind = ID_KIND[table]
    return df.with_columns(lit(ctx.fresh(kind, len(df)), len(df)).alias(f"{kind}_id"))


def _orders_outside(df: pl.DataFrame, idx: np.ndarray, ctx: Context) -> pl.DataFrame:
    opens = ts("x", ctx.order_opens_at(idx) - 3 * 3600)
    text = to_text(pl.DataFrame([opens])).to_series()
    return df.with_columns(ordered_at=text, status_at=text, status=pl.lit("paid"))


MUTATIONS: dict[str, dict[str, Mutation]] = {
    "orders": {
        "null_required": lambda d, i, c: d.with_columns(member_id=lit(None, len(d))),
        "bad_type": lambda d, i, c: d.with_columns(quantity=lit(["two", "1.5", "abc", "3 pcs"], len(d))),
        "bad_value": lambda d, i, c: d.with_columns(status=lit(["shipped", "pending", "PAID?"], len(d))),
        "non_positive_quantity": lambda d, i, c: d.with_columns(quantity=lit(["0", "-1", "-3"], len(d))),
        "negative_price": lambda d, i, c: d.with_columns(unit_price=pl.lit("-") + pl.col("unit_price")),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(
            product_id=lit([f"pX{j:04d}" for j in range(len(d))], len(d)), campaign_id=lit(None, len(d))),
        "future_timestamp": lambda d, i, c: d.with_columns(
            ordered_at=future("ordered_at"), status_at=lit(None, len(d)), campaign_id=lit(None, len(d))),
        "ordered_outside_campaign": _orders_outside,
    },
    "campaigns": {
        "closes_before_opens": lambda d, i, c: d.with_columns(closes_at=shift_text(d["opens_at"], -3600)),
        "negative_price": lambda d, i, c: d.with_columns(price=pl.lit("-") + pl.col("price")),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(product_id=lit("pX9999", len(d))),
        "null_required": lambda d, i, c: d.with_columns(price=lit(None, len(d))),
        "bad_type": lambda d, i, c: d.with_columns(max_qty=lit(["many", "12.5", "ten"], len(d))),
    },
    "products": {
        "negative_price": lambda d, i, c: d.with_columns(price=pl.lit("-") + pl.col("price")),
        "null_required": lambda d, i, c: d.with_columns(name=lit(None, len(d))),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(supplier_id=lit("sX999", len(d))),
        "bad_type": lambda d, i, c: d.with_columns(launched_on=lit(["last week", "2025-13-45"], len(d))),
    },
    "groups": {
        "bad_value": lambda d, i, c: d.with_columns(kind=lit(["vip", "family"], len(d))),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(shopkeeper_id=lit("kX999", len(d))),
        "null_required": lambda d, i, c: d.with_columns(city=lit(None, len(d))),
    },
    "shopkeepers": {
        "bad_value": lambda d, i, c: d.with_columns(tier=lit(["z", "vip"], len(d))),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(invited_by=lit("kX999", len(d))),
    },
    "memberships": {
        "unknown_foreign_key": lambda d, i, c: d.with_columns(group_id=lit("gX9999", len(d))),
        "null_required": lambda d, i, c: d.with_columns(member_id=lit(None, len(d))),
        "bad_type": lambda d, i, c: d.with_columns(joined_on=lit(["2025/13/01", "yesterday"], len(d))),
    },
    "posts": {
        "unknown_foreign_key": lambda d, i, c: d.with_columns(group_id=lit("gX9999", len(d))),
        "future_timestamp": lambda d, i, c: d.with_columns(posted_at=future("posted_at"),
                                                           campaign_id=lit(None, len(d))),
        "null_required": lambda d, i, c: d.with_columns(product_id=lit(None, len(d))),
        "bad_type": lambda d, i, c: d.with_columns(posted_at=lit(["yesterday evening", "25:61"], len(d))),
    },
    "feedback": {
        "bad_value": lambda d, i, c: d.with_columns(action=lit(["like", "share"], len(d))),
        "unknown_foreign_key": lambda d, i, c: d.with_columns(product_id=lit("pX9999", len(d))),
    },
    "suppliers": {
        "null_required": lambda d, i, c: d.with_columns(name=lit(None, len(d))),
    },
}
EXACT_DUPLICATES = {"orders": 2, "posts": 1, "memberships": 1, "products": 0.4, "feedback": 0.4}  # x per_rule


def planted_rules() -> set[str]:
    return {r for rules in MUTATIONS.values() for r in rules} | {"duplicate_id_conflict"}


assert planted_rules() == set(RULES), "every quarantine rule must be planted"


def take(src: TableSource, idx: np.ndarray) -> pl.DataFrame:
    """Typed rows at arbitrary indices (few of them)."""
    return pl.concat([src.build(int(i), int(i) + 1) for i in idx]) if len(idx) else src.build(0, 0)


def dirty_part(src: TableSource, per_rule: int, ctx: Context, rng: np.random.Generator) -> DirtyPart:
    """Bad rows, exact copies and moved good rows of one table, shuffled, with their truth."""
    table = src.name
    rules = MUTATIONS[table] if src.rows else {}  # nothing to copy from in an empty table (tiny worlds)
    moved = min(2 * per_rule, src.rows // 10)
    clean = src.rows - moved
    n_dup = round(EXACT_DUPLICATES.get(table, 0) * per_rule)
    n_conflict = per_rule if table == "orders" and clean else 0
    # distinct sources for copies and conflicts (their originals stay in the clean part)
    distinct = rng.choice(clean, min(clean, n_dup + n_conflict), replace=False)
    dup_idx, conflict_idx = distinct[:n_dup], distinct[n_dup:]
    pieces: list[pl.DataFrame] = []
    labels: list[str | None] = []
    ctx.n = 0
    for rule, mutate in rules.items():
        idx = np.sort(rng.choice(clean, per_rule, replace=per_rule > clean))
        base = to_text(take(src, idx))
        pieces.append(mutate(_fresh_key(base, table, ctx), idx, ctx))
        labels += [rule] * per_rule
    if n_conflict:
        base = to_text(take(src, np.sort(conflict_idx)))
        pieces.append(base.with_columns(quantity=(pl.col("quantity").cast(pl.Int64) + 1).cast(pl.String)))
        labels += ["duplicate_id_conflict"] * len(conflict_idx)
    if n_dup:
        pieces.append(to_text(take(src, np.sort(dup_idx))))
        labels += ["__duplicate"] * len(dup_idx)
    pieces.append(to_text(src.build(clean, src.rows)))
    labels += [None] * moved
    frame = pl.concat(pieces)
    if not len(frame):
        frame = to_text(src.build(0, 0))
    order = rng.permutation(len(frame))
    frame = frame[order]
    label = np.asarray(labels, dtype=object)[order]
    bad = np.flatnonzero(np.array([x is not None and x != "__duplicate" for x in label], dtype=bool))
    truth = pl.DataFrame({
        "table": [table] * len(bad),
        "source_file": [f"{table}/{DIRTY_FILE}"] * len(bad),
        "row_number": (bad + 1).astype(np.int64),
        "rule": label[bad].astype(str),
    }, schema={"table": pl.String, "source_file": pl.String, "row_number": pl.Int64, "rule": pl.String})
    return DirtyPart(table=table, frame=frame, truth=truth, duplicates=len(dup_idx), moved=moved)
