"""Reasons are data: every kind of pick gets its code, the numbers it quotes and an English sentence."""

from __future__ import annotations

import json
import re

import polars as pl

from recsys.picks import REASON_CODES, PicksConfig, with_reasons

# one pick per reason kind: the features with_reasons reads, set so that exactly that kind applies
BASE = {
    "slot": "hot", "from_peers": False, "sparse_group": False, "own_lines": 0, "own_lines_30": 0,
    "own_days": 0, "last_order_age": None, "cycle": None, "city_groups_7": 0, "i_groups_28": 0,
    "cat_share": 0.0, "i_posts": 0, "i_response_rate": 0.0, "product_age": 200, "peer_share": 0.0,
    "group_kind": "deals", "city": "Hangzhou", "g_history_days": 40, "category": "fresh", "i_buyers": 0,
    "seasonal_pick": False, "ly_groups": None, "ly_own_days": None,
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
    "new_launch": {"slot": "new", "product_age": 2, "cat_share": 0.03},
    "hot_city": {"city_groups_7": 38},
    "hot_platform": {"i_groups_28": 120},
    "hot_category": {"cat_share": 0.123, "category": "snacks"},
    "hot_buyers": {"cat_share": 0.03, "i_buyers": 7},
    "seasonal_own": {"seasonal_pick": True, "ly_own_days": 2, "ly_groups": 77, "city_groups_7": 0},
    "seasonal_platform": {"seasonal_pick": True, "ly_own_days": 0, "ly_groups": 77, "i_buyers": 90},
}
EXPECTED_ARGS = {
    "peers_new_group": {"pct": 42, "kind": "hot_items", "city": "Hangzhou"},
    "young_group_own": {"orders": 1, "group_days": 6},
    "replenish_due": {"cycle_days": 6, "last_days": 6},
    "regular_recent": {"orders": 3},
    "regular_before": {"order_days": 2, "last_days": 45},
    "new_responding": {"age_days": 3, "groups": 1, "post_pct": 25},
    "new_category": {"age_days": 5, "pct": 30, "category": "baby"},
    "new_launch": {"age_days": 2},
    "hot_city": {"groups": 38, "city": "Hangzhou"},
    "hot_platform": {"groups": 120},
    "hot_category": {"pct": 12, "category": "snacks"},
    "hot_buyers": {"groups": 7},
    "seasonal_own": {"order_days": 2},
    "seasonal_platform": {"groups": 77},
}
EXPECTED_ENGLISH = {
    "peers_new_group": "new group: 42% of hot-item groups in Hangzhou bought it in 4 weeks",
    "young_group_own": "your group ordered it once since starting 6 days ago",
    "replenish_due": "your group re-orders it about every 6 days; last order 6 days ago",
    "regular_recent": "your members ordered it 3 times in the last 30 days",
    "regular_before": "your group ordered it on 2 days; the last time 45 days ago",
    "new_responding": "new 3 days ago; 1 group ordered it so far, 25% of posts got orders",
    "new_category": "new 5 days ago; 30% of your orders are in its category",
    "new_launch": "new 2 days ago",
    "hot_city": "38 groups in Hangzhou ordered it in the last 7 days",
    "hot_platform": "120 groups on the platform ordered it in the last 4 weeks",
    "hot_category": "12% of your orders are in its category",
    "hot_buyers": "7 groups on the platform have ordered it",
    "seasonal_own": "your group ordered it on 2 days around this time last year",
    "seasonal_platform": "77 groups ordered it around this time last year",
}


def reason_frame() -> pl.DataFrame:
    """One row per reason code (column `case` names it), with the features with_reasons reads."""
    rows = [{**BASE, **overrides, "case": code} for code, overrides in CASES.items()]
    return pl.DataFrame(rows, schema_overrides={"cycle": pl.Float64, "last_order_age": pl.Int64,
                                                "ly_groups": pl.Int64, "ly_own_days": pl.Int64})


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


def test_a_count_of_one_day_reads_as_one_day_and_one_day_ago_as_yesterday():
    """"every 1 days", "new 1 days ago" read wrong in a shopkeeper's group: one day is a day, and one
    day before the picking day is yesterday."""
    frame = reason_frame().with_columns(
        cycle=pl.lit(1.2), last_order_age=pl.lit(1), product_age=pl.lit(1), g_history_days=pl.lit(1),
        own_days=pl.lit(1))
    reasons = dict(with_reasons(frame).select("case", "reason").iter_rows())
    assert reasons["replenish_due"] == "your group re-orders it about every day; last order yesterday"
    assert reasons["new_category"].startswith("new yesterday;")
    assert reasons["new_launch"] == "new yesterday"
    assert reasons["young_group_own"].endswith("since starting yesterday")
    assert reasons["regular_before"] == "your group ordered it on one day, yesterday"
    assert not any(re.search(r"\b1 days?\b", r) for r in reasons.values())


