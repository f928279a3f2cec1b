"""Reasons are data: every kind of pick gets its code, the numbers it quotes and an English sentence."""

from __future__ import annotations

import json

import polars as pl

from recsys.picks import REASON_CODES, with_reasons

# one pick per reason kind: the features with_reasons reads, set so that exactly that kind applies
BASE = {
    "slot": "hot", "from_peers": False, "sparse_group": False, "own_lines": 0, "own_lines_30": 0,
    "own_days": 0, "last_order_age": None, "cycle": None, "city_groups_7": 0, "i_groups_28": 0,
    "cat_share": 0.0, "i_posts": 0, "i_response_rate": 0.0, "product_age": 200, "peer_share": 0.0,
    "group_kind": "deals", "city": "Hangzhou", "g_history_days": 40, "category": "fresh",
}
CASES: dict[str, dict] = {
    "peers_new_group": {"from_peers": True, "peer_share": 0.4167, "group_kind": "hot_items"},
    "young_group_own": {"sparse_group": True, "slot": "regular", "own_lines": 1, "g_history_days": 6},
    "replenish_due": {"slot": "replenish", "own_lines": 9, "own_days": 5, "cycle": 6.4, "last_order_age": 6},
    "regular_recent": {"slot": "regular", "own_lines": 4, "own_lines_30": 3, "own_days": 3},
    "regular_before": {"slot": "regular", "own_lines": 2, "own_days": 2, "last_order_age": 45},
    "new_responding": {
        "slot": "new", "product_age": 3, "i_posts": 12, "i_groups_28": 1, "i_response_rate": 0.25,
    },
    "new_category": {"slot": "new", "product_age": 5, "cat_share": 0.3, "category": "baby"},
    "hot_city": {"city_groups_7": 38},
    "hot_platform": {"i_groups_28": 120},
    "hot_category": {"cat_share": 0.123, "category": "snacks"},
}
EXPECTED_ARGS = {
    "peers_new_group": {"pct": 42, "kind": "hot_items", "city": "Hangzhou"},
    "young_group_own": {"orders": 1, "group_days": 6},
    "replenish_due": {"cycle_days": 6, "last_days": 6},
    "regular_recent": {"orders": 3},
    "regular_before": {"order_days": 2, "last_days": 45},
    "new_responding": {"age_days": 3, "groups": 1, "post_pct": 25},
    "new_category": {"age_days": 5, "pct": 30, "category": "baby"},
    "hot_city": {"groups": 38, "city": "Hangzhou"},
    "hot_platform": {"groups": 120},
    "hot_category": {"pct": 12, "category": "snacks"},
}
EXPECTED_ENGLISH = {
    "peers_new_group": "new group: 42% of hot-item groups in Hangzhou bought it in 4 weeks",
    "young_group_own": "your group ordered it once since starting 6 days ago",
    "replenish_due": "your group re-orders it about every 6 days; last order 6 days ago",
    "regular_recent": "your members ordered it 3 times in the last 30 days",
    "regular_before": "your group ordered it on 2 days before; last time 45 days ago",
    "new_responding": "new 3 days ago; 1 group ordered it so far, 25% of posts got orders",
    "new_category": "new 5 days ago; 30% of your orders are in its category",
    "hot_city": "38 groups in Hangzhou ordered it in the last 7 days",
    "hot_platform": "120 groups on the platform ordered it in the last 4 weeks",
    "hot_category": "12% of your orders are in its category",
}


def reason_frame() -> pl.DataFrame:
    """One row per reason code (column `case` names it), with the features with_reasons reads."""
    rows = [{**BASE, **overrides, "case": code} for code, overrides in CASES.items()]
    return pl.DataFrame(rows, schema_overrides={"cycle": pl.Float64, "last_order_age": pl.Int64})


def test_every_reason_kind_has_a_case_here():
    assert set(CASES) == set(REASON_CODES) == set(EXPECTED_ARGS) == set(EXPECTED_ENGLISH)


def test_each_kind_gets_its_code_its_numbers_and_its_english_sentence():
    out = with_reasons(reason_frame())
    for case, code, args, reason in out.select("case", "reason_code", "reason_args", "reason").iter_rows():
        assert code == case
        assert json.loads(args) == EXPECTED_ARGS[case]
        assert list(json.loads(args)) == list(REASON_CODES[case])  # the documented numbers, in order
        assert reason == EXPECTED_ENGLISH[case]


def test_reason_args_are_json_objects_even_for_text_that_needs_escaping():
    frame = reason_frame().with_columns(city=pl.lit('上海"浦东'))
    out = with_reasons(frame).filter(pl.col("reason_code") == "hot_city")
    assert json.loads(out["reason_args"][0]) == {"groups": 38, "city": '上海"浦东'}


def test_a_count_of_one_day_reads_as_one_day():
    """"every 1 days", "new 1 days ago" read wrong in a shopkeeper's group: one day is a day."""
    frame = reason_frame().with_columns(
        cycle=pl.lit(1.2), last_order_age=pl.lit(1), product_age=pl.lit(1), g_history_days=pl.lit(1),
        own_days=pl.lit(1))
    reasons = dict(with_reasons(frame).select("case", "reason").iter_rows())
    assert reasons["replenish_due"] == "your group re-orders it about every 1 day; last order 1 day ago"
    assert reasons["new_category"].startswith("new 1 day ago;")
    assert reasons["young_group_own"].endswith("since starting 1 day ago")
    assert not any("1 days" in r for r in reasons.values())
