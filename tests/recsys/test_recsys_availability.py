"""One definition of what is on sale: the ranker's `on_sale` feature is 1 exactly on the pairs the
pick rules may offer (a sold-out campaign and another warehouse's campaign are off in both; the two
copies disagreed before the renovation: the feature ignored sold-out and read 14 days, the rules 21),
with campaigns and without."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.availability import RECENT_DAYS
from recsys.features import _on_sale
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
