"""One definition of what is on sale: the ranker's `on_sale` feature is 1 exactly on the pairs the
pick rules may offer (a sold-out campaign and another warehouse's campaign are off in both; the two
copies disagreed before the renovation: the feature ignored sold-out and read 14 days, the rules 21),
with campaigns and without."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import polars as pl

from aggregation.demand import DemandConfig
from common.clock import TZ
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
    """The picking day's world plus campaigns opening later: tomorrow (every warehouse), the day after
    (another warehouse only), three days on (beyond UPCOMING_DAYS), and one that opened yesterday."""
    frames = _world()
    camps = frames["campaigns"]
    t0 = datetime.combine(DAY, time(9), tzinfo=TZ)

    def campaign(product: str, opens_in_days: int, warehouse: str | None) -> dict:
        opens = t0 + timedelta(days=opens_in_days)
        return {"campaign_id": f"later_{product}_{opens_in_days}", "product_id": product, "price": 1.0,
                "opens_at": opens, "closes_at": opens + timedelta(hours=12),
                "delivery_on": DAY + timedelta(days=opens_in_days + 2), "warehouse_id": warehouse,
                "max_qty": None}

    later = pl.DataFrame([campaign("p0085", 1, None), campaign("p0085", 2, None),
                          campaign("p0086", 2, "w-elsewhere"), campaign("p0087", 3, None),
                          campaign("p0088", -1, None)], schema=camps.schema)
    return {**frames, "campaigns": pl.concat([camps, later])}


def test_what_opens_in_the_coming_days_is_read_by_the_ranker_per_warehouse():
    frames = _upcoming_world()
    signal = build_signal(frames, day_start(DAY))
    g = np.arange(len(signal.groups))
    items = ["p0085", "p0086", "p0087", "p0088", "p0010"]
    grid = pl.DataFrame({"g": np.repeat(g, len(items)),
                         "i": np.tile(signal.items.encode(items), len(g))})
    got = grid.with_columns(opens_in=_opens_in(frames, signal, grid),
                            product_id=pl.Series(signal.items.decode(grid["i"].to_numpy())))
    per_item = got.group_by("product_id").agg(pl.col("opens_in").unique().sort()).sort("product_id")
    found = dict(zip(per_item["product_id"], per_item["opens_in"].to_list(), strict=True))
    assert found["p0085"] == [1]  # tomorrow and the day after: the earliest
    assert found["p0086"] == [None]  # only for a warehouse none of these groups is served by
    assert found["p0087"] == [None]  # three days on: beyond UPCOMING_DAYS
    assert found["p0088"] == [None]  # opened yesterday: on sale or closed, not upcoming
    assert found["p0010"] == [None]  # on sale today, nothing opening later
    assert UPCOMING_DAYS == 2 and DemandConfig().lookahead_days == UPCOMING_DAYS  # one definition


def test_the_ranker_sees_when_an_item_opens_and_nothing_without_campaigns():
    frames = _upcoming_world()
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
