"""Pick vintages scored against hand-computed outcomes, and A/B arms: stable, balanced, and a verdict
that finds the better arm."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from pipelines.evaluate.intervals import MIN_UNITS
from recsys.experiments import Experiment, assign_arms
from recsys.vintages import arm_verdicts, outcomes, per_list, relevant_counts, summary

TZ = ZoneInfo("Asia/Shanghai")
D1, D2 = date(2026, 5, 1), date(2026, 5, 2)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


VINTAGES = pl.DataFrame({
    "for_date": [D1, D1, D1, D2, D2],
    "group_id": ["g1", "g1", "g1", "g1", "g2"],
    "rank": [1, 2, 3, 1, 1],
    "product_id": ["a", "b", "c", "a", "z"],
    "slot": ["hot", "regular", "new", "hot", "hot"],
    "reason_code": ["hot_city", "regular_recent", "new_category", "hot_city", "hot_platform"],
})
ORDERS = pl.DataFrame({
    "group_id": ["g1", "g1", "g1", "g1", "g2", "g1"],
    "product_id": ["b", "x", "c", "a", "z", "a"],
    "ordered_at": [at(D1, 9), at(D1, 10), at(D1, 11), at(D2, 0) - timedelta(minutes=1), at(D2, 20),
                   at(D2, 8)],
    # c was refunded: not a hit; a at 23:59 on D1 counts for D1's list
    "status": ["paid", "paid", "refunded", "paid", "paid", "cancelled"],
})
POSTS = pl.DataFrame({"group_id": ["g1", "g2"], "product_id": ["a", "z"],
                      "posted_at": [at(D1, 8), at(D2, 7)]})


def test_outcomes_read_paid_orders_on_the_lists_day_in_platform_time():
    scored = outcomes(VINTAGES, ORDERS, POSTS).sort("for_date", "group_id", "rank")
    assert scored["ordered"].to_list() == [True, True, False, False, True]
    assert scored["posted"].to_list() == [True, False, False, False, True]


def test_per_list_metrics_by_hand():
    scored = outcomes(VINTAGES, ORDERS)
    lists = per_list(scored, relevant_counts(VINTAGES, ORDERS))
    d1 = lists.filter(pl.col("for_date") == D1).row(0, named=True)
    # g1 on D1: picks a, b, c; ordered a (rank 1), b (rank 2) and x (not picked): 3 relevant
    assert d1["picks"] == 3 and d1["hits"] == 2 and d1["hit"] == 1.0
    assert d1["precision"] == pytest.approx(2 / 3)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert d1["ndcg"] == pytest.approx((1 + 1 / np.log2(3)) / ideal)
    d2 = lists.filter(pl.col("for_date") == D2).sort("group_id").to_dicts()
    assert [r["hit"] for r in d2] == [0.0, 1.0] and d2[1]["ndcg"] == pytest.approx(1.0)


def test_summary_per_night_slot_reason_and_posted():
    scored = outcomes(VINTAGES, ORDERS, POSTS)
    s = summary(scored, per_list(scored, relevant_counts(VINTAGES, ORDERS)))
    assert [n["for_date"] for n in s["nights"]] == ["2026-05-01", "2026-05-02"]
    assert s["nights"][1]["hit_rate"] == pytest.approx(0.5)
    hot = next(r for r in s["by_slot"] if r["slot"] == "hot")
    assert hot["picks"] == 3 and hot["precision"] == pytest.approx(2 / 3)
    posted = {r["posted"]: r for r in s["posted_vs_not"]}
    assert posted[True]["conversion"] == 1.0 and posted[False]["conversion"] == pytest.approx(1 / 3)


def test_arms_are_stable_balanced_and_respect_the_share():
    groups = [f"g{i:05d}" for i in range(20000)]
    exp = Experiment("spring", ("production", "reorder"), share=0.5)
    a = assign_arms(groups, exp)
    assert a.height == pytest.approx(10000, abs=300)
    counts = a.group_by("arm").len().sort("arm")["len"].to_list()
    assert abs(counts[0] - counts[1]) < 300
    # the same every time, and adding groups does not move anyone
    more = assign_arms(groups + [f"h{i}" for i in range(500)], exp)
    assert a.join(more, on="group_id", suffix="_2").filter(pl.col("arm") != pl.col("arm_2")).height == 0
    assert assign_arms(groups[:10], exp).equals(a.filter(pl.col("group_id").is_in(groups[:10])))
    # another experiment splits independently
    other = assign_arms(groups, Experiment("autumn", ("production", "reorder"), share=0.5))
    assert 0.3 < a.join(other, on="group_id").height / a.height < 0.7
    assert exp.control == "production" and Experiment("x", ("reorder", "als")).control == "reorder"


def test_the_verdict_finds_the_better_arm_and_not_a_tie():
    rng = np.random.default_rng(0)
    n = 3000
    lists = pl.DataFrame({
        "arm": ["production"] * n + ["better"] * n + ["same"] * n,
        "hit": np.concatenate([rng.random(n) < p for p in (0.30, 0.36, 0.30)]).astype(float),
    })
    v = {x["arm"]: x for x in arm_verdicts(lists, control="production", min_units=MIN_UNITS)}
    assert v["better"]["real"] and v["better"]["ci_pct"][0] > 0
    assert 10 < v["better"]["relative_pct"] < 30
    assert v["better"]["verdict"].startswith("arm better +")
    assert not v["same"]["real"] and "no real difference" in v["same"]["verdict"]
