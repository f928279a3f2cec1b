"""Each pick rule holds on generated data: never two of a category and price band, never an
unavailable product, fatigue respected, replenish only when a cycle is due; reasons from numbers."""

import json
from datetime import date, datetime, time, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsys.picks import (
    PICKS_SCHEMA,
    PicksConfig,
    assign_slots,
    back_in_season,
    make_picks,
    price_bands,
    select,
    with_reasons,
)
from recsys.production import ProductionConfig, train_production
from recsys.ranker import RankerConfig
from recsys.signal import TZ, day_start
from recsys.tuning import TuningConfig
from tests.recsys.test_picks_reasons import BASE
from tests.recsys.world import make_world

DAY = date(2024, 3, 31)
FAST = ProductionConfig(
    ranker=RankerConfig(max_iter=40, train_windows=1),
    tuning=TuningConfig(
        grids={
            "popularity": [{"half_life": 7.0}],
            "city_popularity": [{}],
            "reorder": [{}],
            "itemknn_cosine": [{"K": 20}],
            "itemknn_bm25": [{"K": 20}],
            "als": [{"factors": 16}],
            "bpr": [{"factors": 16}],
            "members": [{}],
        }
    ),
)


def _world():
    frames = make_world(groups=50, products=90, days=40, end=DAY - timedelta(days=1), seed=3)
    # campaigns for the picking day; one of them sold out, one for another warehouse only
    t0 = datetime.combine(DAY, time(9), tzinfo=TZ)
    camps = frames["campaigns"]
    today = pl.DataFrame(
        {
            "campaign_id": [f"today_{p}" for p in frames["products"]["product_id"]],
            "product_id": frames["products"]["product_id"],
            "price": frames["products"]["price"],
            "opens_at": [t0] * 90,
            "closes_at": [t0 + timedelta(hours=12)] * 90,
            "delivery_on": [DAY + timedelta(days=2)] * 90,
            "warehouse_id": [None] * 90,
            "max_qty": [None] * 90,
        },
        schema=camps.schema,
    ).filter(pl.col("product_id") <= "p0080")
    today = today.with_columns(
        max_qty=pl.when(pl.col("product_id") == "p0001").then(1).otherwise(None).cast(pl.Int64),
        warehouse_id=pl.when(pl.col("product_id") == "p0002").then(pl.lit("w-elsewhere")),
    )
    # a sale on the sold-out campaign before the day starts
    sold = (
        frames["orders"]
        .head(1)
        .with_columns(
            order_id=pl.lit("sold-out"),
            product_id=pl.lit("p0001"),
            campaign_id=pl.lit("today_p0001"),
            quantity=pl.lit(1, pl.Int64),
            ordered_at=pl.lit(day_start(DAY) - timedelta(hours=1)),
            status=pl.lit("paid"),
        )
    )
    frames["campaigns"] = pl.concat([camps, today])
    frames["orders"] = pl.concat([frames["orders"], sold])
    # a brand-new group with no history
    g = frames["groups"]
    frames["groups"] = pl.concat(
        [g, g.head(1).with_columns(group_id=pl.lit("g-new"), shopkeeper_id=pl.lit("g-new"))]
    )
    return frames


@pytest.fixture(scope="module")
def world():
    frames = _world()
    prod = train_production(frames, DAY, FAST)
    picks, info = make_picks(prod, DAY)
    return frames, prod, picks, info


def test_picks_have_the_design_columns_and_at_most_n_per_group(world):
    _, _, picks, _ = world
    assert dict(picks.schema) == PICKS_SCHEMA
    per = picks.group_by("group_id").agg(n=pl.len(), ranks=pl.col("rank").sort())
    # shorter than 10 where little but hot items is on sale for a group (the hot quota holds)
    assert per["n"].max() <= 10 and per["n"].min() >= 3 and (per["n"] == 10).any()
    assert all(r.to_list() == list(range(1, len(r) + 1)) for r in per["ranks"])
    assert set(picks["slot"]) <= {"hot", "regular", "replenish", "new"}
    assert (picks["for_date"] == DAY).all()


