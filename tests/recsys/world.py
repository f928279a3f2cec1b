"""A small synthetic world in the raw contract, for recsys tests (no generator needed).

Groups have a taste over categories and a few staples they re-order on a cycle; products run
in campaigns per warehouse; shopkeepers post daily and members answer the posts they like.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from common.contract import CATEGORIES, TABLES

TZ = ZoneInfo("Asia/Shanghai")


def _frame(name: str, data: dict) -> pl.DataFrame:
    schema = TABLES[name].polars_schema()
    cols = {
        c: pl.Series(c, data.get(c, [None] * len(next(iter(data.values())))), dtype=t)
        for c, t in schema.items()
    }
    return pl.DataFrame(cols)


def make_world(
    groups: int = 60, products: int = 80, days: int = 40, end: date = date(2024, 3, 31), seed: int = 0
) -> dict[str, pl.DataFrame]:
    """Contract frames for a world of `groups` groups over `days` days ending on `end`."""
    rng = np.random.default_rng(seed)
    start = end - timedelta(days=days - 1)
    cats = np.array(CATEGORIES)
    p_cat = rng.integers(0, len(cats), products)
    price = np.round(rng.lognormal(3.0, 0.6, products), 2)
    launched = [start - timedelta(days=int(x)) for x in rng.integers(-days // 2, 60, products)]
    pid = [f"p{i:04d}" for i in range(products)]
    cities = np.array(["hangzhou", "suzhou", "ningbo"])
    g_city = rng.integers(0, 3, groups)
    gid = [f"g{i:04d}" for i in range(groups)]
    taste = rng.dirichlet(np.full(len(cats), 0.4), groups)
    affinity = taste[:, p_cat] * rng.lognormal(0, 0.5, (groups, products))
    affinity /= affinity.max(axis=1, keepdims=True)
    staples = np.argsort(-affinity, axis=1)[:, :3]
    cycle = rng.integers(5, 12, (groups, 3))
    size = rng.integers(20, 80, groups)

    # memberships: each member in one home group; a third also in a second group of the same city
    mem_rows = []
    for g in range(groups):
        for m in range(size[g]):
            mem_rows.append((f"m{g:04d}_{m:03d}", gid[g]))
            if m % 3 == 0:
                others = np.flatnonzero((g_city == g_city[g]) & (np.arange(groups) != g))
                if len(others):
                    mem_rows.append((f"m{g:04d}_{m:03d}", gid[int(rng.choice(others))]))
    memberships = _frame(
        "memberships",
        {
            "member_id": [r[0] for r in mem_rows],
            "group_id": [r[1] for r in mem_rows],
            "joined_on": [start - timedelta(days=90)] * len(mem_rows),
        },
    )

    camp, posts, orders = [], [], []
    for d in range(days):
        day = start + timedelta(days=d)
        t0 = datetime.combine(day, time(9), tzinfo=TZ)
        live = np.flatnonzero(np.array([lo <= day for lo in launched]) & (rng.random(products) < 0.6))
        for p in live:
            camp.append(
                (
                    f"c{d:03d}_{p:04d}",
                    pid[p],
                    float(price[p]),
                    t0,
                    t0 + timedelta(hours=12),
                    day + timedelta(days=2),
                    None,
                    None,
                )
            )
        for g in range(groups):
            if len(live) == 0:
                continue
            w = affinity[g, live] + 0.05
            shown = rng.choice(live, size=min(5, len(live)), replace=False, p=w / w.sum())
            for p in shown:
                posts.append(
                    (
                        f"po{d:03d}_{g:04d}_{p:04d}",
                        gid[g],
                        pid[p],
                        f"c{d:03d}_{p:04d}",
                        t0 + timedelta(minutes=int(g % 50)),
                    )
                )
            buy = list(shown)
            for s in range(3):
                if d % cycle[g, s] == g % cycle[g, s] and staples[g, s] in live:
                    buy.append(staples[g, s])
            for p in set(int(x) for x in buy):
                n = rng.poisson(0.08 * size[g] * affinity[g, p] ** 2)
                for k in range(n):
                    status = "paid" if rng.random() > 0.05 else "cancelled"
                    orders.append(
                        (
                            f"o{d:03d}_{g:04d}_{p:04d}_{k}",
                            f"m{g:04d}_{k % size[g]:03d}",
                            gid[g],
                            pid[p],
                            f"c{d:03d}_{p:04d}",
                            int(rng.integers(1, 4)),
                            float(price[p]),
                            t0 + timedelta(hours=1, minutes=k),
                            status,
                        )
                    )
    frames = {
        "suppliers": _frame("suppliers", {"supplier_id": ["s1", "s2"], "name": ["S1", "S2"]}),
        "products": _frame(
            "products",
            {
                "product_id": pid,
                "supplier_id": [f"s{1 + i % 2}" for i in range(products)],
                "name": [f"product {i}" for i in range(products)],
                "category": list(cats[p_cat]),
                "price": list(price),
                "is_standard": [True] * products,
                "launched_on": launched,
            },
        ),
        "shopkeepers": _frame("shopkeepers", {"shopkeeper_id": gid, "joined_on": [start] * groups}),
        "groups": _frame(
            "groups",
            {
                "group_id": gid,
                "shopkeeper_id": gid,
                "city": list(cities[g_city]),
                "warehouse_id": [f"w{c}" for c in g_city],
                "kind": ["other"] * groups,
                "created_on": [start - timedelta(days=90)] * groups,
            },
        ),
        "memberships": memberships,
        "campaigns": _frame(
            "campaigns",
            dict(
                zip(
                    [
                        "campaign_id",
                        "product_id",
                        "price",
                        "opens_at",
                        "closes_at",
                        "delivery_on",
                        "warehouse_id",
                        "max_qty",
                    ],
                    map(list, zip(*camp, strict=True)),
                    strict=True,
                )
            ),
        ),
        "posts": _frame(
            "posts",
            dict(
                zip(
                    ["post_id", "group_id", "product_id", "campaign_id", "posted_at"],
                    map(list, zip(*posts, strict=True)),
                    strict=True,
                )
            ),
        ),
        "orders": _frame(
            "orders",
            dict(
                zip(
                    [
                        "order_id",
                        "member_id",
                        "group_id",
                        "product_id",
                        "campaign_id",
                        "quantity",
                        "unit_price",
                        "ordered_at",
                        "status",
                    ],
                    map(list, zip(*orders, strict=True)),
                    strict=True,
                )
            ),
        ),
        "feedback": pl.DataFrame(schema=TABLES["feedback"].polars_schema()),
    }
    frames["_taste"] = pl.DataFrame({"group_id": gid, **{c: taste[:, j] for j, c in enumerate(cats)}})
    return frames


def block_world(end: date = date(2024, 3, 31)) -> dict[str, pl.DataFrame]:
    """A tiny world with a known answer: groups a0..a4 (city x) buy products A0..A3, groups b0..b4
    (city y) buy B0..B3, every group re-orders its first product daily; Z0 is never bought."""
    groups = [f"a{j}" for j in range(5)] + [f"b{j}" for j in range(5)]
    products = [f"A{j}" for j in range(4)] + [f"B{j}" for j in range(4)] + ["Z0"]
    rows = []
    for gi, g in enumerate(groups):
        block = g[0].upper()
        for d in range(1, 15):
            at = datetime.combine(end - timedelta(days=d), time(10), tzinfo=TZ)
            mine = [f"{block}0"] + [f"{block}{1 + (gi + d) % 3}"]  # staple + rotating two of three
            if g in ("a0", "b0"):
                mine = [f"{block}0"]  # a0 / b0 only ever bought the staple: what else is a known answer
            for p in mine:
                rows.append((f"o{g}{p}{d}", f"m{g}{d % 3}", g, p, 1, 10.0, at, "paid"))
    rows.append(
        ("ocancel", "ma00", "a1", "Z0", 5, 10.0, datetime.combine(end, time(9), tzinfo=TZ), "cancelled")
    )
    orders = _frame(
        "orders",
        dict(
            zip(
                [
                    "order_id",
                    "member_id",
                    "group_id",
                    "product_id",
                    "quantity",
                    "unit_price",
                    "ordered_at",
                    "status",
                ],
                map(list, zip(*rows, strict=True)),
                strict=True,
            )
        ),
    )
    start = end - timedelta(days=60)
    members = sorted({(r[1], r[2]) for r in rows})
    # one member of a1 also belongs to a0: a0 should learn what a1 buys through it
    members.append(("ma10", "a0"))
    return {
        "suppliers": _frame("suppliers", {"supplier_id": ["s"], "name": ["S"]}),
        "products": _frame(
            "products",
            {
                "product_id": products,
                "supplier_id": ["s"] * len(products),
                "name": products,
                "category": ["fresh", "snacks", "household", "baby"] * 2 + ["beauty"],
                "price": [10.0] * len(products),
                "is_standard": [True] * len(products),
                "launched_on": [start] * len(products),
            },
        ),
        "groups": _frame(
            "groups",
            {
                "group_id": groups,
                "shopkeeper_id": groups,
                "city": ["x"] * 5 + ["y"] * 5,
                "warehouse_id": ["w"] * 10,
                "kind": ["other"] * 10,
                "created_on": [start] * 10,
            },
        ),
        "memberships": _frame(
            "memberships",
            {
                "member_id": [m for m, _ in members],
                "group_id": [g for _, g in members],
                "joined_on": [start] * len(members),
            },
        ),
        "orders": orders,
        **{
            t: pl.DataFrame(schema=TABLES[t].polars_schema())
            for t in ("shopkeepers", "campaigns", "posts", "feedback")
        },
    }
