"""A small random campaign world in the contract schema, for model-level aggregation tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from common.contract import TABLES

TZ = ZoneInfo("Asia/Shanghai")
START = date(2026, 1, 1)


def _frame(table: str, cols: dict) -> pl.DataFrame:
    schema = TABLES[table].polars_schema()
    n = len(next(iter(cols.values())))
    full = {c: cols.get(c, [None] * n) for c in schema}
    return pl.DataFrame(full, schema=schema)


def world(days: int = 40, products: int = 12, groups: int = 16, seed: int = 1, campaigns: bool = True,
          start: date = START, demand: Callable[[date], float] | None = None) -> dict[str, pl.DataFrame]:
    """Daily one-day campaigns (08:00-23:00) per product × warehouse from `start`; Poisson orders
    with a curve, their mean multiplied by `demand(day)` (1 without it)."""
    rng = np.random.default_rng(seed)
    pids = [f"P{i:02d}" for i in range(products)]
    cats = ["fresh", "snacks", "household"]
    price = np.round(rng.uniform(5, 60, products), 2)
    prods = _frame("products", {
        "product_id": pids, "supplier_id": [f"S{i % 3}" for i in range(products)],
        "name": pids, "category": [cats[i % 3] for i in range(products)], "price": price.tolist(),
        "cost": (price * 0.6).tolist(), "is_standard": [True] * products,
        "launched_on": [start - timedelta(days=30)] * products})
    gids = [f"G{i:02d}" for i in range(groups)]
    wh = [f"W{i % 2}" for i in range(groups)]
    grp = _frame("groups", {"group_id": gids, "shopkeeper_id": gids, "city": ["c"] * groups,
                            "warehouse_id": wh, "created_on": [start - timedelta(days=60)] * groups})
    appeal = rng.gamma(2.0, 0.5, products)
    rows, camps = [], []
    oid = 0
    for d in range(days):
        day = start + timedelta(days=d)
        weekday = (1.0 + 0.3 * (day.weekday() >= 5)) * (demand(day) if demand is not None else 1.0)
        for p in range(products):
            for w in ("W0", "W1"):
                cid = f"C{d:03d}-{p:02d}-{w}"
                opens = datetime(day.year, day.month, day.day, 8, tzinfo=TZ)
                closes = datetime(day.year, day.month, day.day, 23, tzinfo=TZ)
                camps.append((cid, pids[p], float(price[p]), opens, closes, day + timedelta(days=1), w))
                members = [g for g, gw in zip(gids, wh, strict=True) if gw == w]
                n = rng.poisson(appeal[p] * weekday * 6)
                for _ in range(n):
                    # booking curve: early heavy (beta)
                    at = opens + timedelta(seconds=float(rng.beta(1.5, 2.5)) * 15 * 3600)
                    g = members[rng.integers(len(members))]
                    status, status_at = "paid", at
                    if rng.random() < 0.05:
                        status, status_at = "cancelled", at + timedelta(hours=float(rng.uniform(0, 10)))
                    rows.append((f"o{oid}", f"m{rng.integers(200)}", g, pids[p], cid if campaigns else None,
                                 int(rng.integers(1, 4)), float(price[p]), at, status, status_at))
                    oid += 1
    cols = ["order_id", "member_id", "group_id", "product_id", "campaign_id", "quantity", "unit_price",
            "ordered_at", "status", "status_at"]
    orders = _frame("orders", {c: [r[i] for r in rows] for i, c in enumerate(cols)})
    ccols = ["campaign_id", "product_id", "price", "opens_at", "closes_at", "delivery_on", "warehouse_id"]
    camp = _frame("campaigns", {c: [r[i] for r in camps] for i, c in enumerate(ccols)})
    if not campaigns:
        camp = camp.clear()
    empty = {n: pl.DataFrame(schema=TABLES[n].polars_schema()) for n in ("shopkeepers", "posts", "feedback",
                                                                         "memberships")}
    sup = _frame("suppliers", {"supplier_id": ["S0", "S1", "S2"], "name": ["a", "b", "c"]})
    return {"suppliers": sup, "products": prods, "groups": grp, "campaigns": camp, "orders": orders, **empty}


def fitted_presale(seed: int = 8):
    """A small pre-sale world and a PresaleForecaster fitted on it (fast settings): (frames, origin,
    model), for the tests that compare training states with live ones."""
    from aggregation.nowcast import NowcastConfig
    from aggregation.presale import PresaleConfig, PresaleForecaster

    frames = world(days=30, products=6, groups=10, seed=seed)
    origin = datetime(2026, 1, 26, 0, tzinfo=TZ)
    config = PresaleConfig(nowcast=NowcastConfig(max_iter=20), max_train_units=400, train_days=14)
    return frames, origin, PresaleForecaster(config).fit(frames, origin)


def panel_from(y: np.ndarray, future: int = 7, start: date = START):
    """A daily Panel (aggregation.timeseries) over the series × days matrix `y`: series p0000..,
    one warehouse, one category, from `start`; `future` more days of (empty) campaign plans."""
    from aggregation.timeseries import build_panel

    s, d = np.nonzero(y)
    daily = pl.DataFrame({"product_id": [f"p{i:04d}" for i in s], "warehouse_id": ["wh1"] * s.size,
                          "day": [date.fromordinal(start.toordinal() + int(k)) for k in d],
                          "qty": y[s, d].astype(float)})
    n = y.shape[0]
    products = pl.DataFrame({"product_id": [f"p{i:04d}" for i in range(n)], "category": ["fresh"] * n,
                             "price": [10.0] * n, "launched_on": [date(2025, 1, 1)] * n})
    end = date.fromordinal(start.toordinal() + y.shape[1])
    return build_panel(daily, products, start=start, end=end, future_days=future)