def test_never_two_of_a_category_and_price_band(world):
    _, prod, picks, _ = world
    bands = price_bands(prod.signal, PicksConfig().price_bands)
    p = prod.signal.items.encode_column(picks, "product_id", "i").join(bands, on="i")
    assert p.group_by("group_id", "category", "band").len()["len"].max() == 1


def test_never_an_unavailable_product(world):
    frames, _, picks, _ = world
    start, end = day_start(DAY), day_start(DAY) + timedelta(days=1)
    c = frames["campaigns"]
    open_today = c.filter((pl.col("opens_at") < end) & (pl.col("closes_at") > start))
    joined = picks.join(open_today, on="campaign_id", how="left")
    assert joined["opens_at"].null_count() == 0  # every pick rides on a campaign open that day
    assert (joined["product_id"] == joined["product_id_right"]).all()
    assert "p0001" not in picks["product_id"].to_list()  # sold out (max_qty 1, one sold)
    assert "p0002" not in picks["product_id"].to_list()  # only for another warehouse
    assert not (picks["product_id"] > "p0080").any()  # no campaign that day


def test_fatigue_respected_unless_the_group_keeps_reordering(world):
    frames, _, picks, _ = world
    cfg = PicksConfig()
    start = day_start(DAY)
    recent_posts = frames["posts"].filter(pl.col("posted_at") >= start - timedelta(days=cfg.fatigue_days))
    order_days = (
        frames["orders"]
        .filter(
            (pl.col("status") == "paid")
            & (pl.col("ordered_at") < start)
            & (pl.col("ordered_at") >= start - timedelta(days=30))
        )
        .group_by("group_id", "product_id")
        .agg(days=pl.col("ordered_at").dt.date().n_unique())
    )
    pushed = picks.join(recent_posts.select("group_id", "product_id").unique(), on=["group_id", "product_id"])
    assert pushed.height > 0  # the rule has something to bite on
    pushed = pushed.join(order_days, on=["group_id", "product_id"], how="left")
    assert (pushed["days"].fill_null(0) >= cfg.reorder_exempt_days).all()
    # and with a longer window and no exemption, nothing posted recently comes back
    _, prod, _, _ = world
    strict = PicksConfig(fatigue_days=10, reorder_exempt_days=10_000)
    p2, _ = make_picks(prod, DAY, strict)
    posted10 = frames["posts"].filter(pl.col("posted_at") >= start - timedelta(days=10))
    assert p2.join(posted10, on=["group_id", "product_id"]).height == 0


def test_replenish_slot_only_when_a_cycle_is_due(world):
    frames, _, picks, _ = world
    cfg = PicksConfig()
    days = (
        frames["orders"]
        .filter((pl.col("status") == "paid") & (pl.col("ordered_at") < day_start(DAY)))
        .select("group_id", "product_id", day=pl.col("ordered_at").dt.date())
        .unique()
        .group_by("group_id", "product_id")
        .agg(n=pl.len(), first=pl.col("day").min(), last=pl.col("day").max())
    )
    rep = picks.filter(pl.col("slot") == "replenish").join(days, on=["group_id", "product_id"], how="left")
    assert rep.height > 0
    assert (rep["n"] >= 2).all()
    cycle = (rep["last"] - rep["first"]).dt.total_days() / (rep["n"] - 1)
    since = (pl.Series([DAY] * rep.height) - rep["last"]).dt.total_days()
    assert (since >= cfg.due_ratio * cycle - 1e-9).all()
    # the reason quotes those numbers
    for reason, c, s in zip(rep["reason"], cycle, since, strict=True):
        assert f"every {round(c)} days" in reason and f"{s} days ago" in reason


def test_slot_mix_and_reasons_from_numbers(world):
    _, _, picks, info = world
    assert info["slots"]["regular"] > 0 and info["slots"]["hot"] > 0
    assert picks["reason"].str.contains(r"\d|\btoday\b|\byesterday\b").all()  # numbers, or the day in words
    assert not picks["reason"].str.contains(r"\b1 (times|groups)\b").any()
    assert picks["reason"].str.len_chars().max() < 90


