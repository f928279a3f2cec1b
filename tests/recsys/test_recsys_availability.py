"""One definition of what is on sale: the ranker's `on_sale` feature is 1 exactly on the pairs the
pick rules may offer (a sold-out campaign and another warehouse's campaign are off in both; the two
copies disagreed before the renovation: the feature ignored sold-out and read 14 days, the rules 21),
with campaigns and without."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from aggregation.demand import DemandConfig, live_campaigns
from common.contract import UPCOMING_DAYS
from recsys.availability import RECENT_DAYS
from recsys.features import _on_sale, _opens_in, add_features, feature_columns
from recsys.picks import PicksConfig, available
from recsys.signal import build_signal, day_start
from tests.recsys.test_recsys_picks import DAY, _world


def pairs_on_sale(frames, signal) -> tuple[set, set]:
    g = np.arange(len(signal.groups))
    allowed = available(frames, signal, g, PicksConfig())
    n = len(signal.items)
    grid = pl.DataFrame({"g": np.repeat(g, n), "i": np.tile(np.arange(n), len(g))})
    flag = _on_sale(frames, signal, grid)
    feature = set(map(tuple, grid.filter(flag == 1.0).select("g", "i").rows()))
    return feature, set(map(tuple, allowed.select("g", "i").rows()))


def test_the_feature_and_the_rules_agree_with_campaigns():
    frames = _world()
    signal = build_signal(frames, day_start(DAY))
    feature, rules = pairs_on_sale(frames, signal)
    assert rules and feature == rules
    sold_out = signal.items.encode(["p0001"])[0]
    assert not any(i == sold_out for _, i in feature)  # sold out before the day: off in both


def test_the_feature_and_the_rules_agree_without_campaigns():
    frames = _world()
    frames = {**frames, "campaigns": frames["campaigns"].clear()}
    signal = build_signal(frames, day_start(DAY))
    feature, rules = pairs_on_sale(frames, signal)
    assert rules and feature == rules
    assert PicksConfig().recent_days == RECENT_DAYS


def _upcoming_world():
    """The picking day's world plus campaigns opening later: tomorrow (every warehouse; and the day after),
    tomorrow at another warehouse only, the day after at 09:00 (beyond UPCOMING_DAYS of the day's start),
    exactly UPCOMING_DAYS after the day's start (one group's warehouse), later on the picking day itself
    (on sale, not upcoming), and one that opened yesterday."""
    frames = _world()
    camps = frames["campaigns"]
    start = day_start(DAY)
    home = frames["groups"]["warehouse_id"][0]

    def campaign(product: str, opens: datetime, warehouse: str | None) -> dict:
        return {"campaign_id": f"later_{product}_{opens:%d%H}", "product_id": product, "price": 1.0,
                "opens_at": opens, "closes_at": opens + timedelta(hours=12),
                "delivery_on": opens.date() + timedelta(days=2), "warehouse_id": warehouse, "max_qty": None}

    nine = timedelta(hours=9)
    later = pl.DataFrame([campaign("p0085", start + timedelta(days=1) + nine, None),
                          campaign("p0085", start + timedelta(days=2) + nine, None),
                          campaign("p0086", start + timedelta(days=1) + nine, "w-elsewhere"),
                          campaign("p0087", start + timedelta(days=2) + nine, None),
                          campaign("p0089", start + timedelta(days=UPCOMING_DAYS), home),
                          campaign("p0084", start + timedelta(hours=15), None),
                          campaign("p0088", start - timedelta(days=1) + nine, None)], schema=camps.schema)
    return {**frames, "campaigns": pl.concat([camps, later])}, home


def test_what_opens_in_the_coming_days_is_read_by_the_ranker_per_warehouse():
    frames, home = _upcoming_world()
    signal = build_signal(frames, day_start(DAY))
    g = np.arange(len(signal.groups))
    items = ["p0085", "p0086", "p0087", "p0088", "p0089", "p0084", "p0010"]
    grid = pl.DataFrame({"g": np.repeat(g, len(items)),
                         "i": np.tile(signal.items.encode(items), len(g))})
    got = grid.with_columns(opens_in=_opens_in(frames, signal, grid),
                            product_id=pl.Series(signal.items.decode(grid["i"].to_numpy())))
    got = got.join(signal.group_meta.select("g", "warehouse_id"), on="g")
    per_item = got.group_by("product_id").agg(pl.col("opens_in").unique().sort()).sort("product_id")
    found = dict(zip(per_item["product_id"], per_item["opens_in"].to_list(), strict=True))
    assert found["p0085"] == [1]  # tomorrow, and again the day after: the earliest
    assert found["p0086"] == [None]  # only for a warehouse none of these groups is served by
    assert found["p0087"] == [None]  # the day after at 09:00: beyond UPCOMING_DAYS of the day's start
    assert found["p0088"] == [None]  # opened yesterday: on sale or closed, not upcoming
    assert found["p0084"] == [None]  # opens later today: on sale today (on_sale), not upcoming
    assert found["p0010"] == [None]  # on sale today, nothing opening later
    at_home = got.filter(pl.col("product_id") == "p0089")
    assert at_home.filter(pl.col("warehouse_id") == home)["opens_in"].to_list() == [2] * at_home.filter(
        pl.col("warehouse_id") == home).height
    assert at_home.filter(pl.col("warehouse_id") != home)["opens_in"].null_count() == at_home.filter(
        pl.col("warehouse_id") != home).height
    # one rule with the demand table: what it forecasts beyond today is what the ranker calls upcoming
    live = live_campaigns(frames["campaigns"], day_start(DAY), DemandConfig())
    beyond_today = set(live.filter(pl.col("opens_at") >= day_start(DAY) + timedelta(days=1))["product_id"])
    assert beyond_today == {"p0085", "p0086", "p0089"}
    assert set(got.filter(pl.col("opens_in").is_not_null())["product_id"]) == beyond_today - {"p0086"}


def test_the_ranker_sees_when_an_item_opens_and_nothing_without_campaigns():
    frames, _ = _upcoming_world()
    signal = build_signal(frames, day_start(DAY))
    n = len(signal.items)
    grid = pl.DataFrame({"g": np.zeros(n, dtype=np.int64), "i": np.arange(n)})
    feats = add_features(grid, signal, frames)
    p85 = feats.filter(pl.col("i") == signal.items.encode(["p0085"])[0])
    assert p85["opens_in"].to_list() == [1] and p85["opens_soon"].to_list() == [1.0]
    assert "opens_in" in feature_columns(feats) and "opens_soon" in feature_columns(feats)
    without = {**frames, "campaigns": frames["campaigns"].clear()}
    feats = add_features(grid, build_signal(without, day_start(DAY)), without)
    assert feats["opens_in"].null_count() == n and (feats["opens_soon"] == 0.0).all()
