"""Bottom-up group evidence as of an instant: counts match a brute force over the orders, nothing at or
after the cutoff leaks in, and the training and live states read it the same way."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from aggregation.group_reach import ReachConfig, group_reach
from tests.aggregation.synth import TZ, fitted_presale

T0 = datetime(2026, 3, 1, 0, tzinfo=TZ)
CONFIG = ReachConfig(prod_days=5, cat_days=9, all_days=3)


def random_orders(seed: int = 0, n: int = 400) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    groups = pl.DataFrame({"group_id": [f"G{i}" for i in range(12)],
                           "warehouse_id": [f"W{i % 2}" for i in range(12)]})
    products = pl.DataFrame({"product_id": [f"P{i}" for i in range(5)],
                             "category": ["a", "a", "b", "b", None]})
    at = [T0 + timedelta(hours=float(h)) for h in rng.uniform(0, 30 * 24, n)]
    orders = pl.DataFrame({"group_id": [f"G{i}" for i in rng.integers(0, 12, n)],
                           "product_id": [f"P{i}" for i in rng.integers(0, 5, n)],
                           "ordered_at": at}).with_columns(pl.col("ordered_at").dt.cast_time_unit("us"))
    return orders, groups, products


def brute(orders, groups, products, wh, pid, cat, cutoff, cfg: ReachConfig) -> tuple[int, int, int]:
    o = orders.join(groups, on="group_id").join(
        products.with_columns(pl.col("category").fill_null("unknown")), on="product_id")
    o = o.filter((pl.col("warehouse_id") == wh) & (pl.col("ordered_at") < cutoff))

    def count(f: pl.DataFrame, days: int) -> int:
        return f.filter(pl.col("ordered_at") >= cutoff - timedelta(days=days))["group_id"].n_unique()

    return (count(o.filter(pl.col("product_id") == pid), cfg.prod_days),
            count(o.filter(pl.col("category") == cat), cfg.cat_days), count(o, cfg.all_days))


def targets_frame(products: pl.DataFrame, seed: int = 1, n: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pids = [f"P{i}" for i in rng.integers(0, 5, n)]
    cats = dict(zip(products["product_id"], products["category"].fill_null("unknown"), strict=True))
    return pl.DataFrame({
        "campaign_id": [f"C{i}" for i in range(n)], "warehouse_id": [f"W{i}" for i in rng.integers(0, 2, n)],
        "product_id": pids, "category": [cats[p] for p in pids],
        "as_of": [T0 + timedelta(hours=float(h)) for h in rng.uniform(-24, 34 * 24, n)],
    }).with_columns(pl.col("as_of").dt.cast_time_unit("us"))


def test_reach_matches_brute_force():
    orders, groups, products = random_orders()
    targets = targets_frame(products)
    # an order exactly at a cutoff must not count
    orders = pl.concat([orders, targets.head(3).select(
        pl.lit("G0").alias("group_id"), "product_id", pl.col("as_of").alias("ordered_at"))])
    out = group_reach(orders, groups, products, targets, CONFIG).sort("campaign_id")
    assert out.height == targets.height
    for row in out.iter_rows(named=True):
        expected = brute(orders, groups, products, row["warehouse_id"], row["product_id"], row["category"],
                         row["as_of"], CONFIG)
        assert (row["reach_prod"], row["reach_cat"], row["reach_all"]) == expected, row


def test_orders_after_the_cutoff_never_leak():
    orders, groups, products = random_orders(seed=3)
    targets = targets_frame(products, seed=4)
    cut = targets["as_of"].min()
    early = targets.filter(pl.col("as_of") == cut)
    a = group_reach(orders, groups, products, early, CONFIG)
    b = group_reach(orders.filter(pl.col("ordered_at") < cut), groups, products, early, CONFIG)
    assert a.sort("campaign_id").equals(b.sort("campaign_id"))


@pytest.fixture(scope="module")
def fitted():
    return fitted_presale()


def test_training_and_live_states_read_the_same_evidence(fitted):
    """A training window's share-0 state equals the live state of the same campaign at its opening."""
    frames, origin, model = fitted
    cal = model.calibration_states_.filter(pl.col("share") == 0.0).sort("campaign_id", "warehouse_id").head(6)
    instants = cal.select("campaign_id", pl.col("instant")).unique()
    live = model.state_at(frames, instants).join(cal.select("campaign_id", "warehouse_id"),
                                                 on=["campaign_id", "warehouse_id"], how="semi")
    live = live.sort("campaign_id", "warehouse_id")
    for col in ("reach_prod", "reach_cat", "reach_all", "signal_total"):
        np.testing.assert_allclose(live[col].to_numpy(), cal[col].to_numpy())
    assert (cal["reach_all"] > 0).all() and (cal["signal_total"] >= 0).all()