def test_cold_group_gets_picks_from_its_peers(world):
    _, _, picks, _ = world
    new = picks.filter(pl.col("group_id") == "g-new")
    assert new.height >= 5 and set(new["slot"]) <= {"hot", "new"}


def test_n_is_configurable_and_not_interested_is_respected(world):
    frames, prod, picks, _ = world
    three, _ = make_picks(prod, DAY, PicksConfig(n=3))
    assert three.group_by("group_id").len()["len"].max() == 3
    top = picks.filter((pl.col("group_id") == "g0001") & (pl.col("rank") == 1))["product_id"][0]
    fb = pl.DataFrame(
        {
            "group_id": ["g0001"],
            "product_id": [top],
            "action": ["not_interested"],
            "at": [day_start(DAY) - timedelta(hours=2)],
        }
    ).cast({"at": pl.Datetime("us", "Asia/Shanghai")})
    frames2 = {**frames, "feedback": pl.concat([frames["feedback"], fb], how="diagonal_relaxed")}
    prod2 = train_production(frames2, DAY, FAST)
    again, _ = make_picks(prod2, DAY, groups=pl.Series(["g0001"]))
    assert top not in again["product_id"].to_list()


def test_without_campaign_data_the_available_set_is_what_sold_recently(world):
    frames, _, _, _ = world
    bare = {**frames, "campaigns": frames["campaigns"].clear(), "posts": frames["posts"].clear()}
    prod = train_production(bare, DAY, FAST)
    picks, info = make_picks(prod, DAY)
    sold = frames["orders"].filter(
        (pl.col("status") == "paid")
        & (pl.col("ordered_at") < day_start(DAY))
        & (pl.col("ordered_at") >= day_start(DAY) - timedelta(days=22))
    )
    assert picks.height > 0 and "no campaign data" in info["source"]
    assert set(picks["product_id"]) <= set(sold["product_id"])
    assert picks["campaign_id"].null_count() == picks.height


def _slate(slots, scores, peer_led=False):
    n = len(slots)
    return pl.DataFrame(
        {
            "g": [0] * n,
            "i": list(range(n)),
            "slot": slots,
            "score": [float(s) for s in scores],
            "prior_new": [0.0] * n,
            "category": [f"c{j}" for j in range(n)],
            "band": [0] * n,
            "peer_led": [peer_led] * n,
        }
    )


def test_select_keeps_slot_quotas_and_fills_beyond_them_only_when_short():
    cfg = PicksConfig(n=6, hot_max=2)
    rich = select(_slate(["hot"] * 5 + ["regular"] * 5, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5]), cfg)
    assert rich["slot"].to_list().count("hot") == 2 and rich.height == 6
    # new (and replenish) beyond their quota fill a short list
    short = select(_slate(["new"] * 5 + ["regular"], [9, 8, 7, 6, 5, 4]), cfg)
    assert short["slot"].to_list().count("new") == 5 and short.height == 6
    assert short["rank"].to_list() == list(range(1, 7))


def test_hot_beyond_its_quota_never_fills_a_list_with_a_history_of_its_own():
    """DESIGN: one or two hot items; a shorter list rather than a list of hot items. Only a list that
    leans on its peers (no history, or a few days of it) fills up with them."""
    cfg = PicksConfig(n=6, hot_max=2)
    own = select(_slate(["hot"] * 5 + ["regular"], [9, 8, 7, 6, 5, 4]), cfg)
    assert own["slot"].to_list() == ["hot", "hot", "regular"]
    assert own["rank"].to_list() == [1, 2, 3]
    peers = select(_slate(["hot"] * 5 + ["regular"], [9, 8, 7, 6, 5, 4], peer_led=True), cfg)
    assert peers["slot"].to_list().count("hot") == 5 and peers.height == 6