def test_a_product_launched_today_is_new_today_not_new_0_days_ago():
    frame = reason_frame().with_columns(product_age=pl.lit(0))
    reasons = dict(with_reasons(frame).select("case", "reason").iter_rows())
    assert reasons["new_category"] == "new today; 30% of your orders are in its category"
    assert reasons["new_responding"].startswith("new today; 1 group ordered it")
    assert reasons["new_launch"] == "new today"
    assert not any(re.search(r"\b0 days", r) for r in reasons.values())


def test_orders_on_one_day_read_one_day_not_once():
    """Four members ordering on the same day read "ordered it once": `order_days` counts days."""
    frame = reason_frame().filter(pl.col("case") == "regular_before").with_columns(
        own_days=pl.lit(1), last_order_age=pl.lit(31))
    out = with_reasons(frame)
    assert out["reason"][0] == "your group ordered it on one day, 31 days ago"
    assert json.loads(out["reason_args"][0]) == {"order_days": 1, "last_days": 31}


def test_one_or_two_groups_are_no_proof_that_a_pick_is_hot():
    """"上海有1个群近7天下过单" under 热卖 is no selling point: below PicksConfig.hot_min_groups the city's
    and the platform's counts are not quoted, and what else is known of the pick is said instead."""
    frame = reason_frame().filter(pl.col("case") == "hot_city").with_columns(
        city_groups_7=pl.lit(1), i_groups_28=pl.lit(2), cat_share=pl.lit(0.25), category=pl.lit("snacks"))
    out = with_reasons(frame)
    assert out["reason_code"][0] == "hot_category" and out["reason"][0].startswith("25% of")
    at = frame.with_columns(i_groups_28=pl.lit(3))
    assert with_reasons(at)["reason"][0] == "3 groups on the platform ordered it in the last 4 weeks"
    relaxed = with_reasons(frame, config=PicksConfig(hot_min_groups=1))
    assert relaxed["reason"][0] == "1 group in Hangzhou ordered it in the last 7 days"


def test_a_weak_category_share_is_no_selling_point():
    """3% of the group's orders in a category says nothing: below PicksConfig.notable_share the reason
    is another one (the launch for a new product, the groups that bought it for a hot one)."""
    frame = reason_frame().filter(pl.col("case").is_in(["new_category", "hot_category"])).with_columns(
        cat_share=pl.lit(0.03), i_buyers=pl.lit(4))
    codes = dict(with_reasons(frame).select("case", "reason_code").iter_rows())
    assert codes == {"new_category": "new_launch", "hot_category": "hot_buyers"}
    assert not with_reasons(frame)["reason"].str.contains("%").any()
    # the threshold is a setting, and at it the share is quoted (rounded as the sentence quotes it)
    at = frame.with_columns(cat_share=pl.lit(0.096))
    assert set(with_reasons(at)["reason_code"]) == {"new_category", "hot_category"}
    strict = with_reasons(at, config=PicksConfig(notable_share=0.2))
    assert set(strict["reason_code"]) == {"new_launch", "hot_buyers"}


def test_a_new_group_is_not_told_that_0_percent_of_its_peers_bought_it():
    """A cold group's pick its peers hardly bought (Online Retail: "新群：USA0%的普通群近4周买过") says
    what else is known of it instead."""
    frame = reason_frame().filter(pl.col("case") == "peers_new_group").with_columns(
        peer_share=pl.lit(0.002), city_groups_7=pl.lit(4))
    out = with_reasons(frame)
    assert out["reason_code"][0] == "hot_city"
    assert out["reason"][0] == "4 groups in Hangzhou ordered it in the last 7 days"


def test_with_nothing_else_known_the_category_share_is_the_last_resort():
    """A hot pick no group ever ordered, with no notable share: the share is the one number left."""
    frame = reason_frame().filter(pl.col("case") == "hot_category").with_columns(cat_share=pl.lit(0.03))
    out = with_reasons(frame)
    assert out["reason_code"][0] == "hot_category" and out["reason"][0].startswith("3% of")


def test_the_share_of_posts_that_got_orders_is_the_counted_share_not_the_rankers_smoothed_rate():
    """7 posts, 7 with orders read "73% of posts got orders": the ranker's rate (resp + 1) / (posts + 4)
    was quoted as if counted."""
    frame = reason_frame().filter(pl.col("case") == "new_responding").with_columns(
        i_posts=pl.lit(7), _i_resp=pl.lit(7), i_response_rate=pl.lit(8 / 11))
    out = with_reasons(frame)
    assert json.loads(out["reason_args"][0])["post_pct"] == 100
    assert out["reason"][0].endswith("100% of posts got orders")
