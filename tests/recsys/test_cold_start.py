"""Cold start's peer shares: the share of the *other* groups of a group's city and kind."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.cold_start import peer_popularity
from tests.recsys.test_recsys_picks import world  # noqa: F401  (the module's fixture)


def test_a_groups_peer_share_counts_its_peers_and_not_itself(world):  # noqa: F811
    """"新群：上海67%的普通群近4周买过" where 4 of the 5 other groups had bought it (80%): the new group
    itself sat in the denominator, and a group's own orders counted as its peers' proof."""
    _, prod, _, _ = world
    signal = prod.signal
    meta = signal.group_meta.select("g", "city", "kind")
    recent = signal.daily.filter(pl.col("age") <= 28).select("g", "i").unique()
    new = signal.groups.encode(["g-new"])[0]
    veteran = int(recent["g"][0])
    got = peer_popularity(signal, np.array([new, veteran]))
    for g in (new, veteran):
        city, kind = meta.filter(pl.col("g") == g).row(0)[1:]
        others = meta.filter((pl.col("city") == city) & (pl.col("kind") == kind) & (pl.col("g") != g))["g"]
        bought = recent.filter(pl.col("g").is_in(others.implode())).group_by("i").agg(c=pl.len())
        expected = dict(bought.select("i", pl.col("c") / others.len()).iter_rows())
        mine = dict(got.filter(pl.col("g") == g).select("i", "peer_share").iter_rows())
        assert mine.keys() == expected.keys() and mine
        assert all(abs(mine[i] - expected[i]) < 1e-12 for i in mine)