def test_hot_items_the_quota_leaves_out_do_not_take_the_cells_of_the_groups_own_items():
    """Hot items that score higher than the group's regulars in the same (category, band) must not
    keep those cells and then be cut by the quota, leaving a list of hot items to fill with
    (the g000010 case: 23 products of its own history, 7-9 hot picks)."""
    hot = _slate(["hot"] * 4, [9, 8, 7, 6])
    regular = _slate(["regular"] * 4, [5, 4, 3, 2]).with_columns(i=pl.col("i") + 10)
    out = select(pl.concat([hot, regular]), PicksConfig(n=4, hot_max=2))
    assert sorted(out["slot"].to_list()) == ["hot", "hot", "regular", "regular"]
    assert out.group_by("category", "band").len()["len"].max() == 1
    assert out["i"].to_list() == [0, 1, 12, 13]


def test_replenish_needs_two_order_days_and_regular_needs_regular_min_days():
    """One order 58 days ago is 'bought before' (regular), never due for replenishment; with
    regular_min_days=2 it is hot (or new, if launched lately) like any other."""
    frame = pl.DataFrame({
        "own_lines": [1, 1, 3, 4, 0, 1],
        "own_days": [1, 1, 2, 3, 0, 1],
        "last_order_age": [58, 3, 5, 9, None, 30],
        "cycle": [None, None, 15.0, 4.0, None, 10.0],
        "product_age": [300.0, 5.0, 300.0, 300.0, 5.0, 300.0],
    }, schema_overrides={"cycle": pl.Float64, "last_order_age": pl.Int64})
    slots = assign_slots(frame, PicksConfig())["slot"].to_list()
    assert slots == ["regular", "regular", "regular", "replenish", "new", "regular"]
    strict = assign_slots(frame, PicksConfig(regular_min_days=2))["slot"].to_list()
    assert strict == ["hot", "new", "regular", "replenish", "new", "hot"]


def test_the_world_keeps_the_hot_quota_and_regulars_are_repeat_orders(world):
    frames, prod, picks, _ = world
    cfg = PicksConfig()
    young = set(prod.signal.groups.decode(
        prod.signal.daily.group_by("g").agg(first=pl.col("age").max())
        .filter(pl.col("first") < cfg.sparse_days)["g"].to_numpy()))
    established = picks.filter(~pl.col("group_id").is_in(list(young | {"g-new"})))
    hot = established.group_by("group_id").agg(hot=(pl.col("slot") == "hot").sum())
    assert hot["hot"].max() <= cfg.hot_max
    days = (
        frames["orders"]
        .filter((pl.col("status") == "paid") & (pl.col("ordered_at") < day_start(DAY)))
        .group_by("group_id", "product_id")
        .agg(days=pl.col("ordered_at").dt.date().n_unique())
    )
    own = picks.filter(pl.col("slot").is_in(["regular", "replenish"])).join(
        days, on=["group_id", "product_id"], how="left")
    assert own.height > 0 and (own["days"].fill_null(0) >= cfg.regular_min_days).all()


def test_select_reserves_a_place_for_the_best_replenish_item():
    cfg = PicksConfig(n=3)
    out = select(_slate(["regular"] * 4 + ["replenish"], [9, 8, 7, 6, 1]), cfg)
    assert "replenish" in out["slot"].to_list() and out.height == 3


def test_select_never_takes_two_of_a_category_and_band():
    f = _slate(["regular"] * 4, [4, 3, 2, 1]).with_columns(
        category=pl.lit("fresh"), band=pl.Series([0, 0, 1, 1])
    )
    out = select(f, PicksConfig(n=4))
    assert out["i"].to_list() == [0, 2]


def test_groups_scored_in_chunks_get_the_same_picks_and_ranking(world, monkeypatch):
    import recsys.production

    _, prod, picks, info = world
    whole = prod.rank(prod.signal.groups.ids, 10)
    monkeypatch.setattr(recsys.production, "GROUP_CHUNK", 7)  # 51 groups -> 8 chunks
    chunked, chunked_info = make_picks(prod, DAY)
    assert_frame_equal(chunked, picks)
    assert chunked_info == info
    assert_frame_equal(prod.rank(prod.signal.groups.ids, 10), whole)


