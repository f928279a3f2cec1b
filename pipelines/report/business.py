"""How the business looks, from the contract tables: tiers, shopkeeper behaviour, groups by kind.

Pure: polars frames in, a JSON-serialisable dict out (the nightly puts it in the report and the
manifest). Only paid orders count; an order whose group is unknown is left out of every share, and
so is an inviter (`invited_by`) that is not a known shopkeeper.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from common.contract import GROUP_KINDS, TABLES

SELF_BUYING_SHARE = 0.5  # one member's share of a shopkeeper's paid orders that makes it "self-buying"
RECRUITING_MIN_INVITES = 2  # other shopkeepers invited (invited_by) that make a shopkeeper "recruiting"
HEAD_PCT, MIDDLE_PCT = 5, 25  # percentile tiers when no tier column: top 5% head, next 25% middle

TIER_NAMES = {"a": "head", "b": "middle", "c": "tail"}
TIER_ORDER = ("head", "middle", "tail", "unknown")
BEHAVIOURS = (
    ("mostly_self_buying", "mostly self-buying"),
    ("sharing_with_group", "sharing with their group"),
    ("recruiting", "recruiting"),
    ("no_paid_orders", "no paid orders"),
)
KIND_NOT_GIVEN = "not given"


def business_view(frames: Mapping[str, pl.DataFrame]) -> dict:
    """Shares of paid orders by shopkeeper tier, shopkeepers by behaviour, and groups by kind."""
    shopkeepers = _table(frames, "shopkeepers")
    groups = _table(frames, "groups")
    memberships = _table(frames, "memberships")
    orders = _table(frames, "orders")

    paid = (
        orders.filter(pl.col("status") == "paid")
        .select("group_id", "member_id", pl.col("quantity").cast(pl.Int64))
        .join(groups.select("group_id", "shopkeeper_id").unique("group_id"), on="group_id", how="inner")
    )
    ids = (
        pl.concat([shopkeepers.select("shopkeeper_id"), groups.select("shopkeeper_id")])
        .drop_nulls()
        .unique()
        .sort("shopkeeper_id")
    )
    per_shopkeeper = ids.join(
        paid.group_by("shopkeeper_id").agg(
            pl.len().alias("paid_orders"), pl.col("quantity").sum().alias("quantity")
        ),
        on="shopkeeper_id",
        how="left",
    ).with_columns(pl.col("paid_orders").fill_null(0).cast(pl.Int64), pl.col("quantity").fill_null(0))
    total_orders = int(paid.height)
    total_qty = int(paid["quantity"].sum() or 0)
    return {
        "shopkeepers": int(ids.height),
        "groups": int(groups.height),
        "paid_orders": total_orders,
        "paid_quantity": total_qty,
        "tiers": _tiers(per_shopkeeper, shopkeepers, total_orders, total_qty),
        "behaviour": _behaviour(per_shopkeeper, paid, shopkeepers, total_orders),
        "group_kinds": _group_kinds(groups, memberships, paid, total_orders),
    }


def _table(frames: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame:
    """The frame, or an empty one; contract columns it lacks are added as nulls of the right type."""
    schema = TABLES[name].polars_schema()
    frame = frames.get(name)
    if frame is None:
        return pl.DataFrame(schema=schema)
    missing = [
        pl.lit(None, dtype=dtype).alias(col) for col, dtype in schema.items() if col not in frame.columns
    ]
    return frame.with_columns(missing) if missing else frame


def _share(part: int | float, whole: int | float) -> float:
    return round(part / whole, 6) if whole else 0.0


def _tiers(per_sk: pl.DataFrame, shopkeepers: pl.DataFrame, total_orders: int, total_qty: int) -> dict:
    """Head / middle / tail from the tier column (a/b/c) when it has values, else by order percentiles."""
    given = shopkeepers.select("shopkeeper_id", "tier").filter(pl.col("tier").is_not_null())
    if given.height:
        method = "tier column"
        note = "tiers as given in shopkeepers.tier: a = head, b = middle, c = tail"
        tiered = per_sk.join(given.unique("shopkeeper_id"), on="shopkeeper_id", how="left").with_columns(
            pl.col("tier").replace_strict(TIER_NAMES, default="unknown", return_dtype=pl.String)
        )
    else:
        method = "order-volume percentiles"
        note = (
            f"no tier column: shopkeepers ranked by paid orders, top {HEAD_PCT}% head, "
            f"next {MIDDLE_PCT}% middle, the rest tail"
        )
        n = per_sk.height
        head_n = -(-n * HEAD_PCT // 100)  # ceil without floating point
        middle_n = -(-n * (HEAD_PCT + MIDDLE_PCT) // 100)
        tiered = (
            per_sk.sort(["paid_orders", "quantity", "shopkeeper_id"], descending=[True, True, False])
            .with_row_index("position")
            .with_columns(
                pl.when(pl.col("position") < head_n)
                .then(pl.lit("head"))
                .when(pl.col("position") < middle_n)
                .then(pl.lit("middle"))
                .otherwise(pl.lit("tail"))
                .alias("tier")
            )
        )
    sums = {
        r["tier"]: r
        for r in tiered.group_by("tier")
        .agg(pl.len().alias("shopkeepers"), pl.col("paid_orders").sum(), pl.col("quantity").sum())
        .to_dicts()
    }
    rows = []
    for tier in TIER_ORDER:
        r = sums.get(tier, {"shopkeepers": 0, "paid_orders": 0, "quantity": 0})
        if tier == "unknown" and not r["shopkeepers"]:
            continue
        orders, qty = int(r["paid_orders"] or 0), int(r["quantity"] or 0)
        rows.append(
            {
                "tier": tier,
                "shopkeepers": int(r["shopkeepers"]),
                "paid_orders": orders,
                "order_share": _share(orders, total_orders),
                "quantity": qty,
                "quantity_share": _share(qty, total_qty),
            }
        )
    return {"method": method, "note": note, "rows": rows}


def _behaviour(per_sk: pl.DataFrame, paid: pl.DataFrame, shopkeepers: pl.DataFrame, total: int) -> dict:
    """Self-buying: one member has >= 50% of the paid orders; sharing: the rest; recruiting: 2+ invites."""
    top_member = (
        paid.group_by("shopkeeper_id", "member_id")
        .agg(pl.len().alias("n"))
        .group_by("shopkeeper_id")
        .agg(pl.col("n").max().alias("top_member_orders"))
    )
    invites = (
        shopkeepers.filter(
            pl.col("invited_by").is_not_null() & (pl.col("invited_by") != pl.col("shopkeeper_id"))
        )
        .group_by("invited_by")
        .agg(pl.col("shopkeeper_id").n_unique().alias("invited"))
        .rename({"invited_by": "shopkeeper_id"})
    )
    tagged = (
        per_sk.join(top_member, on="shopkeeper_id", how="left")
        .join(invites, on="shopkeeper_id", how="left")
        .with_columns(pl.col("paid_orders").fill_null(0), pl.col("invited").fill_null(0))
        .with_columns(
            pl.when(pl.col("paid_orders") == 0)
            .then(pl.lit("no_paid_orders"))
            .when(pl.col("top_member_orders") >= SELF_BUYING_SHARE * pl.col("paid_orders"))
            .then(pl.lit("mostly_self_buying"))
            .otherwise(pl.lit("sharing_with_group"))
            .alias("acts"),
            (pl.col("invited") >= RECRUITING_MIN_INVITES).alias("recruiting"),
        )
    )
    n_all = tagged.height
    rows = []
    for key, label in BEHAVIOURS:
        sel = (
            tagged.filter(pl.col("recruiting"))
            if key == "recruiting"
            else tagged.filter(pl.col("acts") == key)
        )
        orders = int(sel["paid_orders"].sum() or 0)
        rows.append(
            {
                "behaviour": key,
                "label": label,
                "shopkeepers": int(sel.height),
                "shopkeeper_share": _share(sel.height, n_all),
                "paid_orders": orders,
                "order_share": _share(orders, total),
            }
        )
    recruiting = tagged.filter(pl.col("recruiting"))
    return {
        "rows": rows,
        "recruiting_and_self_buying": int((recruiting["acts"] == "mostly_self_buying").sum()),
        "recruiting_and_sharing": int((recruiting["acts"] == "sharing_with_group").sum()),
        "self_buying_share": SELF_BUYING_SHARE,
        "recruiting_min_invites": RECRUITING_MIN_INVITES,
    }


def _group_kinds(
    groups: pl.DataFrame, memberships: pl.DataFrame, paid: pl.DataFrame, total: int
) -> list[dict]:
    """Per group kind: groups, their share, paid orders and share, current members (left_on empty)."""
    kinds = groups.select("group_id", pl.col("kind").fill_null(KIND_NOT_GIVEN)).unique("group_id")
    members = (
        memberships.filter(pl.col("left_on").is_null())
        .join(kinds, on="group_id", how="inner")
        .group_by("kind")
        .agg(pl.col("member_id").n_unique().alias("members"))
    )
    orders = paid.join(kinds, on="group_id", how="inner").group_by("kind").agg(pl.len().alias("paid_orders"))
    table = (
        kinds.group_by("kind")
        .agg(pl.len().alias("groups"))
        .join(orders, on="kind", how="left")
        .join(members, on="kind", how="left")
        .fill_null(0)
    )
    by_kind = {r["kind"]: r for r in table.to_dicts()}
    order = [k for k in GROUP_KINDS if k in by_kind] + sorted(k for k in by_kind if k not in GROUP_KINDS)
    n_groups = kinds.height
    return [
        {
            "kind": k,
            "groups": int(by_kind[k]["groups"]),
            "group_share": _share(by_kind[k]["groups"], n_groups),
            "paid_orders": int(by_kind[k]["paid_orders"]),
            "order_share": _share(by_kind[k]["paid_orders"], total),
            "members": int(by_kind[k]["members"]),
        }
        for k in order
    ]
