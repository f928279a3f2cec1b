"""The signal's aggregates, checked against a plain-Python count over the raw rows: the per-day
evidence, the exposures (posts answered by an order within the response window) and the orders of
members in their other groups. The aggregates come from the SQL definitions (common/definitions.py,
in-process DuckDB) and are encoded to rows here; these tests would catch a row that decodes to the
wrong group, product or day, or a signal read from a later aggregation that sees past its instant."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsys.signal import TZ, SignalConfig, build_signal, day_start, signal_source
from tests.recsys.world import make_world

CUTOFF = date(2024, 3, 25)


@pytest.fixture(scope="module")
def built():
    frames = make_world(groups=30, products=40, days=30, end=date(2024, 3, 31), seed=3)
    return frames, build_signal(frames, day_start(CUTOFF))


def _paid_before_cutoff(frames, signal):
    cutoff = signal.as_of
    known_items = set(signal.item_meta["product_id"])
    for row in frames["orders"].iter_rows(named=True):
        if row["status"] == "paid" and row["ordered_at"] < cutoff and row["product_id"] in known_items:
            yield row


def _row_ids(signal, frame):
    """(group_id, product_id) for each row of a frame with g / i columns."""
    gids = signal.groups.decode(frame["g"].to_numpy()).to_list()
    pids = signal.items.decode(frame["i"].to_numpy()).to_list()
    return list(zip(gids, pids, strict=True))


def test_daily_counts_lines_members_quantity_and_amount_per_day(built):
    frames, signal = built
    expect: dict[tuple, list] = defaultdict(lambda: [0, set(), 0, 0.0])
    for row in _paid_before_cutoff(frames, signal):
        age = (CUTOFF - row["ordered_at"].astimezone(TZ).date()).days
        acc = expect[(row["group_id"], row["product_id"], age)]
        acc[0] += 1
        acc[1].add(row["member_id"])
        acc[2] += row["quantity"]
        acc[3] += row["quantity"] * row["unit_price"]
    daily = signal.daily
    assert daily.height == len(expect) > 100
    assert daily["age"].min() >= 1
    assert daily.select("g", "i", "age").is_duplicated().sum() == 0
    assert daily.equals(daily.sort("g", "i", "age"))
    for (gid, pid), row in zip(_row_ids(signal, daily), daily.iter_rows(named=True), strict=True):
        lines, members, qty, amount = expect[(gid, pid, row["age"])]
        assert (row["lines"], row["members"], row["qty"]) == (lines, len(members), qty)
        assert row["amount"] == pytest.approx(amount)


def test_exposures_count_posts_and_the_ones_answered_within_the_window(built):
    frames, signal = built
    window = timedelta(days=SignalConfig().response_window_days)
    orders_at = defaultdict(list)
    for row in _paid_before_cutoff(frames, signal):
        orders_at[(row["group_id"], row["product_id"])].append(row["ordered_at"])
    known_items = set(signal.item_meta["product_id"])
    expect: dict[tuple, list] = defaultdict(lambda: [0, 0, float("inf"), 0])
    for post in frames["posts"].iter_rows(named=True):
        if post["posted_at"] >= signal.as_of or post["product_id"] not in known_items:
            continue
        key = (post["group_id"], post["product_id"])
        later = [t for t in orders_at[key] if t >= post["posted_at"]]
        age = (signal.as_of - post["posted_at"]).total_seconds() / 86400.0
        acc = expect[key]
        acc[0] += 1
        acc[1] += bool(later) and min(later) < post["posted_at"] + window
        acc[2] = min(acc[2], age)
        acc[3] += age <= 14
    exposures = signal.exposures
    assert exposures.height == len(expect) > 100
    assert exposures["responded"].sum() > 0
    for key, row in zip(_row_ids(signal, exposures), exposures.iter_rows(named=True), strict=True):
        posts, responded, last_age, recent = expect[key]
        assert (row["posts"], row["responded"], row["posts_recent"]) == (posts, responded, recent)
        assert row["last_post_age"] == pytest.approx(last_age)


def test_member_cross_counts_orders_placed_in_the_members_other_groups(built):
    frames, signal = built
    groups_of = defaultdict(set)
    for row in frames["memberships"].iter_rows(named=True):
        if row["joined_on"] <= CUTOFF:
            groups_of[row["member_id"]].add(row["group_id"])
    expect: dict[tuple, list] = defaultdict(lambda: [set(), 0.0])
    for row in _paid_before_cutoff(frames, signal):
        if len(groups_of[row["member_id"]]) < 2:
            continue
        age = (CUTOFF - row["ordered_at"].astimezone(TZ).date()).days
        for home in groups_of[row["member_id"]] - {row["group_id"]}:
            acc = expect[(home, row["product_id"])]
            acc[0].add(row["member_id"])
            acc[1] += 0.5 ** (age / 14.0)
    cross = signal.member_cross
    assert cross.height == len(expect) > 50
    for key, row in zip(_row_ids(signal, cross), cross.iter_rows(named=True), strict=True):
        members, weight = expect[key]
        assert row["cross_members"] == len(members)
        assert row["cross_weight"] == pytest.approx(weight)


def test_a_signal_read_from_a_later_source_is_the_signal_built_at_its_own_instant(built):
    """One aggregation up to the newest as-of serves a training's older folds: read at a day start
    before it, the evidence is that of the aggregates up to that day start (a post answered only
    after it is not answered yet, an order after it is not there)."""
    frames, _ = built
    source = signal_source(frames, day_start(CUTOFF + timedelta(days=5)))
    for back in (0, 3, 9):
        as_of = day_start(CUTOFF - timedelta(days=back))
        shared, alone = build_signal(frames, as_of, source=source), build_signal(frames, as_of)
        assert shared.daily.height > 0 and shared.exposures["responded"].sum() > 0
        for name in ("daily", "exposures", "member_cross", "feedback"):
            assert_frame_equal(getattr(shared, name).sort("g", "i"), getattr(alone, name).sort("g", "i"))
    with pytest.raises(ValueError, match="only that instant or a day start before it"):
        build_signal(frames, day_start(CUTOFF) + timedelta(hours=9), source=source)


def test_the_days_matrix_counts_order_days_per_group_and_item(built):
    _, signal = built
    d = signal.daily
    expected = d.group_by("g", "i").agg(pl.len().alias("days"))
    m = signal.matrix(half_life=None, value="days")
    got = [float(m[g, i]) for g, i in zip(expected["g"], expected["i"], strict=True)]
    assert got == [float(v) for v in expected["days"]]
    assert max(got) > 1  # a group that ordered an item on several days counts each day


def test_a_line_cancelled_only_after_the_instant_still_counts_as_paid_then(built):
    """What a nightly on the as-of date would have known: the line was paid then (its cancellation
    came later). Reading the final status lent the training a cancellation from its future: in the
    signal, and in the label windows of its folds."""
    from datetime import datetime

    from recsys.folds import relevant_pairs

    frames, before = built
    orders = frames["orders"].with_columns(day=pl.col("ordered_at").dt.convert_time_zone(str(TZ)).dt.date())
    recent = orders.filter((pl.col("status") == "paid") & (pl.col("ordered_at") < day_start(CUTOFF))
                           & (pl.col("ordered_at") >= day_start(CUTOFF - timedelta(days=3))))
    alone = recent.filter(pl.len().over("group_id", "product_id", "day") == 1)  # its pair's one line that day
    late = alone.row(0, named=True)
    early = recent.filter(pl.col("order_id") != late["order_id"]).row(0, named=True)
    after = pl.lit(datetime(2024, 3, 27, 12, tzinfo=TZ)).cast(orders.schema["status_at"])
    changed = frames["orders"].with_columns(
        status=pl.when(pl.col("order_id").is_in([late["order_id"], early["order_id"]]))
        .then(pl.lit("cancelled")).otherwise("status"),
        status_at=pl.when(pl.col("order_id") == late["order_id"]).then(after)
        .when(pl.col("order_id") == early["order_id"]).then(pl.col("ordered_at")).otherwise("status_at"))
    world = {**frames, "orders": changed}
    signal = build_signal(world, day_start(CUTOFF))
    assert int(signal.daily["lines"].sum()) == int(before.daily["lines"].sum()) - 1  # the early one only
    pair = (late["group_id"], late["product_id"])
    known = set(relevant_pairs(world, late["day"], 1, known_at=day_start(CUTOFF)).iter_rows())
    final = set(relevant_pairs(world, late["day"], 1).iter_rows())  # what an evaluation scores against
    assert pair in known and pair not in final



def test_an_order_before_a_products_launched_on_keeps_the_product_and_its_orders(built):
    """An export that writes the day a product was listed (or migrated) as `launched_on`, after its
    first orders, lost every such order and the whole catalogue without a word (evaluate: 0 groups'
    worth of products, every model 0.0000). An order proves the product was on sale."""
    frames, signal = built
    late = {**frames, "products": frames["products"].with_columns(launched_on=pl.lit(date(2024, 6, 1)))}
    moved = build_signal(late, day_start(CUTOFF))
    assert_frame_equal(moved.daily, signal.daily)
    ordered = set(signal.items.decode(signal.daily["i"].unique().to_numpy()))
    assert set(moved.item_meta["product_id"]) >= ordered
    # its launch is its first order's day (a product sold for weeks is not "new")
    first = moved.daily.group_by("i").agg(pl.col("age").max()).join(moved.item_meta, on="i")
    age = (pl.lit(CUTOFF) - pl.col("launched_on")).dt.total_days()
    assert first.select((age == pl.col("age")).all()).item(), first.head()