def test_a_group_with_one_week_of_history_gets_its_own_items_then_its_peers_and_says_so():
    frames = _world()
    orders = frames["orders"]
    young = orders.filter(pl.col("status") == "paid")["group_id"].mode().sort()[0]
    week_ago = day_start(DAY - timedelta(days=6))
    frames["orders"] = orders.filter((pl.col("group_id") != young) | (pl.col("ordered_at") >= week_ago))
    own_items = set(frames["orders"].filter((pl.col("group_id") == young) & (pl.col("status") == "paid"))[
        "product_id"])
    assert own_items, "the young group needs a few orders in its first week"
    prod = train_production(frames, DAY, FAST)
    picks, _ = make_picks(prod, DAY, groups=pl.Series([young]))
    assert picks.height >= 5
    own = picks.filter(pl.col("product_id").is_in(list(own_items)))
    peers = picks.filter(~pl.col("product_id").is_in(list(own_items)))
    assert own.height >= 1 and peers.height >= 1
    assert own["reason"].str.contains("since starting").all()
    # its age is counted as a product's is: the list's day minus the day of its first order
    first = frames["orders"].filter(pl.col("group_id") == young)["ordered_at"].min()
    age = (DAY - first.astimezone(TZ).date()).days
    assert {json.loads(a)["group_days"] for a in own["reason_args"]} == {age}
    assert peers.filter(pl.col("slot") != "new")["reason"].str.starts_with("new group:").all()
    # its own items outrank what it borrows from its peers (slots aside, by score)
    assert own["score"].min() > peers.filter(pl.col("slot") != "new")["score"].max()


def test_the_pick_stages_are_a_list_to_swap_in_one_line(world):
    """The default list gives the published picks; a stage added in one line acts (here: a rule that
    keeps one category out), and every other stage still runs (slots, reasons)."""
    from recsys.picks import PICK_STAGES

    frames, prod, picks, _ = world
    same, _ = make_picks(prod, DAY, stages=PICK_STAGES)
    assert_frame_equal(same, picks)
    banned = picks["product_id"][0]
    i = prod.signal.items.encode([banned])[0]
    stages = (("no_banned", lambda f, s, c: f.filter(pl.col("i") != i)), *PICK_STAGES)
    other, _ = make_picks(prod, DAY, stages=stages)
    assert banned not in set(other["product_id"]) and other.height > 0
    assert other["reason"].is_not_null().all()
    assert set(other["slot"]) <= {"hot", "regular", "replenish", "new"}


def test_the_reasons_stage_reads_the_counted_responses_the_features_carry(world):
    """`with_reasons` quotes a new product's counted share of posts that got orders from the features'
    `_i_resp`; were it dropped on the way (a select of the ranker's columns), the reason would fall back
    to the ranker's smoothed rate without a word."""
    from recsys.picks import PICK_STAGES

    _, prod, _, _ = world
    seen: list[list[str]] = []

    def watch(frame, signal, config):
        seen.append(frame.columns)
        return frame

    stages = tuple((name, fn) if name != "reasons" else ("reasons", (
        lambda f, s, c, fn=fn: fn(watch(f, s, c), s, c))) for name, fn in PICK_STAGES)
    make_picks(prod, DAY, stages=stages)
    assert seen and all("_i_resp" in columns and "i_posts" in columns for columns in seen)


def test_a_group_the_signal_does_not_know_gets_the_popular_list_not_nothing(world):
    """A group created after the instant (an evaluation's new customer) is outside the signal; every
    generator answers it with the popular items, and so must production (an empty list scored 0)."""
    prod = world[1]
    assert prod.ranker is not None, "the world publishes the ranker (its path is tested here)"
    known = prod.signal.group_meta["group_id"].head(2)
    ranked = prod.rank(pl.concat([known, pl.Series(["g-new-1", "g-new-2"])]), 10)
    new = ranked.filter(pl.col("group_id").str.starts_with("g-new"))
    popular = prod.models["popularity"].recommend(pl.Series(["g-new-1"]), 10)["product_id"].to_list()
    assert new.filter(pl.col("group_id") == "g-new-1")["product_id"].to_list() == popular
    assert new.filter(pl.col("group_id") == "g-new-2").height == 10
    assert set(ranked["group_id"]) == {*known, "g-new-1", "g-new-2"}


