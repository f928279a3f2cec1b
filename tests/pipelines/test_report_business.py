"""business_view on tiny hand-built frames, against shares computed by hand."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.contract import TABLES
from pipelines.report import business_view


def _frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[name].polars_schema()
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _orders(spec: list[tuple[str, str, int, str]]) -> pl.DataFrame:
    """(member, group, quantity, status) per order line."""
    return _frame(
        "orders",
        [
            {
                "order_id": f"o{i}",
                "member_id": m,
                "group_id": g,
                "product_id": "p1",
                "quantity": q,
                "unit_price": 1.0,
                "status": s,
            }
            for i, (m, g, q, s) in enumerate(spec)
        ],
    )


@pytest.fixture
def tiny() -> dict[str, pl.DataFrame]:
    shopkeepers = _frame(
        "shopkeepers",
        [
            {"shopkeeper_id": "s1", "joined_on": date(2026, 1, 1), "tier": "a", "invited_by": None},
            {"shopkeeper_id": "s2", "joined_on": date(2026, 1, 2), "tier": "b", "invited_by": "s1"},
            {"shopkeeper_id": "s3", "joined_on": date(2026, 1, 3), "tier": "c", "invited_by": "s1"},
            {"shopkeeper_id": "s4", "joined_on": date(2026, 1, 4), "tier": "c", "invited_by": "s2"},
            {"shopkeeper_id": "s5", "joined_on": date(2026, 1, 5), "tier": "c", "invited_by": "s5"},
        ],
    )
    groups = _frame(
        "groups",
        [
            {"group_id": "g1", "shopkeeper_id": "s1", "city": "x", "warehouse_id": "w", "kind": "hot_items"},
            {"group_id": "g2", "shopkeeper_id": "s1", "city": "x", "warehouse_id": "w", "kind": "deals"},
            {"group_id": "g3", "shopkeeper_id": "s2", "city": "x", "warehouse_id": "w", "kind": "deals"},
            {"group_id": "g4", "shopkeeper_id": "s3", "city": "x", "warehouse_id": "w", "kind": "training"},
            {"group_id": "g5", "shopkeeper_id": "s4", "city": "x", "warehouse_id": "w", "kind": None},
        ],
    )
    memberships = _frame(
        "memberships",
        [
            {"member_id": "m1", "group_id": "g1", "joined_on": date(2026, 1, 1)},
            {"member_id": "m2", "group_id": "g1", "joined_on": date(2026, 1, 1)},
            {"member_id": "m3", "group_id": "g2", "joined_on": date(2026, 1, 1)},
            {"member_id": "m4", "group_id": "g3", "joined_on": date(2026, 1, 1), "left_on": date(2026, 2, 1)},
            {"member_id": "m5", "group_id": "g3", "joined_on": date(2026, 1, 1)},
            {"member_id": "m6", "group_id": "g4", "joined_on": date(2026, 1, 1)},
        ],
    )
    orders = _orders(
        [
            # s1 (g1, g2): 6 paid; m1 places 2 of 6 -> sharing
            ("m1", "g1", 2, "paid"),
            ("m1", "g1", 1, "paid"),
            ("m2", "g1", 1, "paid"),
            ("m3", "g2", 3, "paid"),
            ("m9", "g2", 1, "paid"),
            ("m8", "g2", 2, "paid"),
            ("m1", "g1", 5, "cancelled"),
            # s2 (g3): 4 paid; m5 places 2 of 4 = 50% -> mostly self-buying
            ("m5", "g3", 1, "paid"),
            ("m5", "g3", 1, "paid"),
            ("m4", "g3", 2, "paid"),
            ("m7", "g3", 4, "paid"),
            # s3 (g4): 0 paid (refunded only); s4 (g5): 2 paid by one member -> self-buying
            ("m6", "g4", 3, "refunded"),
            ("m10", "g5", 1, "paid"),
            ("m10", "g5", 2, "paid"),
        ]
    )
    return {"shopkeepers": shopkeepers, "groups": groups, "memberships": memberships, "orders": orders}


def test_business_view_with_tier_column(tiny: dict[str, pl.DataFrame]) -> None:
    view = business_view(tiny)
    json.dumps(view)  # plain numbers and strings only
    assert (view["shopkeepers"], view["groups"], view["paid_orders"], view["paid_quantity"]) == (5, 5, 12, 21)
    tiers = view["tiers"]
    assert tiers["method"] == "tier column"
    # head = s1: 6 orders, qty 10; middle = s2: 4 orders, qty 8; tail = s3, s4, s5: 2 orders, qty 3 (all s4's)
    assert tiers["rows"] == [
        {
            "tier": "head",
            "shopkeepers": 1,
            "paid_orders": 6,
            "order_share": 0.5,
            "quantity": 10,
            "quantity_share": round(10 / 21, 6),
        },
        {
            "tier": "middle",
            "shopkeepers": 1,
            "paid_orders": 4,
            "order_share": round(4 / 12, 6),
            "quantity": 8,
            "quantity_share": round(8 / 21, 6),
        },
        {
            "tier": "tail",
            "shopkeepers": 3,
            "paid_orders": 2,
            "order_share": round(2 / 12, 6),
            "quantity": 3,
            "quantity_share": round(3 / 21, 6),
        },
    ]
    rows = {r["behaviour"]: r for r in view["behaviour"]["rows"]}
    assert rows["mostly_self_buying"]["shopkeepers"] == 2  # s2 (exactly 50%), s4
    assert rows["mostly_self_buying"]["paid_orders"] == 6
    assert rows["sharing_with_group"]["shopkeepers"] == 1  # s1
    assert rows["no_paid_orders"]["shopkeepers"] == 2  # s3, s5
    assert rows["recruiting"]["shopkeepers"] == 1  # s1 invited s2 and s3; s2 one; s5 invited itself
    assert rows["recruiting"]["order_share"] == 0.5
    assert view["behaviour"]["recruiting_and_sharing"] == 1
    assert view["behaviour"]["recruiting_and_self_buying"] == 0
    kinds = {k["kind"]: k for k in view["group_kinds"]}
    assert [k["kind"] for k in view["group_kinds"]] == ["hot_items", "deals", "training", "not given"]
    assert kinds["deals"] == {
        "kind": "deals",
        "groups": 2,
        "group_share": 0.4,
        "paid_orders": 7,
        "order_share": round(7 / 12, 6),
        "members": 2,
    }  # m3, m5 (m4 left)
    assert kinds["hot_items"]["paid_orders"] == 3 and kinds["hot_items"]["members"] == 2
    assert kinds["training"]["paid_orders"] == 0
    assert kinds["not given"]["paid_orders"] == 2 and kinds["not given"]["members"] == 0


def test_business_view_tiers_by_percentiles_without_tier_column() -> None:
    """20 shopkeepers, no tiers: top 5% (1) head, next 25% (5) middle, the other 14 tail."""
    groups = _frame(
        "groups",
        [
            {"group_id": f"g{i:02d}", "shopkeeper_id": f"s{i:02d}", "city": "x", "warehouse_id": "w"}
            for i in range(20)
        ],
    )
    # shopkeeper i gets i + 1 paid orders of quantity 1: head = s19 (20), middle = s14..s18 (15..19)
    orders = _orders([(f"m{i}-{j}", f"g{i:02d}", 1, "paid") for i in range(20) for j in range(i + 1)])
    frames = {"groups": groups, "orders": orders, "memberships": _frame("memberships", [])}
    view = business_view(frames)  # no shopkeepers table at all: ids come from groups
    tiers = view["tiers"]
    assert tiers["method"] == "order-volume percentiles"
    total = sum(range(1, 21))
    counts = {r["tier"]: (r["shopkeepers"], r["paid_orders"]) for r in tiers["rows"]}
    assert counts == {"head": (1, 20), "middle": (5, sum(range(15, 20))), "tail": (14, sum(range(1, 15)))}
    assert tiers["rows"][0]["order_share"] == round(20 / total, 6)
    rows = {r["behaviour"]: r["shopkeepers"] for r in view["behaviour"]["rows"]}
    # s00: 1 of 1 orders from one member, s01: 1 of 2 (= 50%) -> self-buying; the rest share
    assert rows == {"mostly_self_buying": 2, "sharing_with_group": 18, "recruiting": 0, "no_paid_orders": 0}
    assert view["group_kinds"][0]["kind"] == "not given" and view["group_kinds"][0]["group_share"] == 1.0


def test_business_view_on_empty_tables() -> None:
    empty = {
        name: pl.DataFrame(schema=TABLES[name].polars_schema())
        for name in ("shopkeepers", "groups", "memberships", "orders")
    }
    view = business_view(empty)
    json.dumps(view)
    assert view["paid_orders"] == 0 and view["group_kinds"] == []
    assert all(r["order_share"] == 0.0 for r in view["tiers"]["rows"])


@settings(max_examples=40, deadline=None)
@given(
    owners=st.lists(st.integers(0, 5), min_size=1, max_size=8),  # group i belongs to shopkeeper owners[i]
    lines=st.lists(
        st.tuples(
            st.integers(0, 7), st.integers(0, 4), st.integers(1, 5), st.sampled_from(["paid", "cancelled"])
        ),
        max_size=40,
    ),
    tiers=st.booleans(),
)
def test_business_view_shares_add_up(owners: list[int], lines: list[tuple], tiers: bool) -> None:
    """Tier shares sum to 1, every shopkeeper acts one way, kinds cover every group and paid order."""
    n_groups = len(owners)
    groups = _frame(
        "groups",
        [
            {
                "group_id": f"g{i}",
                "shopkeeper_id": f"s{o}",
                "city": "x",
                "warehouse_id": "w",
                "kind": ["deals", None][i % 2],
            }
            for i, o in enumerate(owners)
        ],
    )
    shopkeepers = _frame(
        "shopkeepers",
        [
            {"shopkeeper_id": f"s{o}", "tier": "abc"[o % 3] if tiers else None, "invited_by": "s0"}
            for o in sorted(set(owners))
        ],
    )
    orders = _orders([(f"m{m}", f"g{g % n_groups}", q, s) for g, m, q, s in lines])
    view = business_view({"groups": groups, "shopkeepers": shopkeepers, "orders": orders})
    paid = [line for line in lines if line[3] == "paid"]
    assert view["paid_orders"] == len(paid) and view["paid_quantity"] == sum(q for _, _, q, _ in paid)
    rows = view["tiers"]["rows"]
    assert sum(r["shopkeepers"] for r in rows) == view["shopkeepers"] == len(set(owners))
    assert sum(r["paid_orders"] for r in rows) == len(paid)
    if paid:
        assert abs(sum(r["order_share"] for r in rows) - 1) < 1e-5
    acts = {r["behaviour"]: r for r in view["behaviour"]["rows"]}
    assert (
        sum(acts[k]["shopkeepers"] for k in ("mostly_self_buying", "sharing_with_group", "no_paid_orders"))
        == view["shopkeepers"]
    )
    # s0 invited every other shopkeeper; it counts only when it is a known shopkeeper itself
    assert acts["recruiting"]["shopkeepers"] == (1 if 0 in owners and len(set(owners) - {0}) >= 2 else 0)
    assert sum(k["groups"] for k in view["group_kinds"]) == n_groups
    assert sum(k["paid_orders"] for k in view["group_kinds"]) == len(paid)
