"""Write snapshots in exactly the published format, for tests, benchmarks and the nightly's reference.

Format (what `api.snapshot.load_snapshot` validates):
  HOME/snapshots/<run_id>/{picks,demand,groups,products,campaigns}.parquet  (+ booking_curves.parquet)
  HOME/snapshots/<run_id>/report.html
  HOME/snapshots/<run_id>/manifest.json = {"run_id", "date", "model_version", "created_at" (ISO-8601
      with offset), "row_counts": {"picks.parquet": n, ...}, "metrics": {...},
      "files": {"picks.parquet": "<sha256 hex>", ...}}
  HOME/current -> HOME/snapshots/<run_id>  (new link renamed over the old one)
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from api.i18n import messages
from api.snapshot import OPTIONAL_FILES, REQUIRED_FILES
from common.contract import PLATFORM_TZ
from common.home import Home
from common.snapshot_format import publish as publish_folder
from common.snapshot_format import write_manifest

TS = pl.Datetime("us", PLATFORM_TZ)


def _ts(day: date, hour: int, days: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour) + timedelta(days=days)


def small_world(day: date = date(2026, 11, 22), model_version: str = "als-test-1") -> dict[str, pl.DataFrame]:
    """A hand-made world: shopkeepers S1 (groups G1, G2), S2 (G3); suppliers SUP1 (P1-P3), SUP2 (P4, P5).
    G1 and G2 have names, G3 has none (pages show its id); SUP1 has a name, SUP2 none."""
    groups = pl.DataFrame(
        {
            "group_id": ["G1", "G2", "G3"],
            "shopkeeper_id": ["S1", "S1", "S2"],
            "city": ["杭州", "杭州", "宁波"],
            "warehouse_id": ["W1", "W1", "W2"],
            "name": ["西湖宝妈团", "滨江吃货群", None],
        }
    )
    suppliers = pl.DataFrame({"supplier_id": ["SUP1"], "name": ["浙江绿源农业有限公司"]})
    products = pl.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4", "P5"],
            "supplier_id": ["SUP1", "SUP1", "SUP1", "SUP2", "SUP2"],
            "name": ["有机鸡蛋 30枚", "五常大米 5kg", "抽纸 家庭装", "婴儿湿巾 80抽", "Hand cream"],
            "category": ["fresh", "fresh", "household", "baby", "beauty"],
            "price": [29.9, 59.0, 19.9, 12.5, 35.0],
        }
    )
    campaigns = pl.DataFrame(
        {
            "campaign_id": ["C1", "C2", "C3"],
            "product_id": ["P1", "P2", "P4"],
            "supplier_id": ["SUP1", "SUP1", "SUP2"],
            "opens_at": [_ts(day, 8, -2), _ts(day, 8, -1), _ts(day, 8, -1)],
            "closes_at": [_ts(day, 20, 1), _ts(day, 20, 2), _ts(day, 20, 1)],
            "warehouse_id": ["W1", None, "W2"],
            "max_qty": [500, None, 300],
            "price": [29.9, 55.0, 11.0],  # the group-buy price: C3 sells P4 (list 12.5) at 11.0
        }
    ).with_columns(pl.col("opens_at", "closes_at").dt.replace_time_zone(PLATFORM_TZ))
    picks_spec = [("G1", ["P1", "P2", "P4"]), ("G2", ["P3", "P5"]), ("G3", ["P1", "P4"])]
    campaign_of = {"P1": "C1", "P2": "C2", "P4": "C3"}
    slots = ["hot", "regular", "replenish", "new"]
    # each pick's reason as published: code, its numbers, and the English sentence recsys writes
    reasons = {
        ("G1", "P1"): ("hot_city", {"groups": 38, "city": "杭州"}),
        ("G1", "P2"): ("regular_recent", {"orders": 3}),
        ("G1", "P4"): ("replenish_due", {"cycle_days": 6, "last_days": 6}),
        ("G2", "P3"): ("hot_category", {"pct": 12, "category": "household"}),
        ("G2", "P5"): ("regular_before", {"order_days": 2, "last_days": 45}),
        ("G3", "P1"): ("hot_platform", {"groups": 120}),
        ("G3", "P4"): ("regular_recent", {"orders": 1}),
    }
    rows = []
    for g, items in picks_spec:
        for rank, p in enumerate(items, start=1):
            code, args = reasons[(g, p)]
            rows.append(
                {
                    "group_id": g,
                    "for_date": day,
                    "rank": rank,
                    "product_id": p,
                    "campaign_id": campaign_of.get(p),
                    "score": round(1.0 / rank, 4),
                    "slot": slots[(rank - 1) % 4],
                    "reason": messages("en").reason(code, args),
                    "model_version": model_version,
                    "reason_code": code,
                    "reason_args": json.dumps(args, ensure_ascii=False),
                }
            )
    picks = pl.DataFrame(rows)
    demand = pl.DataFrame(
        {
            "as_of": [day] * 5,
            "campaign_id": ["C1", "C1", "C2", None, "C3"],
            "product_id": ["P1", "P1", "P2", "P3", "P4"],
            "supplier_id": ["SUP1", "SUP1", "SUP1", "SUP1", "SUP2"],
            "warehouse_id": ["W1", "W2", "W1", "W1", "W2"],
            "delivery_on": [day + timedelta(days=3)] * 5,
            "ordered_qty": [120, 40, 15, 8, 60],
            "groups_ordering": [12, 5, 3, 2, 7],
            "forecast_p10": [150.0, 50.0, 20.0, 9.0, 70.0],
            "forecast_p50": [180.0, 62.0, 31.0, 12.0, 85.0],
            "forecast_p90": [220.0, 80.0, 45.0, 16.0, 104.0],
            "suggested_qty": [200, 70, 38, 14, 95],
            "method": ["presale_curve", "presale_curve", "presale_curve", "seasonal_naive", "presale_curve"],
            "model_version": [model_version] * 5,
        }
    )
    curve_rows = []
    opened = {"C1": -2, "C2": -1, "C3": -1}
    for cid, wh, final in (("C1", "W1", 120), ("C1", "W2", 40), ("C2", "W1", 15), ("C3", "W2", 60)):
        hours = 24 * -opened[cid]
        for h in range(0, hours + 1, 4):
            curve_rows.append(
                {
                    "campaign_id": cid,
                    "warehouse_id": wh,
                    "at": _ts(day, 8, opened[cid]) + timedelta(hours=h),
                    "cum_qty": round(final * (h / hours) ** 0.7),
                }
            )
    curves = pl.DataFrame(curve_rows).with_columns(pl.col("at").dt.replace_time_zone(PLATFORM_TZ))
    return {
        "picks": picks,
        "demand": demand,
        "groups": groups,
        "products": products,
        "campaigns": campaigns,
        "booking_curves": curves,
        "suppliers": suppliers,
    }


def large_world(
    groups: int = 2000,
    shopkeepers: int = 500,
    products: int = 500,
    suppliers: int = 40,
    picks_per_group: int = 10,
    day: date = date(2026, 11, 22),
    seed: int = 7,
    model_version: str = "als-bench-1",
) -> dict[str, pl.DataFrame]:
    """A synthetic world of the S size for benchmarks (vectorized, a second or two)."""
    rng = np.random.default_rng(seed)
    gids = [f"G{i:06d}" for i in range(groups)]
    sids = [f"S{i:05d}" for i in range(shopkeepers)]
    pids = [f"P{i:05d}" for i in range(products)]
    sups = [f"SUP{i:03d}" for i in range(suppliers)]
    g = pl.DataFrame(
        {
            "group_id": gids,
            "shopkeeper_id": [sids[i % shopkeepers] for i in range(groups)],
            "city": "杭州",
            "warehouse_id": [f"W{i % 4}" for i in range(groups)],
        }
    )
    p = pl.DataFrame(
        {
            "product_id": pids,
            "supplier_id": [sups[i % suppliers] for i in range(products)],
            "name": [f"商品 {i} 号" for i in range(products)],
            "category": [
                ["fresh", "snacks", "household", "baby", "beauty", "health"][i % 6] for i in range(products)
            ],
            "price": np.round(rng.uniform(5, 80, products), 2),
        }
    )
    c = pl.DataFrame(
        {
            "campaign_id": [f"C{i:05d}" for i in range(products)],
            "product_id": pids,
            "supplier_id": [sups[i % suppliers] for i in range(products)],
            "opens_at": [_ts(day, 8, -1)] * products,
            "closes_at": [_ts(day, 20, 1)] * products,
            "warehouse_id": [None] * products,
            "max_qty": [None] * products,
        },
        schema_overrides={"warehouse_id": pl.String, "max_qty": pl.Int64},
    ).with_columns(pl.col("opens_at", "closes_at").dt.replace_time_zone(PLATFORM_TZ))
    chosen = np.stack([rng.choice(products, picks_per_group, replace=False) for _ in range(groups)])
    flat = chosen.reshape(-1)
    picks = pl.DataFrame(
        {
            "group_id": np.repeat(gids, picks_per_group),
            "for_date": [day] * (groups * picks_per_group),
            "rank": np.tile(np.arange(1, picks_per_group + 1), groups),
            "product_id": [pids[i] for i in flat],
            "campaign_id": [f"C{i:05d}" for i in flat],
            "score": np.round(rng.uniform(0, 1, flat.size), 4),
            "slot": [["hot", "regular", "replenish", "new"][i % 4] for i in range(flat.size)],
            "reason": ["同类社群这两天都在买" if i % 2 else "你的群每周都会回购" for i in range(flat.size)],
            "model_version": model_version,
        }
    )
    whs = 4
    n = products * whs
    qty = rng.integers(0, 300, n)
    demand = pl.DataFrame(
        {
            "as_of": [day] * n,
            "campaign_id": [f"C{i // whs:05d}" for i in range(n)],
            "product_id": [pids[i // whs] for i in range(n)],
            "supplier_id": [sups[(i // whs) % suppliers] for i in range(n)],
            "warehouse_id": [f"W{i % whs}" for i in range(n)],
            "delivery_on": [day + timedelta(days=3)] * n,
            "ordered_qty": qty,
            "groups_ordering": qty // 10,
            "forecast_p10": qty * 1.1,
            "forecast_p50": qty * 1.3,
            "forecast_p90": qty * 1.6,
            "suggested_qty": (qty * 1.4).astype(np.int64),
            "method": "presale_curve",
            "model_version": model_version,
        }
    )
    return {"picks": picks, "demand": demand, "groups": g, "products": p, "campaigns": c}


def write_snapshot(
    home: Home,
    frames: dict[str, pl.DataFrame],
    run_id: str | None = None,
    day: date = date(2026, 11, 22),
    model_version: str = "als-test-1",
    publish: bool = True,
    metrics: dict | None = None,
) -> Path:
    """Write a whole snapshot folder with its manifest (common.snapshot_format, as the nightly does);
    point HOME/current at it when `publish`."""
    run_id = run_id or f"{day.isoformat()}-{uuid.uuid4().hex[:8]}"
    folder = home.snapshots / run_id
    folder.mkdir(parents=True, exist_ok=False)
    row_counts = {}
    for name in [*REQUIRED_FILES, *OPTIONAL_FILES]:
        table = name.removesuffix(".parquet")
        if table not in frames:
            continue
        frames[table].write_parquet(folder / name)
        row_counts[name] = frames[table].height
    (folder / "report.html").write_text(f"<html><body><h1>run {run_id}</h1></body></html>", encoding="utf-8")
    write_manifest(folder, run_id=run_id, run_date=day, model_version=model_version, row_counts=row_counts,
                   metrics=metrics, durable=False)
    if publish:
        publish_snapshot(home, folder)
    return folder


def publish_snapshot(home: Home, folder: Path) -> None:
    """Switch HOME/current to `folder` atomically (common.snapshot_format.publish), unchecked: the
    API's own checks are what the tests exercise, broken folders included."""
    publish_folder(home, Path(folder), verify=False)