def test_an_item_back_in_season_keeps_a_place_in_the_list_and_only_the_best_one():
    """汤圆 the week of 元宵节: nobody ordered it for eleven months, so the ranker scores it low, but on
    the same days last year the group (or a notable share of the groups) did. The best such item
    keeps a place in the list (`PicksConfig.seasonal_max`, by default one), where its score puts it,
    and says why; the others are left to the quotas."""
    slate = _slate(["regular", "regular", "hot", "hot", "hot"], [9, 8, 0.5, 0.4, 0.3]).with_columns(
        back_in_season=pl.Series([False, False, False, True, True]),
        ly_own_days=pl.Series([0, 0, 0, 0, 2]),  # the group bought the last one itself then
        ly_share=pl.Series([0.0, 0.0, 0.0, 0.4, 0.2]),
        ly_groups=pl.Series([0, 0, 0, 40, 20]),
    )
    # a list of three: the two regulars, then the hot slot's place — which goes to the item in season
    out = select(slate, PicksConfig(n=3, hot_max=2))
    assert out["i"].to_list() == [0, 1, 4]
    assert out["seasonal_pick"].to_list() == [False, False, True]
    features = {k: v for k, v in BASE.items() if k not in out.columns}
    reasons = with_reasons(out.with_columns(**{k: pl.lit(v) for k, v in features.items()}))
    assert reasons["reason_code"][2] == "seasonal_own"
    assert reasons["reason"][2] == "your group ordered it on 2 days around this time last year"
    # without the rule (seasonal_max 0) the scores and quotas decide: the best hot item
    plain = select(slate, PicksConfig(n=3, hot_max=2, seasonal_max=0))
    assert plain["i"].to_list() == [0, 1, 2] and not plain["seasonal_pick"].any()


def test_back_in_season_needs_a_quiet_month_and_last_years_buyers():
    frame = pl.DataFrame({
        "i_groups_28": [0, 3, 0, 0, 0],
        "ly_own_days": [1, 1, 0, 0, None],
        "ly_groups": [5, 5, 40, 1, None],
        "ly_share": [0.05, 0.05, 0.4, 0.4, None],
    })
    got = frame.select(back_in_season(PicksConfig())).to_series().to_list()
    # own purchase then; sold in the last 4 weeks (not back: still selling); a notable share of the
    # groups; one group is not a share; no history a year back
    assert got == [True, False, True, False, False]


def test_not_interested_reads_the_groups_last_mark_as_the_api_does():
    """The API shows a product again once the shopkeeper's later mark is `posted` (the last mark wins,
    api.feedback_store.hidden); the nightly dropped it for 30 days whatever came after, so the two
    disagreed about the same list."""
    from types import SimpleNamespace

    from recsys.picks import apply_rules

    scored = pl.DataFrame({"g": [0] * 5, "i": [1, 2, 3, 4, 5], "own_days_30": [5] * 5,
                           "last_post_age": [None] * 5, "own_lines": [3] * 5,
                           "price": [1.0] * 5, "g_unit_price": [1.0] * 5})
    feedback = pl.DataFrame({"g": [0] * 8, "i": [1, 2, 2, 3, 4, 4, 5, 5],
                             "action": ["not_interested", "not_interested", "posted", "not_interested",
                                        "not_interested", "posted", "posted", "not_interested"],
                             "age": [3.0, 9.0, 2.0, 40.0, 1.0, 1.0, 1.0, 1.0]})
    kept = apply_rules(scored, SimpleNamespace(feedback=feedback), PicksConfig())
    # 1: refused 3 days ago; 2: refused, then posted since (back); 3: refused 40 days ago (expired);
    # 4 and 5: two marks of the same instant, the one read last counts (posted, then not interested)
    assert kept["i"].to_list() == [2, 3, 4]
