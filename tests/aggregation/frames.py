"""Hand-built contract frames for aggregation tests (schemas from common.contract)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from common.contract import TABLES

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: float, minute: int = 0) -> datetime:
    """A timestamp on 2026-03-<day> in the platform's zone."""
    return datetime(2026, 3, day, int(hour), minute, tzinfo=TZ)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows (dicts; missing optional columns are null) as a frame with the contract schema."""
    schema = TABLES[table].polars_schema()
    cols = {c: [r.get(c) for r in rows] for c in schema}
    return pl.DataFrame(cols, schema=schema)


def world() -> dict[str, pl.DataFrame]:
    """Two warehouses, three groups, two products, two campaigns (one for every warehouse)."""
    suppliers = frame("suppliers", [{"supplier_id": "S1", "name": "s1"}])
    products = frame("products", [
        {"product_id": "P1", "supplier_id": "S1", "name": "eggs", "category": "fresh", "price": 20.0,
         "cost": 12.0, "is_standard": True, "launched_on": date(2026, 1, 1)},
        {"product_id": "P2", "supplier_id": "S1", "name": "nuts", "category": "snacks", "price": 30.0,
         "is_standard": True, "launched_on": date(2026, 1, 1)},
    ])
    groups = frame("groups", [
        {"group_id": "G1", "shopkeeper_id": "K1", "city": "c", "warehouse_id": "W1",
         "created_on": date(2026, 1, 1)},
        {"group_id": "G2", "shopkeeper_id": "K1", "city": "c", "warehouse_id": "W1",
         "created_on": date(2026, 1, 1)},
        {"group_id": "G3", "shopkeeper_id": "K2", "city": "d", "warehouse_id": "W2",
         "created_on": date(2026, 1, 1)},
    ])
    campaigns = frame("campaigns", [
        # C1: two-day window, warehouse W1 only, capped
        {"campaign_id": "C1", "product_id": "P1", "price": 18.0, "opens_at": at(1, 8), "closes_at": at(3, 8),
         "delivery_on": date(2026, 3, 4), "warehouse_id": "W1", "max_qty": 50},
        # C2: every warehouse
        {"campaign_id": "C2", "product_id": "P2", "price": 30.0, "opens_at": at(1, 8), "closes_at": at(1, 23),
         "delivery_on": date(2026, 3, 2), "warehouse_id": None},
    ])

    def order(oid, member, group, product, campaign, qty, ordered_at, status="paid", status_at=None):
        return {"order_id": oid, "member_id": member, "group_id": group, "product_id": product,
                "campaign_id": campaign, "quantity": qty, "unit_price": 1.0, "ordered_at": ordered_at,
                "status": status, "status_at": status_at}

    orders = frame("orders", [
        order("o1", "m1", "G1", "P1", "C1", 2, at(1, 9)),
        order("o2", "m2", "G1", "P1", "C1", 3, at(1, 12), "cancelled", at(2, 10)),
        order("o3", "m3", "G2", "P1", "C1", 4, at(2, 9)),  # exactly at the cut used in tests
        order("o4", "m4", "G2", "P1", "C1", 5, at(2, 20), "refunded", at(5, 9)),  # refunded after close
        order("o5", "m5", "G1", "P2", "C2", 1, at(1, 9)),
        order("o6", "m6", "G3", "P2", "C2", 6, at(1, 10)),
        order("o7", "m7", "G3", "P2", "C2", 2, at(1, 11), "cancelled", None),  # cancelled at once
        order("o8", "m1", "G1", "P1", None, 7, at(1, 15)),  # no campaign
        order("o9", "m8", "G3", "P1", None, 1, at(2, 1)),  # no campaign, W2
    ])
    empty = {n: pl.DataFrame(schema=TABLES[n].polars_schema()) for n in ("shopkeepers", "posts", "feedback",
                                                                         "memberships")}
    return {"suppliers": suppliers, "products": products, "groups": groups, "campaigns": campaigns,
            "orders": orders, **empty}
